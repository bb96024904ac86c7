package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/authgate/gateway/config"
)

// healthcheckTimeout bounds one probe: connecting, TLS and the answer.
const healthcheckTimeout = 3 * time.Second

// defaultHealthcheckURL is probed when neither --url nor a configuration
// says otherwise.
const defaultHealthcheckURL = "http://127.0.0.1:8080/healthz"

// newHealthcheckCommand is `gateway healthcheck`: exit 0 when /healthz
// answers 200, 1 otherwise. It exists so that a distroless image (no shell,
// no curl) can have a Docker HEALTHCHECK.
func newHealthcheckCommand(e *env) *cobra.Command {
	var configFile, rawURL string
	cmd := &cobra.Command{
		Use:   "healthcheck [--url URL | --config FILE]",
		Short: "Probe the gateway's /healthz: exit 0 on 200, 1 otherwise",
		Long: "healthcheck sends GET /healthz and exits 0 when the answer is 200, 1 on any\n" +
			"other status, a connection error or after 3 s. Without --url the address is\n" +
			"derived from the configuration serve would use (--config, ./gateway.yaml and\n" +
			"GATEWAY_*): server.addr on loopback, over HTTPS when server.tls is set (the\n" +
			"configured certificate is accepted as is, any other must verify against the\n" +
			"system roots).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target := rawURL
			var tlsConf *tls.Config
			if target == "" {
				cfg, err := config.Load(configFile, e.environ)
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				if target, tlsConf, err = healthcheckTarget(&cfg.Server); err != nil {
					return &exitError{code: 1, err: err}
				}
			}
			if err := probeHealth(cmd.Context(), target, tlsConf, healthcheckTimeout); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("healthcheck: %w", err)}
			}
			fmt.Fprintln(e.stdout, "ok")
			return nil
		},
	}
	cmd.Flags().StringVar(&rawURL, "url", "", "URL to probe (default "+defaultHealthcheckURL+", or derived from the configuration)")
	cmd.Flags().StringVar(&configFile, "config", "", "YAML configuration file whose server.addr and server.tls are probed (default ./gateway.yaml if present)")
	return cmd
}

// healthcheckTarget derives the /healthz URL of the public listener from
// srv: its port on loopback when it listens on every interface, else its
// host. With TLS it returns a client configuration that accepts the
// configured certificate (a loopback address is never its name) and
// otherwise verifies against the system roots.
func healthcheckTarget(srv *config.Server) (string, *tls.Config, error) {
	host, port, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		return "", nil, fmt.Errorf("healthcheck: server.addr %q: %w", srv.Addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	scheme := "http"
	var tlsConf *tls.Config
	if srv.TLS.Enabled() {
		scheme = "https"
		tlsConf = pinnedTLSConfig(srv.TLS.CertFile, host)
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port), Path: "/healthz"}
	return u.String(), tlsConf, nil
}

// pinnedTLSConfig accepts the leaf certificate of certFile as it is, and any
// other certificate that verifies for serverName against the system roots.
func pinnedTLSConfig(certFile, serverName string) *tls.Config {
	var pinned []byte
	if data, err := os.ReadFile(certFile); err == nil { // #nosec G304 -- the operator's server.tls.cert_file
		if block, _ := pem.Decode(data); block != nil && block.Type == "CERTIFICATE" {
			pinned = block.Bytes
		}
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		// Verification is done below: the pinned certificate, or the usual
		// chain and name check against the system roots.
		InsecureSkipVerify: true, // #nosec G402 -- VerifyConnection below checks the pinned certificate, else chain and name
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			leaf := cs.PeerCertificates[0]
			if pinned != nil && string(leaf.Raw) == string(pinned) {
				return nil
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := leaf.Verify(x509.VerifyOptions{DNSName: serverName, Roots: roots, Intermediates: inter})
			return err
		},
	}
}

// probeHealth GETs target and returns nil only for a 200 answer within
// timeout. Redirects are not followed.
func probeHealth(ctx context.Context, target string, tlsConf *tls.Config, timeout time.Duration) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid URL %q: want http(s)://host[:port]/path", target)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // a probe of our own process never goes through a proxy
	transport.DisableKeepAlives = true
	if tlsConf != nil {
		transport.TLSClientConfig = tlsConf
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport:     transport,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "gateway-healthcheck")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", u.Redacted(), resp.Status)
	}
	return nil
}
