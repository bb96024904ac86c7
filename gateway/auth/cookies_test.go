package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
)

func TestCookieNames(t *testing.T) {
	cases := []struct {
		name                string
		cfg                 config.Cookies
		wantAccess, wantRef string
		wantSameSite        http.SameSite
	}{
		{"secure, host-only: __Host- prefix", config.Cookies{Secure: true, SameSite: "lax", AccessName: "gw_access", RefreshName: "gw_refresh"},
			"__Host-gw_access", "__Host-gw_refresh", http.SameSiteLaxMode},
		{"secure with a domain: no prefix (__Host- forbids Domain)", config.Cookies{Secure: true, Domain: "example.com", SameSite: "strict", AccessName: "a", RefreshName: "r"},
			"a", "r", http.SameSiteStrictMode},
		{"plain HTTP: no prefix (__Host- requires Secure)", config.Cookies{SameSite: "none", AccessName: "gw_access", RefreshName: "gw_refresh"},
			"gw_access", "gw_refresh", http.SameSiteNoneMode},
		{"same_site in upper case", config.Cookies{SameSite: "STRICT", AccessName: "a", RefreshName: "r"}, "a", "r", http.SameSiteStrictMode},
		{"same_site empty: lax", config.Cookies{AccessName: "a", RefreshName: "r"}, "a", "r", http.SameSiteLaxMode},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newCookieJar(tc.cfg)
			if j.access != tc.wantAccess || j.refresh != tc.wantRef || j.sameSite != tc.wantSameSite {
				t.Errorf("names %q %q, SameSite %v; want %q %q, %v", j.access, j.refresh, j.sameSite, tc.wantAccess, tc.wantRef, tc.wantSameSite)
			}
		})
	}
}

// parseSetCookies reads the Set-Cookie lines of a recorded answer.
func parseSetCookies(t *testing.T, w *httptest.ResponseRecorder) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, c := range w.Result().Cookies() {
		if _, dup := out[c.Name]; dup {
			t.Errorf("cookie %s set twice", c.Name)
		}
		out[c.Name] = c
	}
	return out
}

func TestCookieSet(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 250e6, time.UTC) // a quarter past the second
	cases := []struct {
		name          string
		cfg           config.Cookies
		accessExpires time.Time
		wantAccessAge int
		wantRefAge    int
	}{
		// An access token's exp is a whole second; a cookie that rounded
		// down would expire before the token, with a one-second
		// access_ttl at once (Max-Age=0).
		{"one-second access TTL", config.Cookies{AccessName: "gw_access", RefreshName: "gw_refresh"},
			now.Truncate(time.Second).Add(time.Second), 1, 7 * 24 * 3600},
		{"fifteen minutes", config.Cookies{AccessName: "gw_access", RefreshName: "gw_refresh"},
			now.Truncate(time.Second).Add(15 * time.Minute), 15 * 60, 7 * 24 * 3600},
		{"whole seconds", config.Cookies{AccessName: "gw_access", RefreshName: "gw_refresh"},
			now.Add(2 * time.Second), 2, 7 * 24 * 3600},
		{"secure, with a domain", config.Cookies{Secure: true, Domain: "example.com", AccessName: "gw_access", RefreshName: "gw_refresh"},
			now.Add(time.Minute), 60, 7 * 24 * 3600},
		{"already expired: removed, not kept", config.Cookies{AccessName: "gw_access", RefreshName: "gw_refresh"},
			now.Add(-time.Second), -1, 7 * 24 * 3600},
		{"expiring right now", config.Cookies{AccessName: "gw_access", RefreshName: "gw_refresh"},
			now, -1, 7 * 24 * 3600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newCookieJar(tc.cfg)
			w := httptest.NewRecorder()
			j.set(w, &Pair{AccessToken: "AT", AccessExpires: tc.accessExpires, RefreshToken: "RT",
				RefreshExpires: now.Add(7 * 24 * time.Hour)}, now)
			got := parseSetCookies(t, w)
			if len(got) != 2 {
				t.Fatalf("set %d cookies, want 2: %v", len(got), w.Header()["Set-Cookie"])
			}
			for name, want := range map[string]struct {
				value string
				age   int
			}{j.access: {"AT", tc.wantAccessAge}, j.refresh: {"RT", tc.wantRefAge}} {
				c := got[name]
				if c == nil {
					t.Fatalf("no cookie %s", name)
				}
				if want.age < 0 {
					if c.MaxAge >= 0 {
						t.Errorf("%s Max-Age %d, want the cookie removed", name, c.MaxAge)
					}
				} else if c.Value != want.value || c.MaxAge != want.age {
					t.Errorf("%s = %q Max-Age %d, want %q Max-Age %d", name, c.Value, c.MaxAge, want.value, want.age)
				}
				if !c.HttpOnly || c.Path != "/" || c.Secure != tc.cfg.Secure || c.Domain != tc.cfg.Domain || c.SameSite != j.sameSite {
					t.Errorf("%s attributes: HttpOnly %v Path %q Secure %v Domain %q SameSite %v", name, c.HttpOnly, c.Path, c.Secure, c.Domain, c.SameSite)
				}
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		})
	}
}

func TestCookieClear(t *testing.T) {
	for _, cfg := range []config.Cookies{
		{Secure: true, AccessName: "gw_access", RefreshName: "gw_refresh"},
		{Secure: true, Domain: "example.com", SameSite: "strict", AccessName: "gw_access", RefreshName: "gw_refresh"},
		{AccessName: "gw_access", RefreshName: "gw_refresh"},
	} {
		j := newCookieJar(cfg)
		w := httptest.NewRecorder()
		j.clear(w)
		got := parseSetCookies(t, w)
		for _, name := range []string{j.access, j.refresh} {
			c := got[name]
			if c == nil {
				t.Fatalf("%+v: %s not cleared", cfg, name)
			}
			// A browser replaces a cookie only with one of the same name,
			// path and domain (and Secure, for a __Host- one).
			if c.Value != "" || c.MaxAge >= 0 || c.Path != "/" || c.Domain != cfg.Domain || c.Secure != cfg.Secure || !c.HttpOnly {
				t.Errorf("%+v: clearing %s: value %q Max-Age %d Path %q Domain %q Secure %v", cfg, name, c.Value, c.MaxAge, c.Path, c.Domain, c.Secure)
			}
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
	}
}

func TestCookieRead(t *testing.T) {
	secure := newCookieJar(config.Cookies{Secure: true, AccessName: "gw_access", RefreshName: "gw_refresh"})
	plain := newCookieJar(config.Cookies{AccessName: "gw_access", RefreshName: "gw_refresh"})
	cases := []struct {
		name                    string
		jar                     cookieJar
		cookie                  string // the Cookie header
		wantAccess, wantRefresh string
	}{
		{"both, prefixed", secure, "__Host-gw_access=A; __Host-gw_refresh=R", "A", "R"},
		{"among other cookies", secure, "theme=dark; __Host-gw_refresh=R; lang=en", "", "R"},
		{"unprefixed names are someone else's", secure, "gw_access=A; gw_refresh=R", "", ""},
		{"other case is someone else's", secure, "__host-gw_access=A; __Host-GW_REFRESH=R", "", ""},
		{"plain names", plain, "gw_access=A; gw_refresh=R", "A", "R"},
		{"prefixed names under plain config", plain, "__Host-gw_access=A", "", ""},
		{"none", plain, "", "", ""},
		{"name prefix only", plain, "gw_access_old=A; xgw_refresh=R", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.cookie != "" {
				r.Header.Set("Cookie", tc.cookie)
			}
			a, rf := tc.jar.read(r)
			if a != tc.wantAccess || rf != tc.wantRefresh {
				t.Errorf("read %q %q, want %q %q", a, rf, tc.wantAccess, tc.wantRefresh)
			}
		})
	}
}
