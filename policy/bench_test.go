package policy

import (
	"fmt"
	"strings"
	"testing"

	casbin "github.com/casbin/casbin/v2"
)

// benchPolicy returns a policy of n p lines shaped like a real one: per
// service, items for its team (a :id line and a collection line), public
// pages for every logged-in user, a contractor deny on billing; teams roll
// up into departments and staff; admins have /api/*.
func benchPolicy(n int) (text string, svc int) {
	var b strings.Builder
	b.WriteString("p, anonymous, /api/health, GET\np, admin, /api/*, *\n")
	lines := 2
	services := (n - 2) / 4
	for i := range services {
		team := i % max(1, services/4)
		fmt.Fprintf(&b, "p, team%d, /api/svc%d/items/:id, (GET)|(PUT)|(DELETE)\n", team, i)
		fmt.Fprintf(&b, "p, team%d, /api/svc%d/items, (GET)|(POST)\n", team, i)
		fmt.Fprintf(&b, "p, authenticated, /api/svc%d/public/*, GET\n", i)
		fmt.Fprintf(&b, "p, contractor, /api/svc%d/billing/*, *, deny\n", i)
		lines += 4
	}
	for ; lines < n; lines++ {
		fmt.Fprintf(&b, "p, filler%d, /filler/%d, GET\n", lines, lines)
	}
	for t := range max(1, services/4) {
		fmt.Fprintf(&b, "g, team%d, dept%d\n", t, t%10)
	}
	for d := range 10 {
		fmt.Fprintf(&b, "g, dept%d, staff\n", d)
	}
	return b.String(), services / 2
}

type benchRequest struct {
	roles        []string
	method, path string
	allow        bool
}

func benchRequests(svc int, services int) []benchRequest {
	team := fmt.Sprintf("team%d", svc%max(1, services/4))
	user := []string{team, "contractor", Authenticated}
	return []benchRequest{
		{user, "PUT", fmt.Sprintf("/api/svc%d/items/42", svc), true},
		{user, "GET", fmt.Sprintf("/api/svc%d/public/docs/index.html", svc), true},
		{user, "GET", fmt.Sprintf("/api/svc%d/billing/2026", svc), false},
		{user, "GET", "/api/elsewhere/x", false},
		{nil, "GET", "/api/health", true},
	}
}

var sizes = []int{20, 200, 2000}

func BenchmarkDecide(b *testing.B) {
	for _, n := range sizes {
		text, svc := benchPolicy(n)
		p := mustParse(b, text)
		if len(p.rules) != n {
			b.Fatalf("%d lines, want %d", len(p.rules), n)
		}
		reqs := benchRequests(svc, (n-2)/4)
		for _, r := range reqs {
			if d := p.Decide(r.roles, r.method, r.path); d.Allow != r.allow {
				b.Fatalf("%s %s: %+v", r.method, r.path, d)
			}
		}
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := &reqs[i%len(reqs)]
				p.Decide(r.roles, r.method, r.path)
				i++
			}
		})
	}
}

func BenchmarkDecideParallel(b *testing.B) {
	text, svc := benchPolicy(2000)
	e := mustParse(b, text)
	reqs := benchRequests(svc, (2000-2)/4)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r := &reqs[i%len(reqs)]
			e.Decide(r.roles, r.method, r.path)
			i++
		}
	})
}

// BenchmarkCasbinEnforce is what Decide replaces: Casbin's Enforce with the
// same model and policy, for a subject holding the same roles.
func BenchmarkCasbinEnforce(b *testing.B) {
	for _, n := range sizes[:2] {
		text, svc := benchPolicy(n)
		f, err := parse("bench.csv", []byte(text))
		if err != nil {
			b.Fatal(err)
		}
		reqs := benchRequests(svc, (n-2)/4)
		// One synthetic subject per request, holding its roles.
		rules := f.casbinRules()
		for i, r := range reqs {
			for _, role := range append(r.roles, Anonymous) {
				rules = append(rules, []string{"g", fmt.Sprint("req", i), role})
			}
		}
		e, err := newCasbin(rules)
		if err != nil {
			b.Fatal(err)
		}
		check := func(e *casbin.Enforcer, i int) bool {
			ok, err := e.Enforce(fmt.Sprint("req", i), reqs[i].path, reqs[i].method)
			if err != nil {
				b.Fatal(err)
			}
			return ok
		}
		for i, r := range reqs {
			if check(e, i) != r.allow {
				b.Fatalf("casbin: %s %s", r.method, r.path)
			}
		}
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				check(e, i%len(reqs))
				i++
			}
		})
	}
}

// BenchmarkLoad is the cost of a reload.
func BenchmarkLoad(b *testing.B) {
	for _, n := range sizes {
		text, _ := benchPolicy(n)
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				mustParse(b, text)
			}
		})
	}
}
