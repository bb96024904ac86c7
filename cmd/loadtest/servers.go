package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The upstream and the baseline are subcommands of this binary so that each
// runs in its own process (own GOMAXPROCS, own heap, own RSS), like the
// gateway does. Started by the harness (-watch-stdin), they exit when it
// closes their stdin, so that a harness that dies in any way leaves nothing
// behind.

// upstreamBody is the fixed answer of the test upstream: a small JSON
// document, about the size of a typical API response for one item.
var upstreamBody = []byte(`{"id":1,"name":"loadtest item","price":4200,"tags":["a","b","c"],"ok":true}` + "\n")

func runUpstream(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	watch := fs.Bool("watch-stdin", false, "exit when standard input reaches EOF (set by the harness)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	length := strconv.Itoa(len(upstreamBody))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hdr := w.Header()
		hdr["Content-Type"] = []string{"application/json"}
		hdr["Content-Length"] = []string{length}
		_, _ = w.Write(upstreamBody)
	})
	return serveChild(*addr, h, *watch)
}

func runBaseline(args []string) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	target := fs.String("target", "", "upstream URL")
	pool := fs.Bool("pool", false, "give the proxy a BufferPool (ReverseProxy allocates a 32 KiB copy buffer per response without one)")
	watch := fs.Bool("watch-stdin", false, "exit when standard input reaches EOF (set by the harness)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("baseline: bad -target %q", *target)
	}
	return serveChild(*addr, newBaseline(u, *pool), *watch)
}

// newBaseline is the plain reverse proxy the gateway is measured against:
// httputil.ReverseProxy with Rewrite+SetURL and nothing else, on a clone of
// the default transport whose idle pool is large enough for c=1000 (the
// default keeps 2 idle connections per host, which would make every run a
// connection-churn benchmark). With pool, it also recycles its copy
// buffers, the one tuning a careful plain proxy would add.
func newBaseline(target *url.URL, pool bool) http.Handler {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 0 // no global cap
	tr.MaxIdleConnsPerHost = 2048
	tr.IdleConnTimeout = 90 * time.Second
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: tr,
	}
	if pool {
		rp.BufferPool = &bufferPool{sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
	}
	return rp
}

type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) Get() []byte  { return *bp.p.Get().(*[]byte) }
func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }

// serveChild serves h on addr until SIGINT/SIGTERM or, with watchStdin,
// until stdin reaches EOF (the harness went away).
func serveChild(addr string, h http.Handler, watchStdin bool) error {
	if err := requireLoopback(addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// requireLoopback refuses any listen address that is not on loopback: the
// harness must never expose anything.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to listen on %q: loopback addresses only", addr)
	}
	return nil
}
