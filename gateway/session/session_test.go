package session

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/gateway/config"
)

func TestDecideRotation(t *testing.T) {
	rotated := time.Unix(1_000_000, 0)
	s := &Session{Generation: 5, RotatedAt: rotated}
	const grace = 10 * time.Second
	tests := []struct {
		name     string
		tokenGen int64
		now      time.Time
		grace    time.Duration
		want     rotation
	}{
		{"current token", 5, rotated.Add(time.Hour), grace, rotateAdvance},
		{"previous token at the rotation", 4, rotated, grace, rotateSibling},
		{"previous token at the end of the grace", 4, rotated.Add(grace), grace, rotateSibling},
		{"previous token just after the grace", 4, rotated.Add(grace + time.Millisecond), grace, rotateReuse},
		{"previous token, clock behind the rotating replica", 4, rotated.Add(-time.Second), grace, rotateSibling},
		{"two generations old, within the grace", 3, rotated, grace, rotateReuse},
		{"first token of a long session", 1, rotated, grace, rotateReuse},
		{"generation from the future", 6, rotated, grace, rotateInvalid},
		{"zero grace, same millisecond", 4, rotated, 0, rotateSibling},
		{"zero grace, a millisecond later", 4, rotated.Add(time.Millisecond), 0, rotateReuse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := decideRotation(tc.tokenGen, s, tc.now, tc.grace); got != tc.want {
				t.Errorf("decideRotation(%d) = %d, want %d", tc.tokenGen, got, tc.want)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	tok, h := newToken()
	if len(tok) != tokenLen {
		t.Fatalf("token %q has length %d, want %d", tok, len(tok), tokenLen)
	}
	if h != sha256.Sum256([]byte(tok)) {
		t.Errorf("newToken's hash is not the SHA-256 of the token")
	}
	if got, ok := parseToken(tok); !ok || got != h {
		t.Errorf("parseToken(newToken()) = %x, %v", got, ok)
	}
	other, _ := newToken()
	if other == tok {
		t.Errorf("two tokens are equal")
	}
	tests := []struct {
		name string
		tok  string
	}{
		{"empty", ""},
		{"one short", tok[:tokenLen-1]},
		{"one long", tok + "A"},
		{"padded", tok[:tokenLen-1] + "="},
		{"standard base64 alphabet", strings.Repeat("+", tokenLen)},
		// 43 characters carry 258 bits; the last 2 must be 0, so a real
		// token never ends in B.
		{"non-canonical last character", tok[:tokenLen-1] + "B"},
		{"spaces", strings.Repeat(" ", tokenLen)},
		{"multi-byte", strings.Repeat("é", tokenLen/2) + "A"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := parseToken(tc.tok); ok {
				t.Errorf("parseToken(%q) accepted", tc.tok)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	id := newID()
	if !validID(id) || len(id) != idLen {
		t.Fatalf("newID() = %q, not a valid id", id)
	}
	for _, bad := range []string{"", id[:idLen-1], id + "A", strings.Repeat("/", idLen), "../../etc/passwd"} {
		if validID(bad) {
			t.Errorf("validID(%q) = true", bad)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"plain", "curl/8.0", 64, "curl/8.0"},
		{"control characters removed", "a\x00b\nc\x7fd", 64, "abcd"},
		{"invalid UTF-8 removed", "a\xffb\xc3", 64, "ab"},
		{"cut at a character boundary", "aé", 2, "a"},
		{"cut exactly", "abcdef", 3, "abc"},
		{"replacement character removed", "a\uFFFDb", 64, "ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := clean(tc.in, tc.n)
			if got != tc.want || !utf8.ValidString(got) || len(got) > tc.n {
				t.Errorf("clean(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	o := OptionsFromConfig(config.Default().Tokens)
	if o.IdleTTL != 7*24*time.Hour || o.MaxTTL != 30*24*time.Hour || o.ReuseGrace != 10*time.Second {
		t.Errorf("OptionsFromConfig(defaults) = %+v", o)
	}
	if _, err := o.withDefaults(); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
	bad := []Options{
		{MaxTTL: time.Hour},
		{IdleTTL: time.Hour},
		{IdleTTL: time.Hour, MaxTTL: time.Hour, ReuseGrace: -time.Second},
	}
	for _, o := range bad {
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("Options %+v accepted", o)
		}
		if _, err := NewRedisStore(nil, "p:", o); err == nil {
			t.Errorf("NewRedisStore accepted %+v", o)
		}
	}
}

func TestNewRedisStoreRefusesBracesInPrefix(t *testing.T) {
	o := Options{IdleTTL: time.Hour, MaxTTL: time.Hour}
	for _, p := range []string{"{gw}:", "gw}", "a{b"} {
		if _, err := NewRedisStore(redis.NewClient(&redis.Options{}), p, o); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
}

func TestErrExpiredIsInvalid(t *testing.T) {
	if !errors.Is(ErrExpired, ErrInvalid) {
		t.Errorf("ErrExpired does not match ErrInvalid")
	}
	if errors.Is(ErrInvalid, ErrExpired) || errors.Is(ErrReused, ErrInvalid) {
		t.Errorf("sentinel errors overlap")
	}
}
