package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// userSession is one logged-in load user.
type userSession struct {
	user    *loadUser
	access  string         // API mode: the access token
	refresh string         // API mode: the refresh token
	jar     http.CookieJar // cookie mode: the user's cookies
}

// bootstrapAdmin creates the first administrator with the gateway's own CLI
// (as an operator does on a fresh install), before the gateway serves.
func bootstrapAdmin(ctx context.Context, gwBin, dir, cfgPath string, env []string) (email, pw string, err error) {
	email = "loadtest-admin@example.com"
	pw = rand.Text()
	cmd := exec.CommandContext(ctx, gwBin, "user", "create", "--config", cfgPath,
		"--email", email, "--role", "admin", "--password-stdin")
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdin = strings.NewReader(pw + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("gateway user create (the load-test administrator): %w\n%s", err, out)
	}
	return email, pw, nil
}

// setupClient is the harness's HTTP client for creating users and logging
// them in: enough idle connections for the setup's concurrency.
func setupClient(conc int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conc
	return &http.Client{Timeout: 60 * time.Second, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// createUsers creates n load users through the admin API (POST
// /auth/admin/users, roles per userRoles), conc at a time, as the
// administrator email/pw.
func createUsers(ctx context.Context, base, adminEmail, adminPW string, n, conc int) ([]*loadUser, error) {
	client := setupClient(conc)
	// The administrator's token may expire during a long setup (the soak's
	// access_ttl is 30 s): log in again on 401.
	var mu sync.Mutex
	adminToken := ""
	token := func(stale string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if adminToken != "" && adminToken != stale {
			return adminToken, nil
		}
		s, err := login(ctx, client, base, adminEmail, adminPW, false)
		if err != nil {
			return "", fmt.Errorf("the administrator's login: %w", err)
		}
		adminToken = s.access
		return adminToken, nil
	}
	tag := strings.ToLower(rand.Text()[:6])
	users := make([]*loadUser, n)
	err := parallel(ctx, n, conc, func(i int) error {
		u := &loadUser{
			email:    fmt.Sprintf("load%04d-%s@example.com", i, tag),
			password: rand.Text(),
			roles:    userRoles(i),
			path:     userPath(i),
		}
		body, _ := json.Marshal(map[string]any{"email": u.email, "password": u.password, "name": "load user", "roles": u.roles})
		tok := ""
		for attempt := 0; ; attempt++ {
			var err error
			if tok, err = token(tok); err != nil {
				return err
			}
			status, resp, err := callRetrying(ctx, client, http.MethodPost, base+"/auth/admin/users", body, "Bearer "+tok)
			if err != nil {
				return err
			}
			if status == http.StatusUnauthorized && attempt == 0 {
				continue
			}
			if status != http.StatusCreated {
				return fmt.Errorf("POST /auth/admin/users: status %d: %s", status, resp)
			}
			break
		}
		users[i] = u
		return nil
	})
	return users, err
}

// loginUsers logs every user in through POST /auth/login, conc at a time:
// in API mode (tokens in the body) or cookie mode (tokens in cookies, kept
// in a jar per user). Each session's first request to its user's path must
// answer 200: the policy allows the test traffic.
func loginUsers(ctx context.Context, base string, users []*loadUser, conc int, cookie bool) ([]*userSession, error) {
	client := setupClient(conc)
	out := make([]*userSession, len(users))
	err := parallel(ctx, len(users), conc, func(i int) error {
		s, err := login(ctx, client, base, users[i].email, users[i].password, cookie)
		if err != nil {
			return fmt.Errorf("%s: %w", users[i].email, err)
		}
		s.user = users[i]
		c := client
		authz := "Bearer " + s.access
		if cookie {
			c, authz = &http.Client{Transport: client.Transport, Jar: s.jar, Timeout: client.Timeout, CheckRedirect: client.CheckRedirect}, ""
		}
		status, body, err := call(ctx, c, http.MethodGet, base+s.user.path, nil, authz)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("GET %s as %s (roles %v): status %d, want 200 (the generated policy must allow the test traffic): %s",
				s.user.path, s.user.email, s.user.roles, status, body)
		}
		out[i] = s
		return nil
	})
	return out, err
}

// login is one POST /auth/login.
func login(ctx context.Context, client *http.Client, base, email, pw string, cookie bool) (*userSession, error) {
	body, _ := json.Marshal(map[string]any{"email": email, "password": pw, "cookie": cookie})
	s := &userSession{}
	c := client
	if cookie {
		jar, _ := cookiejar.New(nil)
		s.jar = jar
		c = &http.Client{Transport: client.Transport, Jar: jar, Timeout: client.Timeout, CheckRedirect: client.CheckRedirect}
	}
	status, resp, err := callRetrying(ctx, c, http.MethodPost, base+"/auth/login", body, "")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("POST /auth/login: status %d: %s", status, resp)
	}
	if cookie {
		return s, nil
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(resp, &tok); err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		return nil, fmt.Errorf("POST /auth/login: no tokens in %s", resp)
	}
	s.access, s.refresh = tok.AccessToken, tok.RefreshToken
	return s, nil
}

// callRetrying is call for the setup's hashing requests: a 503
// overloaded (more logins than passwords.max_concurrent hashing slots for
// max_wait, likely on a busy machine) is retried after a second, up to 30
// times. The measurements never retry.
func callRetrying(ctx context.Context, client *http.Client, method, url string, body []byte, authorization string) (int, []byte, error) {
	for attempt := 1; ; attempt++ {
		status, resp, err := call(ctx, client, method, url, body, authorization)
		if err != nil || status != http.StatusServiceUnavailable || attempt == 30 {
			return status, resp, err
		}
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// parallel runs f(0..n-1), conc at a time, and returns the first error
// (the remaining calls are skipped once one failed).
func parallel(ctx context.Context, n, conc int, f func(i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(conc, n)) {
		wg.Go(func() {
			for i := range next {
				if ctx.Err() != nil {
					continue
				}
				if err := f(i); err != nil {
					cancel(err)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// writeLuaScript writes the wrk script cycling through the sessions'
// requests (each user's path with its Bearer token) and the file it reads
// them from. Every thread starts at a different user.
func writeLuaScript(dir, name string, sessions []*userSession) (string, error) {
	var lines strings.Builder
	for _, s := range sessions {
		fmt.Fprintf(&lines, "%s %s\n", s.user.path, s.access)
	}
	data := dir + "/" + name + ".requests"
	if err := os.WriteFile(data, []byte(lines.String()), 0o600); err != nil {
		return "", err
	}
	script := dir + "/" + name + ".lua"
	lua := fmt.Sprintf(`-- generated by cmd/loadtest: cycles through %d users' requests
local file = %q
local reqs = {}
local i = 0
local threads = 0
function setup(thread)
  thread:set("offset", threads)
  threads = threads + 1
end
function init(args)
  for line in io.lines(file) do
    local path, token = line:match("^(%%S+) (%%S+)$")
    reqs[#reqs + 1] = wrk.format("GET", path, {
      ["Host"] = wrk.headers["Host"],
      ["Accept"] = "application/json",
      ["User-Agent"] = "authgate-loadtest/1",
      ["Authorization"] = "Bearer " .. token,
    })
  end
  i = ((offset or 0) * 7919) %% #reqs
end
function request()
  i = i %% #reqs + 1
  return reqs[i]
end
`, len(sessions), data)
	return script, os.WriteFile(script, []byte(lua), 0o600)
}
