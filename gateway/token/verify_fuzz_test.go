package token

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzVerifySigned (issue 7) fuzzes what FuzzVerify cannot reach: headers
// and claims that carry a genuine signature of the verifier's own key. An
// attacker cannot sign, but the checks behind the signature (pinned alg,
// typ, kid, crit, iss, aud, exp, nbf, iat) must hold for any content, and
// VerifyCached must decide exactly as Verify does. Seeds: a genuine
// token's parts and the attack headers of TestVerifyRefusesAttacks.
func FuzzVerifySigned(f *testing.F) {
	r := newResigner(f)
	clock, ks, ver, parts := r.clock, r.ks, r.ver, r.parts
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	kid := ks.SigningKeyID()
	f.Add(string(hdr), string(claims))
	for _, h := range []string{
		`{"alg":"none","typ":"at+jwt","kid":"` + kid + `"}`,
		`{"alg":"HS256","typ":"at+jwt","kid":"` + kid + `"}`,
		`{"alg":"EdDSA","typ":"JWT","kid":"` + kid + `"}`,
		`{"alg":"EdDSA","kid":"` + kid + `"}`,
		`{"alg":"EdDSA","typ":"at+jwt"}`,
		`{"alg":"EdDSA","typ":"at+jwt","kid":"../../dev/null"}`,
		`{"alg":"EdDSA","typ":"at+jwt","kid":"` + kid + `","crit":["exp"],"exp":1}`,
		`{"alg":"EdDSA","typ":"at+jwt","kid":"` + kid + `","jku":"http://evil.example/jwks"}`,
		`{"alg":"EdDSA","typ":"application/AT+JWT","kid":"` + kid + `"}`,
		`{"alg":"EdDSA","alg":"none","typ":"at+jwt","kid":"` + kid + `"}`,
	} {
		f.Add(h, string(claims))
	}
	var m map[string]any
	_ = json.Unmarshal(claims, &m)
	for k, v := range map[string]any{"iss": "evil", "aud": []string{"evil", testAudience}, "exp": 1, "nbf": 9e12, "iat": 9e12} {
		c := map[string]any{}
		for a, b := range m {
			c[a] = b
		}
		c[k] = v
		b, _ := json.Marshal(c)
		f.Add(string(hdr), string(b))
	}
	now := clock.Now()
	f.Fuzz(func(t *testing.T, header, payload string) {
		tok := r.sign(t, []byte(header), []byte(payload))
		c, err := ver.Verify(tok)
		cc, cerr := ver.VerifyCached(tok)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("Verify err %v, VerifyCached err %v", err, cerr)
		}
		if err != nil {
			if errors.Is(err, ErrTokenInvalid) == errors.Is(err, ErrTokenExpired) {
				t.Fatalf("err = %v, want exactly one sentinel", err)
			}
			return
		}
		if c.Subject != cc.Subject || c.SessionID != cc.SessionID {
			t.Fatalf("Verify and VerifyCached disagree: %+v %+v", c, cc)
		}
		var h map[string]any
		if json.Unmarshal([]byte(header), &h) != nil {
			t.Fatalf("accepted a header that is not JSON: %q", header)
		}
		typ, _ := h["typ"].(string)
		if h["alg"] != EdDSA || h["kid"] != kid || h["crit"] != nil ||
			!strings.EqualFold(strings.TrimPrefix(strings.ToLower(typ), "application/"), "at+jwt") {
			t.Fatalf("accepted header %q", header)
		}
		var p map[string]any
		if json.Unmarshal([]byte(payload), &p) != nil {
			t.Fatalf("accepted claims that are not JSON: %q", payload)
		}
		if p["iss"] != testIssuer {
			t.Fatalf("accepted iss %v", p["iss"])
		}
		if exp, ok := p["exp"].(float64); !ok || exp < float64(now.Unix())-30 {
			t.Fatalf("accepted exp %v at %v", p["exp"], now.Unix())
		}
		for _, k := range []string{"nbf", "iat"} {
			if v, ok := p[k].(float64); ok && v > float64(now.Unix())+30 {
				t.Fatalf("accepted %s %v in the future", k, v)
			}
		}
		switch aud := p["aud"].(type) {
		case string:
			if aud != testAudience {
				t.Fatalf("accepted aud %q", aud)
			}
		case []any:
			found := false
			for _, a := range aud {
				found = found || a == testAudience
			}
			if !found {
				t.Fatalf("accepted aud %v", aud)
			}
		default:
			t.Fatalf("accepted aud %v", p["aud"])
		}
	})
}
