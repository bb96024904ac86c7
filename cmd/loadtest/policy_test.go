package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/policy"
)

// The generated policy has the requested size, uses inheritance and
// keyMatch2 parameters, and allows every load user's traffic, which must
// not pass on a catch-all: another team's user is refused the same path.
func TestGeneratedPolicyAllowsTheLoadTraffic(t *testing.T) {
	for _, lines := range []int{200, 2000} {
		text, err := generatePolicy(lines)
		if err != nil {
			t.Fatal(err)
		}
		p, err := policy.Parse("load.csv", strings.NewReader(text))
		if err != nil {
			t.Fatalf("%d lines: %v", lines, err)
		}
		var rows int
		for _, l := range strings.Split(text, "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				rows++
			}
		}
		// Rules are the p lines; the g lines are the role hierarchy.
		if g := policyTeams + policyDepts + 1; rows != lines || len(p.Rules()) != lines-g {
			t.Errorf("%d lines, %d p rules; want %d lines of which %d g", rows, len(p.Rules()), lines, g)
		}
		if w := p.Warnings(); len(w) > 0 {
			t.Errorf("warnings: %v", w)
		}
		for i := range 1000 {
			roles := append(userRoles(i), policy.Authenticated)
			if d := p.Decide(roles, "GET", userPath(i)); !d.Allow {
				t.Fatalf("user %d (roles %v) refused GET %s: %s", i, roles, userPath(i), d.Reason)
			}
			other := []string{fmt.Sprintf("team%d", (i+1)%policyTeams), policy.Authenticated}
			if (i+1)%policyTeams%policyDepts == i%policyTeams%policyDepts && i%2 == 1 {
				continue // same department: reports are shared
			}
			if d := p.Decide(other, "GET", userPath(i)); d.Allow {
				t.Fatalf("roles %v allowed GET %s by %q: the load traffic would not exercise the policy", other, userPath(i), d.Rule)
			}
		}
		if d := p.Decide([]string{"team3", "contractor", policy.Authenticated}, "GET", "/api/svc3/billing/x"); d.Allow {
			t.Errorf("contractor deny not in force: %s", d.Reason)
		}
		if d := p.Decide([]string{"admin", policy.Authenticated}, "POST", "/auth/admin/users"); !d.Allow {
			t.Errorf("the administrator cannot create users: %s", d.Reason)
		}
	}
	if _, err := generatePolicy(50); err == nil {
		t.Error("a policy too small for the teams was generated")
	}
}

// Both deployments' generated configurations load, with the storage,
// hashing and rate limits the harness relies on.
func TestGatewayConfigDeployments(t *testing.T) {
	pg := &storage{databaseURL: "postgres://postgres@127.0.0.1:5432/loadtest_x?sslmode=disable", redisURL: "redis://127.0.0.1:6379/0", keyPrefix: "loadtest-x:"}
	for _, s := range []gatewaySettings{
		{addr: "127.0.0.1:1", upstream: "http://127.0.0.1:2", level: "warn", accessTTL: 30 * time.Second, storage: &storage{}, fastHash: true},
		{addr: "127.0.0.1:1", adminAddr: "127.0.0.1:3", upstream: "http://127.0.0.1:2", level: "info", accessTTL: time.Hour, storage: pg},
	} {
		path := filepath.Join(t.TempDir(), "gateway.yaml")
		if err := os.WriteFile(path, []byte(gatewayConfig(s)), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path, nil)
		if err != nil {
			t.Fatalf("%v\n%s", err, gatewayConfig(s))
		}
		if c.Cookies.Secure || c.Policy.File != "policy.csv" || c.RateLimits.LoginPerAccount.Limit < 1000 || c.Tokens.AccessTTL != s.accessTTL {
			t.Errorf("cookies %+v policy %+v limits %+v ttl %v", c.Cookies, c.Policy, c.RateLimits, c.Tokens.AccessTTL)
		}
		def := config.Default().Passwords
		if s.fastHash != (c.Passwords.MemoryKiB < def.MemoryKiB) {
			t.Errorf("fastHash %v: memory_kib %d", s.fastHash, c.Passwords.MemoryKiB)
		}
		if s.storage.databaseURL != "" {
			if c.Storage.DatabaseURL != pg.databaseURL || c.Storage.Sessions != "redis" || c.Storage.Redis.URL != pg.redisURL || c.Storage.Redis.KeyPrefix != pg.keyPrefix {
				t.Errorf("storage %+v", c.Storage)
			}
		} else if !strings.HasPrefix(c.Storage.DatabaseURL, "sqlite://") || c.Storage.Sessions != "sql" {
			t.Errorf("storage %+v", c.Storage)
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.deploys) != 2 || o.users != 1000 || o.policyLines != 200 || o.mode != "bench" ||
		o.soakDuration != time.Minute || o.soakConc != 1000 || o.soakTTL != 30*time.Second ||
		o.loginClients != 4 || o.refreshClients != 100 {
		t.Errorf("defaults %+v", o)
	}
	for _, bad := range [][]string{{"-mode", "x"}, {"-deploy", "mysql"}, {"-users", "0"}, {"-policy-lines", "10"}, {"-soak-d", "0s"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
