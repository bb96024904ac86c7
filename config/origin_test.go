package config

import (
	"strings"
	"testing"
)

func TestNormalizeOrigin(t *testing.T) {
	tests := []struct {
		in, want string
		err      string // part of the error; "" when in is an origin
	}{
		{in: "https://app.example.com", want: "https://app.example.com"},
		{in: "http://app.example.com/", want: "http://app.example.com"},
		{in: "HTTP://App.Example.COM", want: "http://app.example.com"},
		{in: "http://app.example.com:80", want: "http://app.example.com"},
		{in: "https://app.example.com:443/", want: "https://app.example.com"},
		{in: "http://app.example.com:443", want: "http://app.example.com:443"},
		{in: "https://app.example.com:8443", want: "https://app.example.com:8443"},
		{in: "http://localhost:03000", want: "http://localhost:3000"},
		{in: "http://127.0.0.1:5173", want: "http://127.0.0.1:5173"},
		{in: "http://[::1]:8080", want: "http://[::1]:8080"},
		{in: "https://[2001:DB8:0:0::1]:443", want: "https://[2001:db8::1]"},
		{in: "http://app.example.com/app", err: "path"},
		{in: "http://app.example.com//", err: "path"},
		{in: "http://app.example.com/?x=1", err: "query"},
		{in: "http://app.example.com?", err: "query"},
		{in: "http://app.example.com#top", err: "fragment"},
		{in: "http://app.example.com/#", err: "fragment"},
		{in: "http://user:pw@app.example.com", err: "user information"},
		{in: "http://@app.example.com", err: "user information"},
		{in: "ftp://app.example.com", err: "http or https"},
		{in: "chrome-extension://abcdef", err: "http or https"},
		{in: "app.example.com", err: "scheme://host"},
		{in: "localhost:3000", err: "scheme://host"},
		{in: "http:app.example.com", err: "scheme://host"},
		{in: "*", err: "scheme://host"},
		{in: "null", err: "scheme://host"},
		{in: "", err: "scheme://host"},
		{in: "http://", err: "no host"},
		{in: "http://:8080", err: "no host"},
		{in: "http://app.example.com:", err: "port is empty"},
		{in: "http://app.example.com:0", err: "invalid port"},
		{in: "http://app.example.com:65536", err: "invalid port"},
		{in: "http://bücher.example", err: "punycode"},
		{in: "http://[fe80::1%25eth0]", err: "IPv6"},
		{in: "http://app.example.com%2f.evil", err: "scheme://host"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeOrigin(tt.in)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("NormalizeOrigin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				// Idempotent: the normal form is its own normal form.
				if again, err := NormalizeOrigin(got); err != nil || again != got {
					t.Errorf("NormalizeOrigin(%q) = %q, %v; want it unchanged", got, again, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("NormalizeOrigin(%q) = %q, %v; want an error about %q", tt.in, got, err, tt.err)
			}
		})
	}
}

// TestValidateOrigins checks that Validate accepts exactly what the
// gateway uses (CORS.Origins) and names the key of what it refuses, so
// that `serve --config-test` catches an origin `serve` would stop on.
func TestValidateOrigins(t *testing.T) {
	cfg := Default()
	cfg.CORS.AllowedOrigins = []string{"HTTP://App.Example.com:80/", "https://a.example/#x", "https://b.example/app", "https://ok.example"}
	p := problemsOf(t, cfg.Validate())
	for _, want := range []string{"cors.allowed_origins[1]", "cors.allowed_origins[2]"} {
		if !hasProblem(p, want, "is not an origin") {
			t.Errorf("problems = %q, want one for %s", p, want)
		}
	}
	for _, key := range []string{"cors.allowed_origins[0]", "cors.allowed_origins[3]"} {
		if hasProblem(p, key, "") {
			t.Errorf("problems = %q, want none for %s", p, key)
		}
	}
	if got := cfg.CORS.Origins(); got[0] != "http://app.example.com" || got[3] != "https://ok.example" {
		t.Errorf("Origins() = %q", got)
	}
}
