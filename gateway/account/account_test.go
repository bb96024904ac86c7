package account_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/authgate/gateway/gateway/account"
)

// A User marshalled by mistake (a response body, zap.Any) never carries the
// password hash.
func TestUserJSONOmitsPasswordHash(t *testing.T) {
	b, err := json.Marshal(account.User{Email: "a@example.com", PasswordHash: "$argon2id$secret"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "argon2id") || strings.Contains(string(b), "PasswordHash") {
		t.Fatalf("User JSON leaks the hash: %s", b)
	}
}
