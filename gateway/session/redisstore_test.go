package session

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/gateway/internal/testenv"
)

// TestRedisRotateRecordsWithoutTheUser: a token record written before
// records named the user ("SID|GEN|ISSUED|AE") still rotates, the rotation
// still reads the user's stamp (with one more round trip), and the new
// token's record names the user: a rolling upgrade logs nobody out. A
// record that names another user than its session (only a damaged one
// can) gets the session's user's stamp, never the named user's.
func TestRedisRotateRecordsWithoutTheUser(t *testing.T) {
	for name, rewrite := range map[string]string{"without the user": "", "naming another user": "|u2"} {
		t.Run(name, func(t *testing.T) {
			addr, prefix := testenv.RedisAddr(t)
			c := redis.NewClient(&redis.Options{Addr: addr})
			t.Cleanup(func() { c.Close() })
			s, err := NewRedisStore(c, prefix, Options{IdleTTL: testIdle, MaxTTL: testMax, ReuseGrace: testGrace})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			now := roundMS(time.Now())
			sess, tok, err := s.Create(ctx, NewSession{UserID: "u1"}, now)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := parseToken(tok)
			key := s.tokenKey(h)
			current, err := c.Get(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			head, ok := strings.CutSuffix(current, "|u1")
			if !ok {
				t.Fatalf("record %q does not end with the user id", current)
			}
			if err := c.Set(ctx, key, head+rewrite, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.BumpUserStamp(ctx, "u1"); err != nil {
				t.Fatal(err)
			}
			for range 5 {
				if _, err := s.BumpUserStamp(ctx, "u2"); err != nil {
					t.Fatal(err)
				}
			}

			got, next, err := s.Rotate(ctx, tok, now.Add(time.Second))
			if err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			if got.ID != sess.ID || got.UserID != "u1" || got.Generation != 2 || got.UserStamp != 1 {
				t.Errorf("Rotate = id %s user %s generation %d stamp %d; want %s u1 2 1",
					got.ID, got.UserID, got.Generation, got.UserStamp, sess.ID)
			}
			h2, _ := parseToken(next)
			v, err := c.Get(ctx, s.tokenKey(h2)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if rec, ok := parseTokenRecord(v); !ok || rec.userID != "u1" {
				t.Errorf("the new token's record %q does not name the session's user", v)
			}
		})
	}
}

func TestParseTokenRecord(t *testing.T) {
	id := newID()
	cases := []struct {
		in     string
		ok     bool
		userID string
	}{
		{id + "|3|1700000000000|1700000900000|u1", true, "u1"},
		{id + "|3|1700000000000|1700000900000", true, ""}, // written before user ids
		{id + "|3|1700000000000|1700000900000|", false, ""},
		{id + "|3|1700000000000|1700000900000|u1|x", false, ""},
		{id + "|3|1700000000000", false, ""},
		{id + "|x|1700000000000|1700000900000|u1", false, ""},
		{"not-an-id|3|1700000000000|1700000900000|u1", false, ""},
		{"", false, ""},
	}
	for _, tc := range cases {
		rec, ok := parseTokenRecord(tc.in)
		if ok != tc.ok || (ok && (rec.userID != tc.userID || rec.sessionID != id || rec.gen != 3)) {
			t.Errorf("parseTokenRecord(%q) = %+v, %v; want ok %v user %q", tc.in, rec, ok, tc.ok, tc.userID)
		}
	}
}
