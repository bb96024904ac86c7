package main

// Issue 9, the FastAPI example (deploy/examples/fastapi) run for real: its
// app under uvicorn behind real gateways, in both of its trust modes, and
// called directly (bypassing the gateway) with forged identities. It needs a
// Python 3 that imports fastapi, uvicorn, jwt (PyJWT) and cryptography: on
// Debian, the python3-fastapi, python3-uvicorn, python3-jwt and
// python3-cryptography packages (PyPI is not reachable from CI).

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/internal/testenv"
)

// fastapiExample is the example's directory, from cmd/gateway.
var fastapiExample = filepath.Join("..", "..", "deploy", "examples", "fastapi")

// requireFastAPI returns a python3 that has the example's dependencies, or
// skips t (fails it when GATEWAY_TEST_REQUIRE_SERVICES is set).
func requireFastAPI(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, name := range []string{"/usr/bin/python3", "python3"} {
		py, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		out, err := exec.Command(py, "-c", "import fastapi, uvicorn, jwt, cryptography").CombinedOutput()
		if err == nil {
			return py
		}
		tried = append(tried, fmt.Sprintf("%s: %s", py, bytes.TrimSpace(out)))
	}
	testenv.Unavailable(t, fmt.Sprintf("no python3 with fastapi, uvicorn, jwt and cryptography (Debian: python3-fastapi python3-uvicorn python3-jwt python3-cryptography); tried %q", tried))
	return ""
}

// uvicorn is the example app running on a port of its own.
type uvicorn struct {
	URL string
	out *testenv.Buffer
}

// startUvicorn runs the example app on port with env (GATEWAY_* settings)
// and waits until it answers; it is stopped at t's cleanup.
func startUvicorn(t *testing.T, py string, port int, env ...string) *uvicorn {
	t.Helper()
	cmd := exec.Command(py, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--no-access-log", "--no-proxy-headers") // as the example's README runs it
	cmd.Dir = fastapiExample
	cmd.Env = append(os.Environ(), append([]string{"PYTHONDONTWRITEBYTECODE=1"}, env...)...)
	u := &uvicorn{URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	u.out = startProcess(t, "uvicorn "+u.URL, cmd, 5*time.Second, answersOK(http.Get, u.URL+"/api/health"))
	return u
}

// direct calls the backend itself, bypassing the gateway.
func (u *uvicorn) direct(t *testing.T, path string, header map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(res.Body)
	return res.StatusCode, body.Bytes()
}

// itemsAnswer is GET /api/items of the example.
type itemsAnswer struct {
	Items    []map[string]any `json:"items"`
	Identity *backendIdentity `json:"identity"`
}

func decodeItems(t *testing.T, body []byte) itemsAnswer {
	t.Helper()
	var a itemsAnswer
	if err := json.Unmarshal(body, &a); err != nil || a.Identity == nil {
		t.Fatalf("GET /api/items: no identity (%v): %s", err, body)
	}
	return a
}

func TestFastAPIExample(t *testing.T) {
	py := requireFastAPI(t)
	d := newDeployment(t, backendSQLite)
	policy := repoPolicy(t)

	// Each backend behind its own gateway instance (one deployment: the
	// same users and keys). The gateway's URL is only known once it
	// listens, and the assertion backend needs it for the JWKS, so the
	// gateways start first, in front of ports the backends then take.
	type setup struct {
		name string
		port int
		gw   *instance
		env  []string
	}
	setups := []*setup{
		{name: "assertion", env: []string{"GATEWAY_AUTH_MODE=assertion"}},
		{name: "headers", env: []string{"GATEWAY_AUTH_MODE=headers"}},
		// The gateway is not among the trusted peers: refused.
		{name: "headers, gateway not a peer", env: []string{"GATEWAY_AUTH_MODE=headers", "GATEWAY_PEERS=192.0.2.0/24"}},
	}
	for _, s := range setups {
		s.port = testenv.FreePort(t)
		s.gw = d.start(t, func(c *config.Config) {
			c.Upstreams = []config.Upstream{{Name: "api", Prefix: "/api", URL: fmt.Sprintf("http://127.0.0.1:%d", s.port), Timeout: 10 * time.Second}}
			withPolicy(policy)(c)
		})
	}
	backends := make([]*uvicorn, len(setups))
	for i, s := range setups {
		backends[i] = startUvicorn(t, py, s.port,
			append(s.env, "GATEWAY_URL="+s.gw.URL, "GATEWAY_ISSUER="+s.gw.cfg.IssuerOrDefault(), "GATEWAY_UPSTREAM=api")...)
	}
	assertion, headers, notPeer := setups[0], setups[1], setups[2]

	erin := assertion.gw.register(t, "erin")
	tk := assertion.gw.login(t, erin)
	sid, _ := jwtPart(t, tk.Access, 1)["sid"].(string)

	t.Run("public route", func(t *testing.T) {
		r := assertion.gw.get(t, "/api/health", "")
		r.wantStatus(t, http.StatusOK)
	})

	wantIdentity := func(t *testing.T, got *backendIdentity) {
		t.Helper()
		if got.UserID != erin.ID || got.Email != erin.Email || len(got.Roles) != 1 || got.Roles[0] != "user" ||
			got.SessionID != sid || got.RequestID == "" {
			t.Errorf("the backend saw %+v; want user %s, %s, roles [user], session %s and a request id", *got, erin.ID, erin.Email, sid)
		}
	}

	t.Run("assertion mode through the gateway", func(t *testing.T) {
		r := assertion.gw.get(t, "/api/items", tk.Access)
		r.wantStatus(t, http.StatusOK)
		wantIdentity(t, decodeItems(t, r.body).Identity)
		// Anonymous: the gateway refuses before the backend.
		assertion.gw.get(t, "/api/items", "").wantStatus(t, http.StatusUnauthorized)
		// Creating an item (bearer: no CSRF question).
		c := assertion.gw.send(t, request{method: http.MethodPost, path: "/api/items", bearer: tk.Access, json: map[string]any{"name": "first"}})
		c.wantStatus(t, http.StatusCreated)
		if owner := c.object(t)["owner"]; owner != erin.ID {
			t.Errorf("the item's owner is %v, want %s", owner, erin.ID)
		}
	})

	t.Run("assertion mode refuses what did not come through the gateway", func(t *testing.T) {
		be := backends[0]
		priv, kid := d.signingKey(t)
		iss := assertion.gw.cfg.IssuerOrDefault()
		now := time.Now()
		claims := func(aud string) map[string]any {
			return map[string]any{"iss": iss, "aud": []string{aud}, "sub": erin.ID, "sid": sid, "email": erin.Email,
				"roles": []string{"user"}, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
		}
		header := map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kid}
		gatewaySigned := func(h, c map[string]any) string {
			return signJWS(t, h, c, func(in []byte) []byte { return ed25519.Sign(priv, in) })
		}
		_, foreign, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		valid := gatewaySigned(header, claims("api"))
		d.secret(valid)
		identity := map[string]string{"X-Auth-User-Id": erin.ID, "X-Auth-User-Email": erin.Email,
			"X-Auth-User-Roles": "user", "X-Auth-Session-Id": sid}
		with := func(extra map[string]string) map[string]string {
			m := map[string]string{}
			for k, v := range identity {
				m[k] = v
			}
			for k, v := range extra {
				m[k] = v
			}
			return m
		}
		tests := []struct {
			name   string
			header map[string]string
			want   int
		}{
			{"identity headers alone", identity, http.StatusUnauthorized},
			{"the access token as assertion (typ at+jwt)", with(map[string]string{"X-Auth-Assertion": tk.Access}), http.StatusUnauthorized},
			{"signed by another key under the gateway's kid", with(map[string]string{"X-Auth-Assertion": signJWS(t, header, claims("api"),
				func(in []byte) []byte { return ed25519.Sign(foreign, in) })}), http.StatusUnauthorized},
			{"for another upstream (aud)", with(map[string]string{"X-Auth-Assertion": gatewaySigned(header, claims("web"))}), http.StatusUnauthorized},
			{"alg none", with(map[string]string{"X-Auth-Assertion": signJWS(t, map[string]any{"alg": "none", "typ": "JWT", "kid": kid}, claims("api"), nil)}), http.StatusUnauthorized},
			{"headers naming someone else", with(map[string]string{"X-Auth-Assertion": valid, "X-Auth-User-Id": "00000000-0000-0000-0000-000000000000"}), http.StatusUnauthorized},
			{"roles the assertion does not give", with(map[string]string{"X-Auth-Assertion": valid, "X-Auth-User-Roles": "user,admin"}), http.StatusUnauthorized},
			{"garbage", with(map[string]string{"X-Auth-Assertion": "not.a.jwt"}), http.StatusUnauthorized},
			// The control: what the gateway itself would send passes, so
			// the refusals above are for the reasons they name.
			{"a genuine assertion with its headers", with(map[string]string{"X-Auth-Assertion": valid}), http.StatusOK},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, body := be.direct(t, "/api/items", tt.header)
				if status != tt.want {
					t.Fatalf("status %d, want %d: %s", status, tt.want, body)
				}
			})
		}
	})

	t.Run("headers mode through the gateway", func(t *testing.T) {
		r := headers.gw.get(t, "/api/items", tk.Access)
		r.wantStatus(t, http.StatusOK)
		wantIdentity(t, decodeItems(t, r.body).Identity)
	})

	t.Run("headers mode refuses a peer that is not the gateway", func(t *testing.T) {
		r := notPeer.gw.get(t, "/api/items", tk.Access)
		if r.status != http.StatusForbidden {
			t.Fatalf("status %d, want 403 from the backend: %s", r.status, r.body)
		}
	})
}
