package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// The wrk script sends every user's request, each with its own token and
// path, and only those. Needs wrk (skipped without it: the harness itself
// refuses to run without wrk).
func TestLuaScriptCyclesUsers(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed")
	}
	const users = 50
	var sessions []*userSession
	want := map[string]string{} // Authorization -> path
	for i := range users {
		s := &userSession{user: &loadUser{path: userPath(i)}, access: fmt.Sprintf("tok-%d.%s", i, strings.Repeat("x", 40))}
		sessions = append(sessions, s)
		want["Bearer "+s.access] = s.user.path
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var bad []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		mu.Lock()
		defer mu.Unlock()
		if p, ok := want[auth]; !ok || p != r.URL.Path || r.Header.Get("Accept") != "application/json" {
			bad = append(bad, fmt.Sprintf("%s %q accept %q", r.URL.Path, auth, r.Header.Get("Accept")))
		}
		seen[auth]++
	}))
	defer srv.Close()

	script, err := writeLuaScript(t.TempDir(), "test", sessions)
	if err != nil {
		t.Fatal(err)
	}
	res, out, err := runWrk(context.Background(), wrkOptions{URL: srv.URL + "/ignored", Connections: 4, Threads: 2, Duration: time.Second, Script: script})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("%d unexpected requests, first: %s", len(bad), bad[0])
	}
	if len(seen) != users || res.Requests < users || res.Errors() > 0 {
		t.Errorf("%d distinct users seen of %d, %d requests, %d errors", len(seen), users, res.Requests, res.Errors())
	}
}
