package session

import (
	"crypto/sha256"
	"strings"
	"testing"
)

// FuzzParseToken (issue 7): a presented refresh token is accepted only in
// the one shape newToken produces (exact length, canonical unpadded
// base64url), so that no two spellings can name one session and no
// oversized or malformed input reaches a store.
func FuzzParseToken(f *testing.F) {
	tok, _ := newToken()
	f.Add(tok)
	for _, s := range []string{"", tok + "=", tok[:len(tok)-1], strings.ToUpper(tok), tok + tok, strings.ReplaceAll(tok, "-", "+"), " " + tok[1:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, ok := parseToken(s)
		if !ok {
			return
		}
		if len(s) != tokenLen {
			t.Fatalf("accepted %q of length %d", s, len(s))
		}
		raw, err := b64Strict.DecodeString(s)
		if err != nil || len(raw) != tokenBytes || b64.EncodeToString(raw) != s {
			t.Fatalf("accepted %q, which is not a canonical encoding of %d bytes", s, tokenBytes)
		}
		if h != sha256.Sum256([]byte(s)) {
			t.Fatalf("hash of %q is not its SHA-256", s)
		}
	})
}
