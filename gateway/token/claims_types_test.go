package token

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestVerifyRefusesTimeClaimsAsStrings is the regression test of issue 7's
// finding: "exp", "nbf" and "iat" as strings of digits were accepted,
// because jwt.NumericDate decodes through json.Number. RFC 7519 section 2:
// a NumericDate is a JSON number.
func TestVerifyRefusesTimeClaimsAsStrings(t *testing.T) {
	clock := newFakeClock()
	ks := newTestSet(t, EdDSA)
	iss, ver := newPair(t, ks, testOptions(clock))
	valid := issue(t, iss, testIdentity())
	parts := strings.Split(valid, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	signer := testSigner(t, EdDSA, 0)
	sign := func(c map[string]any) string {
		b, _ := json.Marshal(c)
		in := parts[0] + "." + base64.RawURLEncoding.EncodeToString(b)
		sig, err := signer.Sign(nil, []byte(in), crypto.Hash(0))
		if err != nil {
			t.Fatal(err)
		}
		return in + "." + base64.RawURLEncoding.EncodeToString(sig)
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
