package main

// Tests of `gateway healthcheck`, run in-process through newRootCommand
// against httptest servers.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
)

// runHealthcheck runs `gateway healthcheck args...` as main would and
// returns its exit status and output.
func runHealthcheck(t *testing.T, environ []string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCommand(&out, &out, environ)
	root.SetArgs(append([]string{"healthcheck"}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	if err != nil {
		out.WriteString(err.Error())
		return exitCode(err), out.String()
	}
	return 0, out.String()
}

func healthServer(t *testing.T, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHealthcheckURL(t *testing.T) {
	ok := healthServer(t, http.StatusOK)
	down := healthServer(t, http.StatusServiceUnavailable)
	closed := healthServer(t, http.StatusOK)
	closedURL := closed.URL
	closed.Close()

	for _, tc := range []struct {
		name string
		url  string
		want int
	}{
		{"200", ok.URL + "/healthz", 0},
		{"503", down.URL + "/healthz", 1},
		{"404", ok.URL + "/nothing", 1},
		{"closed", closedURL + "/healthz", 1},
		{"not a URL", "ftp://x/healthz", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runHealthcheck(t, nil, "--url", tc.url)
			if code != tc.want {
				t.Fatalf("exit %d, want %d; output: %s", code, tc.want, out)
			}
		})
	}
}

func TestHealthcheckTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	err := probeHealth(context.Background(), srv.URL+"/healthz", nil, 200*time.Millisecond)
	if err == nil {
		t.Fatal("a hanging server passed the probe")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("probe took %v with a 200ms timeout", d)
	}
}

// TestHealthcheckFromConfig derives the URL from server.addr of --config and
// from GATEWAY_SERVER_ADDR, as the Docker HEALTHCHECK does in a container
// configured by environment.
func TestHealthcheckFromConfig(t *testing.T) {
	ok := healthServer(t, http.StatusOK)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ok.URL, "http://"))
	dir := t.TempDir()
	file := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(file, []byte("server:\n  addr: \":"+port+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runHealthcheck(t, nil, "--config", file); code != 0 {
		t.Fatalf("--config with addr :%s: exit %d: %s", port, code, out)
	}
	if code, out := runHealthcheck(t, []string{"GATEWAY_SERVER_ADDR=127.0.0.1:" + port}, "--config", filepath.Join(dir, "missing.yaml")); code != 1 {
		t.Fatalf("missing config file: exit %d, want 1: %s", code, out)
	}
	t.Chdir(dir) // no ./gateway.yaml here after the rename below
	if err := os.Rename(file, filepath.Join(dir, "other.yaml")); err != nil {
		t.Fatal(err)
	}
	if code, out := runHealthcheck(t, []string{"GATEWAY_SERVER_ADDR=127.0.0.1:" + port}); code != 0 {
		t.Fatalf("GATEWAY_SERVER_ADDR: exit %d: %s", code, out)
	}
	down := healthServer(t, http.StatusServiceUnavailable)
	_, downPort, _ := net.SplitHostPort(strings.TrimPrefix(down.URL, "http://"))
	if code, out := runHealthcheck(t, []string{"GATEWAY_SERVER_ADDR=:" + downPort}); code != 1 {
		t.Fatalf("503 from the configured address: exit %d, want 1: %s", code, out)
	}
}

// TestHealthcheckTLS probes a TLS listener configured with a certificate the
// system roots do not know: the configured certificate is accepted, another
// one is not.
func TestHealthcheckTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	write := func(cert []byte) {
		t.Helper()
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert})
		if err := os.WriteFile(certFile, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srvCfg := config.Server{Addr: ":" + port, TLS: config.TLS{CertFile: certFile, KeyFile: filepath.Join(dir, "key.pem")}}

	write(srv.Certificate().Raw)
	target, tlsConf, err := healthcheckTarget(&srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(target, "https://127.0.0.1:") {
		t.Fatalf("target %q, want https on loopback", target)
	}
	if err := probeHealth(context.Background(), target, tlsConf, healthcheckTimeout); err != nil {
		t.Fatalf("configured certificate refused: %v", err)
	}

	write(selfSignedCert(t)) // the server presents a certificate nobody vouches for
	_, tlsConf, _ = healthcheckTarget(&srvCfg)
	if err := probeHealth(context.Background(), target, tlsConf, healthcheckTimeout); err == nil {
		t.Fatal("an unknown certificate passed the probe")
	}
	// Plain --url https uses the system roots only.
	if code, out := runHealthcheck(t, nil, "--url", srv.URL+"/healthz"); code != 1 {
		t.Fatalf("--url with an untrusted certificate: exit %d, want 1: %s", code, out)
	}
}

// selfSignedCert returns a new certificate for 127.0.0.1 (DER), unknown to
// every pool. (Every httptest TLS server presents the same one.)
func selfSignedCert(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "other"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestHealthcheckTargetAddr(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/healthz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/healthz",
		"[::]:8080":      "http://[::1]:8080/healthz",
		"10.1.2.3:8080":  "http://10.1.2.3:8080/healthz",
		"localhost:8443": "http://localhost:8443/healthz",
	} {
		got, _, err := healthcheckTarget(&config.Server{Addr: addr})
		if err != nil || got != want {
			t.Errorf("addr %q: %q, %v; want %q", addr, got, err, want)
		}
	}
	def := config.Default()
	if got, _, _ := healthcheckTarget(&def.Server); got != defaultHealthcheckURL {
		t.Errorf("default server: %q, want %q", got, defaultHealthcheckURL)
	}
}
