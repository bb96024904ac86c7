package auth

import (
	"net/http"
	"strings"
	"time"

	"github.com/authgate/gateway/config"
)

// cookieJar writes and reads the gateway's two cookies. Both are HttpOnly,
// so page scripts can never read a token, and scoped to the whole origin:
// the refresh cookie must reach the edge on every request so that an
// expired access cookie can be refreshed transparently.
type cookieJar struct {
	access, refresh string
	secure          bool
	domain          string
	sameSite        http.SameSite
}

func newCookieJar(c config.Cookies) cookieJar {
	j := cookieJar{access: c.AccessName, refresh: c.RefreshName, secure: c.Secure, domain: c.Domain}
	// __Host- binds the cookie to this exact origin over HTTPS: a sibling
	// subdomain or a plain-HTTP attacker cannot overwrite it (cookie
	// tossing). It requires Secure, Path=/ and no Domain.
	if c.Secure && c.Domain == "" {
		j.access, j.refresh = "__Host-"+j.access, "__Host-"+j.refresh
	}
	switch strings.ToLower(c.SameSite) {
	case "strict":
		j.sameSite = http.SameSiteStrictMode
	case "none":
		j.sameSite = http.SameSiteNoneMode
	default:
		j.sameSite = http.SameSiteLaxMode
	}
	return j
}

func (j cookieJar) cookie(name, value string, expires time.Time, now time.Time) *http.Cookie {
	c := &http.Cookie{ // #nosec G124 -- Secure follows cookies.secure (default true; false only for plain-HTTP development)
		Name:     name,
		Value:    value,
		Path:     "/",
		Domain:   j.domain,
		Secure:   j.secure,
		HttpOnly: true,
		SameSite: j.sameSite,
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		// Rounded up: an access token's exp is a whole second (its iat is
		// truncated), so rounding down would make the cookie die up to a
		// second before the token, and with a one-second access_ttl
		// (Max-Age=0) before it was ever sent back.
		left := expires.Sub(now)
		c.MaxAge = int((left + time.Second - 1) / time.Second)
		if left <= 0 {
			c.MaxAge = -1
		}
	}
	return c
}

// set writes both cookies for a fresh token pair.
func (j cookieJar) set(w http.ResponseWriter, p *Pair, now time.Time) {
	h := w.Header()
	h.Add("Set-Cookie", j.cookie(j.access, p.AccessToken, p.AccessExpires, now).String())
	h.Add("Set-Cookie", j.cookie(j.refresh, p.RefreshToken, p.RefreshExpires, now).String())
	// Responses that set credentials must never be stored by a cache.
	h.Set("Cache-Control", "no-store")
}

// clear expires both cookies.
func (j cookieJar) clear(w http.ResponseWriter) {
	h := w.Header()
	h.Add("Set-Cookie", j.cookie(j.access, "", time.Time{}, time.Time{}).String())
	h.Add("Set-Cookie", j.cookie(j.refresh, "", time.Time{}, time.Time{}).String())
	h.Set("Cache-Control", "no-store")
}

// read returns the values of the access and refresh cookies of r. Only the
// exact configured names count: a cookie whose name differs in case or
// prefix is someone else's.
func (j cookieJar) read(r *http.Request) (access, refresh string) {
	for _, c := range r.Cookies() {
		switch c.Name {
		case j.access:
			access = c.Value
		case j.refresh:
			refresh = c.Value
		}
	}
	return access, refresh
}
