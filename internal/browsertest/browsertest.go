// Package browsertest drives a real headless Chromium from Go tests, through
// chromedp, so that the gateway's hosted pages are tested the way a user
// meets them: real cookies (HttpOnly ones included), real redirects, real
// form posts, real security headers.
//
// New starts one browser per test, headless, with a fresh user-data-dir of
// the test and the flags that keep it quiet (no sandbox, no GPU, no
// background networking, no QUIC, no first-run, no component update, no
// sync). Each NewContext is a separate browser context: its own cookie jar
// and storage, so two contexts are two users or two devices.
//
// Every helper fails the test (t.Fatalf) with a message that names the step,
// the selector and the page's URL, and bounds what it does by StepTimeout, so
// that a hang fails fast instead of running into go test's -timeout panic
// (which skips cleanups and leaves Chromium behind).
//
// When Chromium is missing the test is skipped, or fails when
// GATEWAY_TEST_REQUIRE_SERVICES is set (as CI does). When
// GATEWAY_TEST_SCREENSHOTS names a directory, Screenshot writes full-page
// PNGs into it; otherwise Screenshot does nothing.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/authgate/gateway/internal/testenv"
)

// EnvScreenshots names the directory that Screenshot writes into; unset or
// empty turns screenshots off.
const EnvScreenshots = "GATEWAY_TEST_SCREENSHOTS"

const (
	// StartTimeout bounds the start of the browser and of a new browser
	// context. A loaded CI machine with 2 cores can need several seconds.
	StartTimeout = 60 * time.Second
	// StepTimeout bounds one helper call (a navigation, a wait, a click),
	// unless WithStepTimeout says otherwise.
	StepTimeout = 20 * time.Second
	// pollInterval is how often WaitURL and WaitFunc look again.
	pollInterval = 50 * time.Millisecond
)

// windowWidth and windowHeight are the browser window's size: a laptop
// screen, so that screenshots show the layout most users see.
const (
	windowWidth  = 1280
	windowHeight = 800
)

// Browser is one headless Chromium process of one test.
type Browser struct {
	// ctx is the chromedp context that owns the browser process; its
	// first Run started the browser, and canceling it stops the browser.
	ctx    context.Context
	output *testenv.Buffer
}

// chromiumPaths are where Debian, Ubuntu and Chrome's own packages put the
// browser, tried after the PATH lookups.
var chromiumPaths = []string{
	"/usr/bin/chromium",
	"/usr/bin/chromium-browser",
	"/usr/lib/chromium/chromium",
	"/usr/bin/google-chrome",
	"/usr/bin/google-chrome-stable",
	"/opt/google/chrome/chrome",
}

// FindChromium returns the path of the Chromium (or Chrome) binary, or an
// error naming what it tried.
func FindChromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	for _, p := range chromiumPaths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium on PATH nor in %s", strings.Join(chromiumPaths, ", "))
}

// New starts a headless Chromium for t and stops it at t's cleanup. It skips
// t when Chromium is missing, unless GATEWAY_TEST_REQUIRE_SERVICES is set, in
// which case it fails t.
func New(t testing.TB) *Browser {
	t.Helper()
	path, err := FindChromium()
	if err != nil {
		if testenv.RequireServices() {
			t.Fatalf("browsertest: chromium not found and %s is set: %v", testenv.EnvRequireServices, err)
		}
		t.Skipf("browsertest: chromium not found, skipping (set %s to make this a failure): %v", testenv.EnvRequireServices, err)
	}

	out := &testenv.Buffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(windowWidth, windowHeight),
		chromedp.CombinedOutput(out),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &Browser{ctx: ctx, output: out}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})

	// The first Run starts the browser and binds its life to ctx, so it
	// must not get a timeout of its own: bound it from outside instead.
	if err := bounded(StartTimeout, func() error { return chromedp.Do(ctx) }); err != nil {
		t.Fatalf("browsertest: start %s: %v\nchromium output:\n%s", path, err, out.String())
	}
	return b
}

// NewContext opens a new tab in a new browser context of b: its own cookie
// jar, cache and storage, shared with no other context. It is closed (and its
// browser context disposed of) at t's cleanup. Use the returned context with
// the helpers of this package; use one context from one goroutine.
func (b *Browser) NewContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// As in New: the first Run creates the tab and binds it to ctx.
	if err := bounded(StartTimeout, func() error { return chromedp.Do(ctx) }); err != nil {
		t.Fatalf("browsertest: new browser context: %v\nchromium output:\n%s", err, b.output.String())
	}
	return ctx
}

// bounded runs f and gives up after d. When it gives up, f keeps running
// until the caller's cleanup cancels what it waits on.
func bounded(d time.Duration, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("timed out after %v", d)
	}
}

// stepTimeoutKey is the context key of WithStepTimeout.
type stepTimeoutKey struct{}

// WithStepTimeout returns ctx with d as the bound of each helper call made
// with it (StepTimeout when not set): shorter to prove something does NOT
// happen quickly, longer for a known slow step.
func WithStepTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, stepTimeoutKey{}, d)
}

func stepTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(stepTimeoutKey{}).(time.Duration); ok && d > 0 {
		return d
	}
	return StepTimeout
}

// step runs a with a stepTimeout deadline and fails t with what, the page's
// URL and the error when it fails.
func step[T any](t testing.TB, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	d := stepTimeout(ctx)
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %v: %w", d, err)
		}
		t.Fatalf("browsertest: %s (page %s): %v", what, location(ctx), err)
	}
	return v
}

// location is the page's URL for error messages, or a placeholder when even
// that cannot be read.
func location(ctx context.Context) string {
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	u, err := chromedp.Run(lctx, chromedp.Location())
	if err != nil {
		return "<unknown: " + err.Error() + ">"
	}
	return u
}

// Navigate loads url and waits for the page's load event; it returns the
// response of the final document (after redirects): its Status and Headers.
func Navigate(t testing.TB, ctx context.Context, url string) *network.Response {
	t.Helper()
	resp := step(t, ctx, "navigate to "+url, chromedp.NavigateResponse(url))
	if resp == nil {
		t.Fatalf("browsertest: navigate to %s: no document response", url)
	}
	return resp
}

// Location returns the page's current URL.
func Location(t testing.TB, ctx context.Context) string {
	t.Helper()
	return step(t, ctx, "read location", chromedp.Location())
}

// Fill replaces the value of the first element matching the CSS selector sel
// with value, typing it as a user would (so input events fire).
//
// It empties the field through its value property and types into the
// focused field, rather than chromedp.Clear and chromedp.SendKeys: Clear
// removes the value attribute, and the DOM.attributeModified event that
// follows is applied to chromedp's copy of the node while SendKeys reads
// that node's attributes without its lock (chromedp v0.23.0, query.go), a
// data race that -race reports now and then.
func Fill(t testing.TB, ctx context.Context, sel, value string) {
	t.Helper()
	what := fmt.Sprintf("fill %q", sel)
	step(t, ctx, what, chromedp.WaitVisible(chromedp.CSS(sel)))
	if !step(t, ctx, what, chromedp.Evaluate[bool](fmt.Sprintf(
		`(e => e !== null && (e.value = "", true))(document.querySelector(%s))`, jsString(sel)))) {
		t.Fatalf("browsertest: %s: no such element", what)
	}
	step(t, ctx, what, chromedp.Steps(
		chromedp.Focus(chromedp.CSS(sel)),
		chromedp.KeyEvent(value),
	))
}

// Click clicks the first visible element matching the CSS selector sel. It
// does not wait for a navigation; use ClickNavigate for a link or a submit
// button.
func Click(t testing.TB, ctx context.Context, sel string) {
	t.Helper()
	step(t, ctx, fmt.Sprintf("click %q", sel), chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// ClickNavigate clicks the first visible element matching sel and waits
// until the page it leads to (after redirects) has loaded; it returns that
// document's response. Waiting for the load, not for a selector, is what
// keeps a test from reading the old page that is still shown.
func ClickNavigate(t testing.TB, ctx context.Context, sel string) *network.Response {
	t.Helper()
	resp := step(t, ctx, fmt.Sprintf("click %q and wait for the next page", sel),
		func(ctx context.Context, tgt *chromedp.Target) (*network.Response, error) {
			return chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
		})
	if resp == nil {
		t.Fatalf("browsertest: click %q: no document response", sel)
	}
	return resp
}

// WaitVisible waits until an element matching the CSS selector sel is
// visible.
func WaitVisible(t testing.TB, ctx context.Context, sel string) {
	t.Helper()
	step(t, ctx, fmt.Sprintf("wait for %q to be visible", sel), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Exists reports whether an element matches the CSS selector sel now,
// without waiting.
func Exists(t testing.TB, ctx context.Context, sel string) bool {
	t.Helper()
	return step(t, ctx, fmt.Sprintf("look for %q", sel),
		chromedp.Evaluate[bool](fmt.Sprintf("document.querySelector(%s) !== null", jsString(sel))))
}

// Count returns how many elements match the CSS selector sel now.
func Count(t testing.TB, ctx context.Context, sel string) int {
	t.Helper()
	return step(t, ctx, fmt.Sprintf("count %q", sel),
		chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%s).length", jsString(sel))))
}

// Text returns the visible text of the first element matching sel, waiting
// for it to be visible.
func Text(t testing.TB, ctx context.Context, sel string) string {
	t.Helper()
	return step(t, ctx, fmt.Sprintf("read the text of %q", sel), chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Attr returns the attribute name of the first element matching sel, and
// whether the element has it.
func Attr(t testing.TB, ctx context.Context, sel, name string) (string, bool) {
	t.Helper()
	res := step(t, ctx, fmt.Sprintf("read attribute %s of %q", name, sel),
		chromedp.AttributeValue(chromedp.CSS(sel), name, chromedp.NodeReady))
	return res.Value, res.Exists
}

// Viewport makes the page's viewport width×height CSS pixels of a mobile
// device (the page's meta viewport applies), to see the layout on a small
// screen.
func Viewport(t testing.TB, ctx context.Context, width, height int64) {
	t.Helper()
	step(t, ctx, fmt.Sprintf("set the viewport to %dx%d", width, height),
		chromedp.EmulateViewport(width, height, chromedp.EmulateMobile))
}

// Value returns the current value of the first form field matching sel.
func Value(t testing.TB, ctx context.Context, sel string) string {
	t.Helper()
	return step(t, ctx, fmt.Sprintf("read the value of %q", sel), chromedp.Value(chromedp.CSS(sel), chromedp.NodeReady))
}

// Eval evaluates the JavaScript expression in the page and decodes its
// (JSON) result into T. The hosted pages allow no script of their own; this
// runs through DevTools, which their Content-Security-Policy does not
// govern.
func Eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	return step(t, ctx, "evaluate "+expr, chromedp.Evaluate[T](expr))
}

// Header returns the value of the response header name, in any case; "" if
// absent. Chromium joins repeated headers with "\n".
func Header(resp *network.Response, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// WaitURL polls the page's URL until match accepts it, and fails t with
// the last URL seen after the step timeout.
func WaitURL(t testing.TB, ctx context.Context, desc string, match func(url string) bool) string {
	t.Helper()
	d := stepTimeout(ctx)
	deadline := time.Now().Add(d)
	var last string
	for {
		lctx, cancel := context.WithTimeout(ctx, d)
		u, err := chromedp.Run(lctx, chromedp.Location())
		cancel()
		if err == nil {
			last = u
			if match(u) {
				return u
			}
		} else {
			last = "<error: " + err.Error() + ">"
		}
		if time.Now().After(deadline) {
			t.Fatalf("browsertest: waiting for the URL to be %s: timed out after %v; last URL %s", desc, d, last)
		}
		time.Sleep(pollInterval)
	}
}

// DocumentCookie returns what the page's scripts see as document.cookie:
// HttpOnly cookies are not in it.
func DocumentCookie(t testing.TB, ctx context.Context) string {
	t.Helper()
	return step(t, ctx, "read document.cookie", chromedp.Evaluate[string]("document.cookie"))
}

// Cookies returns the cookies the browser context would send to the page's
// current URL, HttpOnly ones included (read through DevTools, not the page).
func Cookies(t testing.TB, ctx context.Context) []*network.Cookie {
	t.Helper()
	return step(t, ctx, "read cookies", func(ctx context.Context, tgt *chromedp.Target) ([]*network.Cookie, error) {
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
		return res.Cookies, err
	})
}

// Cookie returns the cookie called name from Cookies, or nil.
func Cookie(t testing.TB, ctx context.Context, name string) *network.Cookie {
	t.Helper()
	for _, c := range Cookies(t, ctx) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Screenshot writes a full-page PNG of the page into $GATEWAY_TEST_SCREENSHOTS
// as <name>.png (name is made file-safe). It does nothing when the variable
// is unset or empty, so tests can call it at every page they see.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv(EnvScreenshots)
	if dir == "" {
		return
	}
	png := step(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browsertest: screenshot dir: %v", err)
	}
	file := filepath.Join(dir, fileSafe(name)+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatalf("browsertest: write screenshot: %v", err)
	}
	t.Logf("browsertest: screenshot %s", file)
}

// fileSafe maps name to a file name: letters, digits, '-', '_' and '.' stay,
// everything else becomes '_'.
func fileSafe(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
