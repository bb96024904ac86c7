package account_test

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/database"
	"github.com/authgate/gateway/internal/testenv"
)

// The reset token contract, on both databases.
func TestResetStoreSQLite(t *testing.T) {
	t.Parallel()
	runResetContract(t, func(t *testing.T) *database.DB {
		return testenv.SQLite(t)
	})
}

func TestResetStorePostgres(t *testing.T) {
	t.Parallel()
	runResetContract(t, func(t *testing.T) *database.DB {
		return testenv.OpenMigrated(t, testenv.PostgresURL(t))
	})
}

func randomTokenHash(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return account.HashResetToken(string(b))
}

func runResetContract(t *testing.T, open func(t *testing.T) *database.DB) {
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ttl := 30 * time.Minute

	// setup returns the stores and a user with a password.
	setup := func(t *testing.T) (*account.SQLStore, *account.ResetStore, account.User) {
		db := open(t)
		users, resets := account.NewSQLStore(db), account.NewResetStore(db)
		u, err := users.Create(ctx, account.User{Email: "ada@example.com", PasswordHash: "hash-0"})
		if err != nil {
			t.Fatal(err)
		}
		return users, resets, u
	}
	mustCreate := func(t *testing.T, resets *account.ResetStore, userID string) []byte {
		t.Helper()
		h := randomTokenHash(t)
		if err := resets.CreateReset(ctx, userID, h, now, now.Add(ttl)); err != nil {
			t.Fatalf("CreateReset: %v", err)
		}
		return h
	}
	wantInvalid := func(t *testing.T, resets *account.ResetStore, h []byte, at time.Time) {
		t.Helper()
		if id, err := resets.CheckReset(ctx, h, at); !errors.Is(err, account.ErrResetInvalid) {
			t.Errorf("CheckReset = %q, %v; want ErrResetInvalid", id, err)
		}
		if id, err := resets.ConsumeReset(ctx, h, "hash-attacker", at); !errors.Is(err, account.ErrResetInvalid) {
			t.Errorf("ConsumeReset = %q, %v; want ErrResetInvalid", id, err)
		}
	}

	t.Run("consume once", func(t *testing.T) {
		users, resets, u := setup(t)
		h := mustCreate(t, resets, u.ID)
		if id, err := resets.CheckReset(ctx, h, now.Add(time.Minute)); err != nil || id != u.ID {
			t.Fatalf("CheckReset = %q, %v; want %q", id, err, u.ID)
		}
		// Check does not consume.
		if _, err := resets.CheckReset(ctx, h, now.Add(time.Minute)); err != nil {
			t.Fatalf("second CheckReset: %v", err)
		}
		id, err := resets.ConsumeReset(ctx, h, "hash-1", now.Add(time.Minute))
		if err != nil || id != u.ID {
			t.Fatalf("ConsumeReset = %q, %v", id, err)
		}
		got, err := users.ByID(ctx, u.ID)
		if err != nil || got.PasswordHash != "hash-1" {
			t.Fatalf("password hash after reset = %q, %v", got.PasswordHash, err)
		}
		wantInvalid(t, resets, h, now.Add(2*time.Minute))
		if got, _ := users.ByID(ctx, u.ID); got.PasswordHash != "hash-1" {
			t.Errorf("a reused token changed the password to %q", got.PasswordHash)
		}
	})

	t.Run("expired", func(t *testing.T) {
		_, resets, u := setup(t)
		h := mustCreate(t, resets, u.ID)
		if _, err := resets.CheckReset(ctx, h, now.Add(ttl-time.Second)); err != nil {
			t.Fatalf("a second before expiry: %v", err)
		}
		wantInvalid(t, resets, h, now.Add(ttl))
		wantInvalid(t, resets, h, now.Add(ttl+time.Hour))
	})

	t.Run("void after a password change", func(t *testing.T) {
		users, resets, u := setup(t)
		h := mustCreate(t, resets, u.ID)
		if err := users.SetPasswordHash(ctx, u.ID, "hash-changed"); err != nil {
			t.Fatal(err)
		}
		wantInvalid(t, resets, h, now.Add(time.Minute))
		if got, _ := users.ByID(ctx, u.ID); got.PasswordHash != "hash-changed" {
			t.Errorf("password hash = %q", got.PasswordHash)
		}
	})

	t.Run("void after an email change", func(t *testing.T) {
		users, resets, u := setup(t)
		h := mustCreate(t, resets, u.ID)
		other := "moved-" + u.Email
		if _, err := users.Update(ctx, u.ID, account.Patch{Email: &other}); err != nil {
			t.Fatal(err)
		}
		wantInvalid(t, resets, h, now.Add(time.Minute))
	})

	t.Run("void while disabled", func(t *testing.T) {
		users, resets, u := setup(t)
		h := mustCreate(t, resets, u.ID)
		yes, no := true, false
		if _, err := users.Update(ctx, u.ID, account.Patch{Disabled: &yes}); err != nil {
			t.Fatal(err)
		}
		wantInvalid(t, resets, h, now.Add(time.Minute))
		if _, err := users.Update(ctx, u.ID, account.Patch{Disabled: &no}); err != nil {
			t.Fatal(err)
		}
		// Re-enabled: the password never changed, so the token works again
		// (what disabling stops is the use, not the token).
		if _, err := resets.ConsumeReset(ctx, h, "hash-1", now.Add(time.Minute)); err != nil {
			t.Errorf("after re-enabling: %v", err)
		}
	})

	t.Run("a reset voids the user's other tokens only", func(t *testing.T) {
		users, resets, u := setup(t)
		first := mustCreate(t, resets, u.ID)
		second := mustCreate(t, resets, u.ID)
		v, err := users.Create(ctx, account.User{Email: "other-" + u.Email, PasswordHash: "hash-v"})
		if err != nil {
			t.Fatal(err)
		}
		theirs := mustCreate(t, resets, v.ID)
		if _, err := resets.ConsumeReset(ctx, second, "hash-1", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		wantInvalid(t, resets, first, now.Add(time.Minute))
		if id, err := resets.CheckReset(ctx, theirs, now.Add(time.Minute)); err != nil || id != v.ID {
			t.Errorf("another user's token after a reset: %q, %v", id, err)
		}
	})

	t.Run("unknown token and unknown user", func(t *testing.T) {
		_, resets, _ := setup(t)
		wantInvalid(t, resets, randomTokenHash(t), now)
		if err := resets.CreateReset(ctx, "00000000-0000-4000-8000-000000000000", randomTokenHash(t), now, now.Add(ttl)); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("CreateReset for nobody = %v, want ErrNotFound", err)
		}
		if err := resets.CreateReset(ctx, "not-a-uuid", randomTokenHash(t), now, now.Add(ttl)); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("CreateReset for a malformed id = %v, want ErrNotFound", err)
		}
		if err := resets.CreateReset(ctx, "00000000-0000-4000-8000-000000000000", []byte("short"), now, now.Add(ttl)); err == nil {
			t.Error("CreateReset accepted a 5-byte hash")
		}
	})

	t.Run("expired rows are swept", func(t *testing.T) {
		_, resets, u := setup(t)
		old := mustCreate(t, resets, u.ID)
		// A token made long after the first expired deletes it; the first is
		// then unknown even to a clock that would still accept it.
		if err := resets.CreateReset(ctx, u.ID, randomTokenHash(t), now.Add(2*ttl), now.Add(3*ttl)); err != nil {
			t.Fatal(err)
		}
		wantInvalid(t, resets, old, now)
	})

	t.Run("concurrent consumers: exactly one wins", func(t *testing.T) {
		users, resets, u := setup(t)
		h := mustCreate(t, resets, u.ID)
		const n = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, invalid := []string{}, 0
		var others []error
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				hash := "hash-racer-" + string(rune('a'+i))
				_, err := resets.ConsumeReset(ctx, h, hash, now.Add(time.Minute))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins = append(wins, hash)
				case errors.Is(err, account.ErrResetInvalid):
					invalid++
				default:
					others = append(others, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(others) > 0 {
			t.Fatalf("technical errors: %v", others)
		}
		if len(wins) != 1 || invalid != n-1 {
			t.Fatalf("%d won, %d refused; want 1 and %d", len(wins), invalid, n-1)
		}
		if got, _ := users.ByID(ctx, u.ID); got.PasswordHash != wins[0] {
			t.Errorf("password hash = %q, want the winner's %q", got.PasswordHash, wins[0])
		}
	})
}
