package token

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
)

// TestVerifyRefusesTimeClaimsAsStrings is the regression test of issue 7's
// finding: "exp", "nbf" and "iat" as strings of digits were accepted,
// because jwt.NumericDate decodes through json.Number. RFC 7519 section 2:
// a NumericDate is a JSON number.
func TestVerifyRefusesTimeClaimsAsStrings(t *testing.T) {
	r := newResigner(t)
	ver := r.ver
	hdr, _ := base64.RawURLEncoding.DecodeString(r.parts[0])
	raw, _ := base64.RawURLEncoding.DecodeString(r.parts[1])
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	sign := func(c map[string]any) string {
		b, _ := json.Marshal(c)
		return r.sign(t, hdr, b)
	}
	if _, err := ver.Verify(sign(claims)); err != nil {
		t.Fatalf("control: the re-signed genuine claims are refused: %v", err)
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		t.Run(name, func(t *testing.T) {
			c := map[string]any{}
			for k, v := range claims {
				c[k] = v
			}
			c[name] = "9999999999"
			if name != "exp" {
				c[name] = "1"
			}
			_, err := ver.Verify(sign(c))
			if !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("%s as a string: err %v, want ErrTokenInvalid", name, err)
			}
		})
	}
}
