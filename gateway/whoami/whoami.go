// Package whoami is the demo upstream: it answers every request with what it
// received (method, path, headers), as JSON or, for browsers, as a page. It
// shows a newcomer exactly what an upstream behind the gateway can rely on.
package whoami

import (
	"encoding/json"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// Request is what the upstream received.
type Request struct {
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	Query      string              `json:"query"`
	Host       string              `json:"host"`
	RemoteAddr string              `json:"remote_addr"`
	Identity   map[string]string   `json:"identity"`
	Headers    map[string][]string `json:"headers"`
}

// identityHeaders are shown in their own table: the point of the demo.
var identityHeaders = []string{
	"X-Auth-User-Id", "X-Auth-User-Email", "X-Auth-User-Roles", "X-Auth-Session-Id", "X-Request-Id",
}

// Handler answers every request with a description of it.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, query, _ := strings.Cut(r.RequestURI, "?")
		req := Request{
			Method:     r.Method,
			Path:       path,
			Query:      query,
			Host:       r.Host,
			RemoteAddr: r.RemoteAddr,
			Identity:   map[string]string{},
			Headers:    r.Header,
		}
		for _, h := range identityHeaders {
			if v := r.Header.Get(h); v != "" {
				req.Identity[h] = v
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_ = page.Execute(w, view{Request: req, Names: slices.Sorted(maps.Keys(r.Header))})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(req)
	})
}

type view struct {
	Request
	Names []string
}

var page = template.Must(template.New("whoami").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>whoami — what the upstream sees</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1d2430}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #e3e6eb;vertical-align:top}
th{width:16rem;font-weight:600}code{font:13px ui-monospace,monospace;word-break:break-all}
.none{color:#6b7380}
</style></head><body>
<h1>whoami: the request as the upstream received it</h1>
<p><code>{{.Method}} {{.Path}}{{if .Query}}?{{.Query}}{{end}}</code></p>
<h2>Identity</h2>
{{if .Identity}}<table>{{range $k, $v := .Identity}}<tr><th>{{$k}}</th><td><code>{{$v}}</code></td></tr>{{end}}</table>
{{else}}<p class="none">Anonymous: the gateway sent no identity headers.</p>{{end}}
<h2>All headers</h2>
<table>{{range .Names}}<tr><th>{{.}}</th><td>{{range index $.Headers .}}<code>{{.}}</code><br>{{end}}</td></tr>{{end}}</table>
</body></html>
`))
