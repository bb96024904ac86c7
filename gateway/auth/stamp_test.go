package auth

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/authgate/gateway/gateway/account"
)

// racingUsers is the real user store, with a role change that commits
// right after one of its reads: what an administrator's request does when
// it lands between the read and the signing of an access token.
type racingUsers struct {
	Users
	once   *sync.Once
	onRead string // "ByEmail" or "ByID"
	change func(u account.User)
}

func (r racingUsers) ByEmail(ctx context.Context, email string) (account.User, error) {
	u, err := r.Users.ByEmail(ctx, email)
	if err == nil && r.onRead == "ByEmail" {
		r.once.Do(func() { r.change(u) })
	}
	return u, err
}

func (r racingUsers) ByID(ctx context.Context, id string) (account.User, error) {
	u, err := r.Users.ByID(ctx, id)
	if err == nil && r.onRead == "ByID" {
		r.once.Do(func() { r.change(u) })
	}
	return u, err
}

// TestDemotionRacingTokenIssue: an administrator removes a user's admin
// role while that user's login (during the password check) or refresh is
// in flight. The access token that comes out may carry the old roles only
// if it is stale, i.e. refused by the revocation view: old roles must never
// be signed under the stamp that the demotion bumped. Before the stamp was
// read ahead of the user, both flows issued an admin token that stayed
// good for the whole access TTL.
func TestDemotionRacingTokenIssue(t *testing.T) {
	const email, pw = "racing.admin@example.com", "a long enough passphrase"
	for _, flow := range []string{"login", "refresh"} {
		t.Run(flow, func(t *testing.T) {
			e := newResetEnv(t)
			ctx := context.Background()
			u := e.register(t, email, pw)
			if _, err := e.svc.SetRoles(ctx, "root", u.ID, []string{"user", "admin"}); err != nil {
				t.Fatal(err)
			}
			var refresh string
			if flow == "refresh" {
				p, err := e.svc.Login(ctx, email, pw, client)
				if err != nil {
					t.Fatal(err)
				}
				refresh = p.RefreshToken
			}

			// The login reads the account by email before the password
			// check; the refresh reads it by id after the rotation.
			onRead := map[string]string{"login": "ByEmail", "refresh": "ByID"}[flow]
			demoted := false
			e.svc.Users = racingUsers{Users: e.users, once: new(sync.Once), onRead: onRead, change: func(u account.User) {
				if _, err := e.svc.SetRoles(ctx, "root", u.ID, []string{"user"}); err != nil {
					t.Errorf("demotion: %v", err)
				}
				demoted = true
			}}
			var pair *Pair
			var err error
			if flow == "login" {
				pair, err = e.svc.Login(ctx, email, pw, client)
			} else {
				pair, err = e.svc.Refresh(ctx, refresh, client)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !demoted {
				t.Fatal("the demotion did not run: the test no longer races what it means to")
			}
			claims, err := e.svc.Verifier.Verify(pair.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			checked := e.view.Check(claims.Subject, claims.SessionID, claims.Stamp)
			if slices.Contains(claims.Roles, "admin") && checked == nil {
				t.Fatalf("%s issued a good token with roles %v after the demotion (stamp %d)", flow, claims.Roles, claims.Stamp)
			}
			t.Logf("token roles %v, view: %v", claims.Roles, checked)
		})
	}
}
