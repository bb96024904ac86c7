package auth

import (
	"net/http"
	"testing"

	"github.com/authgate/gateway/config"
)

// FuzzCookieRead (issue 7): the gateway's cookies are read only under their
// exact configured names, as net/http parses the Cookie header, whatever
// else the header holds. Seeds: the lines of TestCookieRead.
func FuzzCookieRead(f *testing.F) {
	for _, s := range []string{"__Host-gw_access=A; __Host-gw_refresh=R", "theme=dark; __Host-gw_refresh=R; lang=en",
		"gw_access=A; gw_refresh=R", "__host-gw_access=A; __Host-GW_REFRESH=R", "__Host-gw_access=A", "",
		"gw_access_old=A; xgw_refresh=R", "__Host-gw_access=A; __Host-gw_access=B", `__Host-gw_access="A"`, "=__Host-gw_access=A"} {
		f.Add(s)
	}
	jar := newCookieJar(config.Cookies{Secure: true, AccessName: "gw_access", RefreshName: "gw_refresh"})
	f.Fuzz(func(t *testing.T, line string) {
		r := &http.Request{Header: http.Header{"Cookie": {line}}}
		access, refresh := jar.read(r)
		for _, c := range []struct{ name, got string }{{jar.access, access}, {jar.refresh, refresh}} {
			if c.got == "" {
				continue
			}
			found := false
			for _, ck := range r.Cookies() {
				found = found || ck.Name == c.name && ck.Value == c.got
			}
			if !found {
				t.Fatalf("read %q from %q, which net/http does not parse as a cookie of that name", c.got, line)
			}
			for i := 0; i < len(c.got); i++ {
				// net/http lets space and ',' through (RFC 6265 section
				// 4.1.1 does not; browsers do); the token check refuses
				// such values anyway.
				if b := c.got[i]; b < ' ' || b == ';' || b == '"' || b == '\\' || b >= 0x7f {
					t.Fatalf("cookie value %q contains byte %q", c.got, b)
				}
			}
		}
	})
}
