package browsertest

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// testSite is a tiny site with a form that signs in by setting an HttpOnly
// cookie and a script-visible one, then redirects (303) to a page that
// shows what the server got.
func testSite(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>form</title>
<form id="f" method="post" action="/submit">
<input name="name" id="name"><button type="submit" id="go">Go</button>
</form><a id="hidden-link" href="/me" style="display:none">me</a>`)
	})
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "secret", Value: "s3cr3t-" + r.FormValue("name"), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.SetCookie(w, &http.Cookie{Name: "visible", Value: "v", Path: "/"})
		http.Redirect(w, r, "/me", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-Test", "yes")
		c, err := r.Cookie("secret")
		who := "anonymous"
		if err == nil {
			who = c.Value
		}
		fmt.Fprintf(w, `<!doctype html><title>me</title><p id="who">%s</p>`, html.EscapeString(who))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestBrowserHelpers(t *testing.T) {
	srv := testSite(t)
	b := New(t)
	a := b.NewContext(t)

	resp := Navigate(t, a, srv.URL+"/form")
	if resp.Status != http.StatusOK {
		t.Fatalf("GET /form: status %d", resp.Status)
	}
	if !Exists(t, a, "form#f") || Exists(t, a, "#nope") {
		t.Fatalf("Exists: form#f should exist, #nope should not")
	}
	Fill(t, a, "#name", "alice")
	resp = ClickNavigate(t, a, "#go")
	if resp.Status != http.StatusOK || resp.Headers["X-Test"] != "yes" {
		t.Fatalf("after submit: status %d, headers %v; want the /me page", resp.Status, resp.Headers)
	}
	WaitURL(t, a, "/me", func(u string) bool { return strings.HasSuffix(u, "/me") })
	if got := Text(t, a, "#who"); got != "s3cr3t-alice" {
		t.Fatalf("#who = %q, want s3cr3t-alice", got)
	}

	// The HttpOnly cookie is in the jar but not in document.cookie.
	c := Cookie(t, a, "secret")
	if c == nil || !c.HTTPOnly || c.Value != "s3cr3t-alice" {
		t.Fatalf("cookie secret = %+v, want HttpOnly s3cr3t-alice", c)
	}
	if dc := DocumentCookie(t, a); dc != "visible=v" {
		t.Fatalf("document.cookie = %q, want only visible=v", dc)
	}

	// A second browser context has its own, empty cookie jar.
	other := b.NewContext(t)
	Navigate(t, other, srv.URL+"/me")
	if got := Text(t, other, "#who"); got != "anonymous" {
		t.Fatalf("second context #who = %q, want anonymous (cookie jars must be separate)", got)
	}
	if n := len(Cookies(t, other)); n != 0 {
		t.Fatalf("second context has %d cookies, want 0", n)
	}

	// Screenshots land in the directory, named as asked.
	dir := t.TempDir()
	t.Setenv(EnvScreenshots, dir)
	Screenshot(t, a, "flow/me page")
	png, err := os.ReadFile(filepath.Join(dir, "flow_me_page.png"))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !strings.HasPrefix(string(png), "\x89PNG\r\n\x1a\n") {
		t.Fatalf("screenshot is not a PNG")
	}
}

// A wait for something that never comes fails the test after the step
// timeout, not at go test's -timeout.
func TestBrowserWaitFailsFast(t *testing.T) {
	srv := testSite(t)
	b := New(t)
	ctx := b.NewContext(t)
	Navigate(t, ctx, srv.URL+"/form")

	ft := &fakeT{TB: t}
	short := WithStepTimeout(ctx, 500*time.Millisecond)
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		WaitVisible(ft, short, "#hidden-link")
	}()
	<-done
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("WaitVisible with a 500ms step timeout took %v", took)
	}
	if !ft.failed || !strings.Contains(ft.msg, "#hidden-link") || !strings.Contains(ft.msg, "timed out") {
		t.Fatalf("WaitVisible of a hidden element: failed=%v msg=%q; want a timeout failure naming the selector", ft.failed, ft.msg)
	}
}

// fakeT records a Fatalf and ends the goroutine as testing.T does.
type fakeT struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
