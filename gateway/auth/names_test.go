package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/password"
	"github.com/authgate/gateway/gateway/problem"
)

// countingEvents records the store errors the service reports, for
// gateway_store_errors_total.
type countingEvents struct {
	mu          sync.Mutex
	storeErrors []string
}

func (c *countingEvents) AuthEvent(string, string) {}

func (c *countingEvents) StoreError(store string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.storeErrors = append(c.storeErrors, store)
}

// hashCounter counts the argon2 computations a Hasher starts.
type hashCounter struct{ n atomic.Int64 }

func (h *hashCounter) HashWait(time.Duration) { h.n.Add(1) }
func (h *hashCounter) HashRejected()          {}

// Names that are not text. PostgreSQL refuses NUL in TEXT (which came back
// as 503 "the user database is unavailable", and counted as a store
// error), SQLite stored it; the others are stored by both but are no
// display names.
var badNames = map[string]string{
	"NUL":                        "a\x00b",
	"C0 control":                 "a\x01b",
	"tab":                        "a\tb",
	"line feed":                  "first\nsecond",
	"DEL":                        "a\x7fb",
	"C1 control (NEL)":           "a\u0085b",
	"line separator":             "a\u2028b",
	"paragraph separator":        "a\u2029b",
	"right-to-left override":     "evil\u202egnp.exe",
	"left-to-right embedding":    "a\u202ab",
	"right-to-left isolate":      "a\u2067b\u2069",
	"invalid UTF-8":              "a\xffb",
	"too long":                   strings.Repeat("n", maxNameLen+1),
	"NUL at the end of the name": "Ada\x00",
}

// Names that are text, stored as given.
var goodNames = []string{
	"", "Ada Lovelace", "José Ñúñez", "محمد", "李小龙",
	"👩\u200d💻 Ada",     // ZWJ sequence
	"Ada\u200fمحمد",    // right-to-left mark: a mark, not an override
	"\U0001F600 Happy", // 4-byte UTF-8
	strings.Repeat("n", maxNameLen),
}

// TestNamesAreText: a display name with control characters, line
// breaks, bidirectional overrides or invalid UTF-8 is a 400
// validation_failed naming the field on every path that takes a name
// (register, PATCH /auth/me, the admin API's create and patch), on both
// databases, before any password is hashed and without a store error;
// a name that is text is stored as it is. The admin search q with a
// control character is a 400 too.
func TestNamesAreText(t *testing.T) {
	for _, backend := range allBackends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := newBackendEnv(t, backend)
			events := &countingEvents{}
			hashes := &hashCounter{}
			e.svc.Events = events
			pwcfg := config.Default().Passwords
			pwcfg.MemoryKiB, pwcfg.Iterations, pwcfg.MaxConcurrent, pwcfg.MaxWait = 64, 1, 4, 5*time.Second
			hasher, err := password.New(pwcfg, hashes)
			if err != nil {
				t.Fatal(err)
			}
			e.svc.Hasher = hasher
			ctx := context.Background()
			u := e.register(t, "names@example.com", oldPW)
			admin := NewAdmin(e.svc, e.users, nil)

			wantName := func(t *testing.T, what string, err error) {
				t.Helper()
				p := problem.As(err)
				if p == nil || p.Status != http.StatusBadRequest || p.Code != problem.ValidationFailed || p.Errors["name"] == "" {
					t.Errorf("%s: %v, want 400 validation_failed on name", what, err)
				}
			}
			for label, name := range badNames {
				t.Run(label, func(t *testing.T) {
					before := hashes.n.Load()
					_, err := e.svc.Register(ctx, "bad."+randomLocal(t)+"@example.com", oldPW, name, client)
					wantName(t, "register", err)
					_, err = e.svc.CreateUser(ctx, "root", "bad."+randomLocal(t)+"@example.com", oldPW, name, nil)
					wantName(t, "admin create", err)
					if n := hashes.n.Load() - before; n != 0 {
						t.Errorf("%d passwords hashed for refused requests: names are checked before hashing", n)
					}
					_, err = e.svc.UpdateMe(ctx, u.ID, u.Email, &name, nil)
					wantName(t, "PATCH /auth/me", err)
					if utf8.ValidString(name) { // JSON has no other strings
						wantName(t, "admin patch", adminCall(t, admin.patch, http.MethodPatch, "/auth/admin/users/"+u.ID, u.ID,
							map[string]any{"name": name}))
					}
				})
			}
			if got, err := e.users.ByID(ctx, u.ID); err != nil || got.Name != "" {
				t.Errorf("after refused updates the name is %q (%v), want it unchanged", got.Name, err)
			}

			for _, q := range []string{"\x00", "a\x00", "a\x01", "\u0085", "a\n"} {
				err := adminCall(t, admin.list, http.MethodGet, "/auth/admin/users?q="+url.QueryEscape(q), "", nil)
				p := problem.As(err)
				if p == nil || p.Status != http.StatusBadRequest || (p.Code != problem.ValidationFailed && p.Code != problem.BadRequest) {
					t.Errorf("GET /auth/admin/users?q=%q: %v, want 400", q, err)
				}
			}

			for i, name := range goodNames {
				got, err := e.svc.UpdateMe(ctx, u.ID, u.Email, &name, nil)
				if err != nil || got.Name != name {
					t.Errorf("UpdateMe(%q): %q, %v", name, got.Name, err)
				}
				email := "good" + string(rune('a'+i)) + "." + randomLocal(t) + "@example.com"
				if c, err := e.svc.CreateUser(ctx, "root", email, "", name, nil); err != nil || c.Name != name {
					t.Errorf("CreateUser(name %q): %q, %v", name, c.Name, err)
				}
			}
			events.mu.Lock()
			defer events.mu.Unlock()
			if len(events.storeErrors) > 0 {
				t.Errorf("store errors counted for bad input: %v", events.storeErrors)
			}
		})
	}
}

// adminCall runs an admin handler on a request as the gateway would pass
// it on (authenticated and allowed: protect is not under test), and
// returns the handler's error; a success answer is nil.
func adminCall(t *testing.T, h echo.HandlerFunc, method, target, id string, body map[string]any) error {
	t.Helper()
	var rd *strings.Reader
	if body != nil {
		rd = strings.NewReader(mustJSON(t, body))
	} else {
		rd = strings.NewReader("")
	}
	req := httptest.NewRequest(method, target, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := echo.New().NewContext(req, httptest.NewRecorder())
	if id != "" {
		c.SetParamNames("id")
		c.SetParamValues(id)
	}
	return h(c)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// randomLocal is a fresh local part for an email address.
func randomLocal(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
