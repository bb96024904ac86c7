// Package accounttest holds the contract every user store must meet, as one
// test suite that runs against any implementation: SQLStore on SQLite and on
// PostgreSQL, and any fake a handler test wants to trust.
package accounttest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authgate/gateway/gateway/account"
)

// Store is the full method set the suite exercises.
type Store interface {
	Create(ctx context.Context, u account.User) (account.User, error)
	ByID(ctx context.Context, id string) (account.User, error)
	ByEmail(ctx context.Context, email string) (account.User, error)
	Update(ctx context.Context, id string, p account.Patch) (account.User, error)
	SetPasswordHash(ctx context.Context, id, hash string) error
	ReplacePasswordHash(ctx context.Context, id, oldHash, newHash string) (bool, error)
	List(ctx context.Context, q account.Query) ([]account.User, string, error)
	Count(ctx context.Context) (int, error)
}

var _ Store = (*account.SQLStore)(nil)

// Run runs the contract. newStore returns an empty store for one subtest and
// arranges its cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"CreateRefusesInvalidInput", testCreateInvalid},
		{"DuplicateEmail", testDuplicateEmail},
		{"ConcurrentCreateSameEmail", testConcurrentCreate},
		{"NotFound", testNotFound},
		{"UpdateEachField", testUpdateEachField},
		{"UpdateEmailConflict", testUpdateEmailConflict},
		{"UpdateNoChange", testUpdateNoChange},
		{"UpdateRefusesInvalidInput", testUpdateInvalid},
		{"DisableEnable", testDisableEnable},
		{"RolesRoundTrip", testRoles},
		{"Passwords", testPasswords},
		{"ListPrefixAndPagination", testListPagination},
		{"ListPrefixBoundaries", testListPrefixBoundaries},
		{"ListLimitsAndCursors", testListLimits},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustCreate(t *testing.T, s Store, email string, roles ...string) account.User {
	t.Helper()
	u, err := s.Create(ctx(t), account.User{Email: email, Name: "N " + email, PasswordHash: "hash-" + email, Roles: roles})
	if err != nil {
		t.Fatalf("Create(%q): %v", email, err)
	}
	return u
}

func mustGet(t *testing.T, s Store, id string) account.User {
	t.Helper()
	u, err := s.ByID(ctx(t), id)
	if err != nil {
		t.Fatalf("ByID(%s): %v", id, err)
	}
	return u
}

func equalUsers(a, b account.User) bool {
	return a.ID == b.ID && a.Email == b.Email && a.Name == b.Name && a.PasswordHash == b.PasswordHash &&
		slices.Equal(a.Roles, b.Roles) && a.Disabled == b.Disabled &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func testCreateAndGet(t *testing.T, s Store) {
	c := ctx(t)
	before := time.Now().Add(-time.Second)
	u, err := s.Create(c, account.User{ // #nosec G101 -- a made-up hash for the contract test
		ID:           "ignored",
		Email:        "  Alice@Example.COM \n",
		Name:         "Alice Liddell",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		Roles:        []string{"user", "editor"},
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if id, err := uuid.Parse(u.ID); err != nil || id.Version() != 4 || u.ID != strings.ToLower(u.ID) {
		t.Errorf("ID %q is not a lower-case UUIDv4", u.ID)
	}
	if u.Email != "alice@example.com" || u.Name != "Alice Liddell" || u.Disabled ||
		!slices.Equal(u.Roles, []string{"user", "editor"}) || u.PasswordHash == "" {
		t.Errorf("Create returned %+v", u)
	}
	if u.CreatedAt.Before(before) || u.CreatedAt.After(time.Now().Add(time.Second)) ||
		!u.UpdatedAt.Equal(u.CreatedAt) || u.CreatedAt.Location() != time.UTC {
		t.Errorf("timestamps created %v updated %v", u.CreatedAt, u.UpdatedAt)
	}
	if got := mustGet(t, s, u.ID); !equalUsers(got, u) {
		t.Errorf("ByID = %+v, want %+v", got, u)
	}
	if got := mustGet(t, s, strings.ToUpper(u.ID)); got.ID != u.ID {
		t.Errorf("ByID(upper-case id) = %q", got.ID)
	}
	for _, spelling := range []string{
		"alice@example.com", "ALICE@EXAMPLE.COM", " alice@Example.com\t", "ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ",
	} {
		got, err := s.ByEmail(c, spelling)
		if err != nil || !equalUsers(got, u) {
			t.Errorf("ByEmail(%q) = %+v, %v", spelling, got, err)
		}
	}
	if n, err := s.Count(c); err != nil || n != 1 {
		t.Errorf("Count = %d, %v; want 1", n, err)
	}
}

func testCreateInvalid(t *testing.T, s Store) {
	c := ctx(t)
	var ee *account.EmailError
	if _, err := s.Create(c, account.User{Email: "not an email"}); !errors.As(err, &ee) {
		t.Errorf("bad email: error %v, want *EmailError", err)
	}
	if _, err := s.Create(c, account.User{Email: "al\u200bice@example.com"}); !errors.As(err, &ee) {
		t.Errorf("invisible character: error %v, want *EmailError", err)
	}
	for _, role := range []string{"", "has space", "a,b", "ünicode", strings.Repeat("r", 65)} {
		if _, err := s.Create(c, account.User{Email: "bob@example.com", Roles: []string{"user", role}}); !errors.Is(err, account.ErrInvalidRole) {
			t.Errorf("role %q: error %v, want ErrInvalidRole", role, err)
		}
	}
	if n, _ := s.Count(c); n != 0 {
		t.Errorf("refused creates stored %d users", n)
	}
}

func testDuplicateEmail(t *testing.T, s Store) {
	c := ctx(t)
	first := mustCreate(t, s, "alice@example.com")
	for _, dup := range []string{
		"alice@example.com",
		"ALICE@example.com",
		" alice@example.com ",
		"ａｌｉｃｅ@example.com",      // fullwidth: same after NFKC
		"\u1d2clice@ＥＸＡＭＰＬＥ．ｃｏｍ", // modifier capital A and fullwidth domain
	} {
		if _, err := s.Create(c, account.User{Email: dup}); !errors.Is(err, account.ErrEmailTaken) {
			t.Errorf("Create(%q) error %v, want ErrEmailTaken", dup, err)
		}
	}
	if n, _ := s.Count(c); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
	if got := mustGet(t, s, first.ID); !equalUsers(got, first) {
		t.Errorf("first user changed: %+v", got)
	}
}

func testConcurrentCreate(t *testing.T, s Store) {
	c := ctx(t)
	spellings := []string{"race@example.com", "RACE@example.com", "Race@Example.com", "ｒａｃｅ@example.com"}
	const n = 12
	var wg sync.WaitGroup
	results := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, err := s.Create(c, account.User{Email: spellings[i%len(spellings)]})
			results <- err
		})
	}
	close(start)
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, account.ErrEmailTaken):
		default:
			t.Errorf("concurrent Create: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent creates of one address succeeded, want exactly 1", wins)
	}
	if cnt, _ := s.Count(c); cnt != 1 {
		t.Fatalf("Count = %d, want 1", cnt)
	}
}

func testNotFound(t *testing.T, s Store) {
	c := ctx(t)
	mustCreate(t, s, "alice@example.com")
	unknown := uuid.NewString()
	name := "x"
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, account.ErrNotFound) {
			t.Errorf("%s: error %v, want ErrNotFound", what, err)
		}
	}
	_, err := s.ByID(c, unknown)
	check("ByID(unknown)", err)
	_, err = s.ByID(c, "not-a-uuid")
	check("ByID(not a UUID)", err)
	_, err = s.ByID(c, "")
	check("ByID(empty)", err)
	_, err = s.ByEmail(c, "bob@example.com")
	check("ByEmail(unknown)", err)
	_, err = s.ByEmail(c, "not an address")
	check("ByEmail(invalid)", err)
	_, err = s.Update(c, unknown, account.Patch{Name: &name})
	check("Update(unknown)", err)
	_, err = s.Update(c, "nope", account.Patch{Name: &name})
	check("Update(not a UUID)", err)
	check("SetPasswordHash(unknown)", s.SetPasswordHash(c, unknown, "h"))
	_, err = s.ReplacePasswordHash(c, unknown, "a", "b")
	check("ReplacePasswordHash(unknown)", err)
	if !strings.HasPrefix(account.ErrNotFound.Error(), "account:") || !strings.HasPrefix(account.ErrEmailTaken.Error(), "account:") {
		t.Error("sentinel errors must carry the account: prefix")
	}
}

func testUpdateEachField(t *testing.T, s Store) {
	c := ctx(t)
	u := mustCreate(t, s, "alice@example.com", "user")
	orig := u
	step := func(what string, p account.Patch, check func(account.User) bool) {
		t.Helper()
		time.Sleep(2 * time.Millisecond) // so that UpdatedAt can move
		got, err := s.Update(c, u.ID, p)
		if err != nil {
			t.Fatalf("Update %s: %v", what, err)
		}
		if !check(got) {
			t.Fatalf("Update %s returned %+v", what, got)
		}
		if !got.UpdatedAt.After(u.UpdatedAt) || !got.CreatedAt.Equal(orig.CreatedAt) {
			t.Fatalf("Update %s: updated_at %v (was %v), created_at %v (was %v)", what,
				got.UpdatedAt, u.UpdatedAt, got.CreatedAt, orig.CreatedAt)
		}
		if stored := mustGet(t, s, u.ID); !equalUsers(stored, got) {
			t.Fatalf("Update %s: stored %+v, returned %+v", what, stored, got)
		}
		u = got
	}
	name := "Alice Pleasance"
	step("name", account.Patch{Name: &name}, func(g account.User) bool { return g.Name == name && g.Email == orig.Email })
	email := "  Alice.L@Example.ORG "
	step("email", account.Patch{Email: &email}, func(g account.User) bool { return g.Email == "alice.l@example.org" && g.Name == name })
	roles := []string{"admin", "user"}
	step("roles", account.Patch{Roles: &roles}, func(g account.User) bool { return slices.Equal(g.Roles, roles) })
	yes := true
	step("disabled", account.Patch{Disabled: &yes}, func(g account.User) bool { return g.Disabled })
	name2, email2, roles2, no := "A", "a@example.net", []string{"user"}, false
	step("all at once", account.Patch{Name: &name2, Email: &email2, Roles: &roles2, Disabled: &no}, func(g account.User) bool {
		return g.Name == "A" && g.Email == "a@example.net" && slices.Equal(g.Roles, roles2) && !g.Disabled
	})
	if g, _ := s.ByEmail(c, "a@example.net"); g.ID != u.ID {
		t.Errorf("ByEmail(new address) = %q, want %q", g.ID, u.ID)
	}
	for _, old := range []string{"alice@example.com", "alice.l@example.org"} {
		if _, err := s.ByEmail(c, old); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("ByEmail(old address %s) error %v, want ErrNotFound", old, err)
		}
	}
	if u.PasswordHash != orig.PasswordHash {
		t.Errorf("Update changed the password hash")
	}
}

func testUpdateEmailConflict(t *testing.T, s Store) {
	c := ctx(t)
	a := mustCreate(t, s, "alice@example.com")
	b := mustCreate(t, s, "bob@example.com")
	taken := "ＡＬＩＣＥ@example.com"
	name := "changed"
	if _, err := s.Update(c, b.ID, account.Patch{Email: &taken, Name: &name}); !errors.Is(err, account.ErrEmailTaken) {
		t.Fatalf("Update to a taken address: %v, want ErrEmailTaken", err)
	}
	if got := mustGet(t, s, b.ID); !equalUsers(got, b) {
		t.Errorf("failed update changed the user: %+v", got)
	}
	// Re-spelling one's own address is no conflict and no change.
	own := " ALICE@example.com"
	got, err := s.Update(c, a.ID, account.Patch{Email: &own})
	if err != nil || !equalUsers(got, a) {
		t.Errorf("Update to own address: %+v, %v", got, err)
	}
	// Once freed, the address can be taken.
	free := "alice2@example.com"
	if _, err := s.Update(c, a.ID, account.Patch{Email: &free}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(c, b.ID, account.Patch{Email: &taken}); err != nil {
		t.Errorf("Update to a freed address: %v", err)
	}
}

func testUpdateNoChange(t *testing.T, s Store) {
	c := ctx(t)
	u := mustCreate(t, s, "alice@example.com", "user")
	same, roles, no := u.Name, []string{"user"}, false
	for _, p := range []account.Patch{{}, {Name: &same, Roles: &roles, Disabled: &no}} {
		got, err := s.Update(c, u.ID, p)
		if err != nil || !equalUsers(got, u) {
			t.Errorf("no-op Update(%+v) = %+v, %v; want the user unchanged", p, got, err)
		}
	}
	if stored := mustGet(t, s, u.ID); !equalUsers(stored, u) {
		t.Errorf("no-op updates wrote %+v, want the user unchanged (UpdatedAt too)", stored)
	}
}

func testUpdateInvalid(t *testing.T, s Store) {
	c := ctx(t)
	u := mustCreate(t, s, "alice@example.com")
	bad := "alice@@example.com"
	var ee *account.EmailError
	if _, err := s.Update(c, u.ID, account.Patch{Email: &bad}); !errors.As(err, &ee) {
		t.Errorf("bad email: %v, want *EmailError", err)
	}
	roles := []string{"ok", "not ok"}
	if _, err := s.Update(c, u.ID, account.Patch{Roles: &roles}); !errors.Is(err, account.ErrInvalidRole) {
		t.Errorf("bad role: %v, want ErrInvalidRole", err)
	}
	if got := mustGet(t, s, u.ID); !equalUsers(got, u) {
		t.Errorf("refused update changed the user: %+v", got)
	}
}

func testDisableEnable(t *testing.T, s Store) {
	c := ctx(t)
	u := mustCreate(t, s, "alice@example.com")
	yes, no := true, false
	if got, err := s.Update(c, u.ID, account.Patch{Disabled: &yes}); err != nil || !got.Disabled {
		t.Fatalf("disable: %+v, %v", got, err)
	}
	if got := mustGet(t, s, u.ID); !got.Disabled {
		t.Fatal("disabled flag not stored")
	}
	if got, _ := s.ByEmail(c, u.Email); !got.Disabled {
		t.Fatal("ByEmail does not show the disabled flag")
	}
	if got, err := s.Update(c, u.ID, account.Patch{Disabled: &no}); err != nil || got.Disabled {
		t.Fatalf("enable: %+v, %v", got, err)
	}
	created, err := s.Create(c, account.User{Email: "off@example.com", Disabled: true})
	if err != nil || !created.Disabled || !mustGet(t, s, created.ID).Disabled {
		t.Fatalf("Create disabled: %+v, %v", created, err)
	}
}

func testRoles(t *testing.T, s Store) {
	c := ctx(t)
	for i, tc := range []struct {
		in, want []string
	}{
		{nil, []string{}},
		{[]string{}, []string{}},
		{[]string{"admin"}, []string{"admin"}},
		{[]string{"user", "admin", "billing:read", "ops.team", "a-b_c"}, []string{"user", "admin", "billing:read", "ops.team", "a-b_c"}},
		{[]string{"b", "a", "b", "a"}, []string{"b", "a"}},
		{[]string{"Admin", "admin"}, []string{"Admin", "admin"}}, // role names are case-sensitive, as in Casbin
	} {
		u, err := s.Create(c, account.User{Email: fmt.Sprintf("r%d@example.com", i), Roles: tc.in})
		if err != nil {
			t.Fatalf("Create roles %q: %v", tc.in, err)
		}
		if u.Roles == nil || !slices.Equal(u.Roles, tc.want) {
			t.Errorf("Create roles %q returned %#v, want %#v", tc.in, u.Roles, tc.want)
		}
		if got := mustGet(t, s, u.ID).Roles; got == nil || !slices.Equal(got, tc.want) {
			t.Errorf("roles %q stored as %#v, want %#v", tc.in, got, tc.want)
		}
		// And through Update, from a non-empty start.
		v := mustCreate(t, s, fmt.Sprintf("upd%d@example.com", i), "seed")
		in := tc.in
		got, err := s.Update(c, v.ID, account.Patch{Roles: &in})
		if err != nil || got.Roles == nil || !slices.Equal(got.Roles, tc.want) {
			t.Errorf("Update roles %q = %#v, %v; want %#v", tc.in, got.Roles, err, tc.want)
		}
		if stored := mustGet(t, s, v.ID).Roles; stored == nil || !slices.Equal(stored, tc.want) {
			t.Errorf("updated roles %q stored as %#v, want %#v", tc.in, stored, tc.want)
		}
	}
}

func testPasswords(t *testing.T, s Store) {
	c := ctx(t)
	u := mustCreate(t, s, "alice@example.com")
	noPassword, err := s.Create(c, account.User{Email: "nopw@example.com"})
	if err != nil || noPassword.PasswordHash != "" || mustGet(t, s, noPassword.ID).PasswordHash != "" {
		t.Fatalf("Create without a password: %+v, %v", noPassword, err)
	}
	time.Sleep(2 * time.Millisecond)
	if err := s.SetPasswordHash(c, u.ID, "new-hash"); err != nil {
		t.Fatalf("SetPasswordHash: %v", err)
	}
	got := mustGet(t, s, u.ID)
	if got.PasswordHash != "new-hash" || !got.UpdatedAt.After(u.UpdatedAt) {
		t.Fatalf("after SetPasswordHash: %+v", got)
	}

	// Rehash: compare-and-swap.
	ok, err := s.ReplacePasswordHash(c, u.ID, "stale-hash", "rehash")
	if err != nil || ok {
		t.Fatalf("ReplacePasswordHash with a stale hash = %v, %v; want false, nil", ok, err)
	}
	if mustGet(t, s, u.ID).PasswordHash != "new-hash" {
		t.Fatal("stale ReplacePasswordHash overwrote the hash")
	}
	ok, err = s.ReplacePasswordHash(c, u.ID, "new-hash", "rehash")
	if err != nil || !ok {
		t.Fatalf("ReplacePasswordHash = %v, %v; want true", ok, err)
	}
	if mustGet(t, s, u.ID).PasswordHash != "rehash" {
		t.Fatal("ReplacePasswordHash did not store the hash")
	}
}

// list pages through q until the end and returns every user and page size.
func list(t *testing.T, s Store, q account.Query) (all []account.User, pages []int) {
	t.Helper()
	for {
		page, next, err := s.List(ctx(t), q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		all = append(all, page...)
		pages = append(pages, len(page))
		if next == "" {
			return all, pages
		}
		if len(pages) > 1000 {
			t.Fatal("List never ends")
		}
		q.Cursor = next
	}
}

func emails(us []account.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Email
	}
	return out
}

func testListPagination(t *testing.T, s Store) {
	c := ctx(t)
	var want []string
	for i := range 25 {
		// Created out of order, so that order comes from the store.
		e := fmt.Sprintf("page%02d@example.com", (i*7)%25)
		mustCreate(t, s, e)
		want = append(want, e)
	}
	for _, e := range []string{"other@example.com", "pag@example.com", "pagf@example.com", "a@example.com", "zz@example.com"} {
		mustCreate(t, s, e)
	}
	slices.Sort(want)

	got, pages := list(t, s, account.Query{EmailPrefix: " PAGE", Limit: 10})
	if !slices.Equal(pages, []int{10, 10, 5}) {
		t.Errorf("page sizes %v, want [10 10 5]", pages)
	}
	if !slices.Equal(emails(got), want) {
		t.Errorf("prefix listing %v, want %v", emails(got), want)
	}
	again, _ := list(t, s, account.Query{EmailPrefix: "page", Limit: 10})
	if !slices.Equal(emails(again), emails(got)) {
		t.Error("listing twice gave different orders")
	}

	// Keyset pagination: users inserted behind the cursor, or moved away
	// from behind it, do not shift the rest.
	first, next, err := s.List(c, account.Query{EmailPrefix: "page", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "page00a@example.com") // sorts inside page 1
	moved := "moved@example.com"
	if _, err := s.Update(c, first[0].ID, account.Patch{Email: &moved}); err != nil {
		t.Fatal(err)
	}
	rest, _ := list(t, s, account.Query{EmailPrefix: "page", Limit: 10, Cursor: next})
	if !slices.Equal(emails(rest), want[10:]) {
		t.Errorf("after changes behind the cursor, the rest is %v, want %v", emails(rest), want[10:])
	}

	all, _ := list(t, s, account.Query{Limit: 4})
	if n, _ := s.Count(c); len(all) != n || n != 31 {
		t.Errorf("full listing has %d users, Count %d, want 31", len(all), n)
	}
	if !slices.IsSortedFunc(all, func(a, b account.User) int { return strings.Compare(a.Email, b.Email) }) {
		t.Errorf("full listing not in email order: %v", emails(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID == all[i-1].ID {
			t.Errorf("user %s listed twice", all[i].Email)
		}
	}
}

func testListPrefixBoundaries(t *testing.T, s Store) {
	for _, e := range []string{"aa@x.com", "ab@x.com", "ab@y.com", "abc@x.com", "ac@x.com", "b@x.com",
		"über@x.com", "uz@x.com", "ü@x.com", "\U00020000@x.com", "\U00020001@x.com"} {
		mustCreate(t, s, e)
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"ab", []string{"ab@x.com", "ab@y.com", "abc@x.com"}},
		{"AB@", []string{"ab@x.com", "ab@y.com"}},
		{"ab@x.com", []string{"ab@x.com"}},
		{"a", []string{"aa@x.com", "ab@x.com", "ab@y.com", "abc@x.com", "ac@x.com"}},
		{"Ü", []string{"ü@x.com", "über@x.com"}},
		{"u\u0308", []string{"ü@x.com", "über@x.com"}}, // NFKC composes the prefix
		{"\U00020000", []string{"\U00020000@x.com"}},   // a 4-byte code point
		{"\U00020001@", []string{"\U00020001@x.com"}},
		{"c", nil},
		{"abd", nil},
	} {
		got, _ := list(t, s, account.Query{EmailPrefix: tc.prefix})
		if !slices.Equal(emails(got), tc.want) {
			t.Errorf("prefix %q: %v, want %v", tc.prefix, emails(got), tc.want)
		}
	}
}

func testListLimits(t *testing.T, s Store) {
	c := ctx(t)
	for i := range account.DefaultListLimit + 1 {
		mustCreate(t, s, fmt.Sprintf("u%03d@example.com", i))
	}
	page, next, err := s.List(c, account.Query{})
	if err != nil || len(page) != account.DefaultListLimit || next == "" {
		t.Fatalf("default limit: %d users, next %q, %v", len(page), next, err)
	}
	page, next, err = s.List(c, account.Query{Limit: account.MaxListLimit + 1000})
	if err != nil || len(page) != account.DefaultListLimit+1 || next != "" {
		t.Fatalf("capped limit: %d users, next %q, %v", len(page), next, err)
	}
	page, next, err = s.List(c, account.Query{Limit: account.DefaultListLimit + 1})
	if err != nil || len(page) != account.DefaultListLimit+1 || next != "" {
		t.Fatalf("exact last page: %d users, next %q, %v; want no next cursor", len(page), next, err)
	}
	for _, bad := range []string{
		"garbage!", "Zm9v", "AAAA",
		base64.RawURLEncoding.EncodeToString([]byte("a@b.com\x00not-a-uuid")),
		base64.RawURLEncoding.EncodeToString([]byte("\x00" + uuid.NewString())),
	} {
		if _, _, err := s.List(c, account.Query{Cursor: bad}); !errors.Is(err, account.ErrInvalidCursor) {
			t.Errorf("cursor %q: %v, want ErrInvalidCursor", bad, err)
		}
	}
	if page, next, err := s.List(c, account.Query{EmailPrefix: "nobody"}); err != nil || len(page) != 0 || next != "" || page == nil {
		t.Errorf("empty result: %#v, %q, %v; want an empty non-nil page", page, next, err)
	}
	// No stored email holds a control character, so no email starts with
	// such a prefix; PostgreSQL refuses a NUL in a query parameter, which
	// must not become a store error.
	for _, prefix := range []string{"\x00", "u0\x00", "u\x01", "u0\u0085x", "u\x7f", "\xff"} {
		if page, next, err := s.List(c, account.Query{EmailPrefix: prefix}); err != nil || len(page) != 0 || next != "" || page == nil {
			t.Errorf("prefix %q: %d users, next %q, %v; want an empty non-nil page", prefix, len(page), next, err)
		}
	}
}
