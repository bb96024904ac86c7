// Package clientjs serves client.js, the gateway's ES module for front ends
// on the gateway's origin (SPEC section 4, GET /auth/client.js), embedded in
// the binary.
//
// Caching: the module is versioned by the SHA-256 of its bytes, so that a
// browser never runs a stale copy after an upgrade and never downloads an
// unchanged one twice.
//
//   - GET /auth/client.js answers with a strong ETag (the version) and
//     Cache-Control: no-cache: browsers keep the file and revalidate it on
//     every page load (a 304 without body while the gateway is unchanged).
//     This is the URL for applications: it never goes stale.
//   - GET /auth/client/<version>.js answers the same bytes with
//     Cache-Control: public, max-age=31536000, immutable, for applications
//     that pin a version (read it from the ETag); any other version is a
//     404, as a URL named by a hash must never serve other bytes.
package clientjs

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authgate/gateway/gateway/problem"
)

//go:embed client.js
var source []byte

// Paths of the module.
const (
	// Path is the unversioned, revalidated URL.
	Path = "/auth/client.js"
	// versionedRoute is the route of the immutable URLs.
	versionedRoute = "/auth/client/:file"
)

const contentType = "text/javascript; charset=utf-8"

// Handler serves the embedded module.
type Handler struct {
	body    []byte
	version string // hex SHA-256 prefix of body
	etag    string // the version, quoted: a strong validator
}

// New returns the handler of the embedded client.js.
func New() *Handler { return newHandler(source) }

func newHandler(body []byte) *Handler {
	sum := sha256.Sum256(body)
	v := hex.EncodeToString(sum[:])[:20]
	return &Handler{body: body, version: v, etag: `"` + v + `"`}
}

// Version is the module's content hash, as in its ETag and versioned URL.
func (h *Handler) Version() string { return h.version }

// VersionedPath is the immutable URL of this build's module.
func (h *Handler) VersionedPath() string { return "/auth/client/" + h.version + ".js" }

// Register adds GET /auth/client.js and GET /auth/client/:file to e.
func (h *Handler) Register(e *echo.Echo) {
	e.GET(Path, h.serveCurrent)
	e.GET(versionedRoute, h.serveVersioned)
}

func (h *Handler) serveCurrent(c echo.Context) error {
	return h.serve(c, "no-cache")
}

func (h *Handler) serveVersioned(c echo.Context) error {
	if c.Param("file") != h.version+".js" {
		return problem.New(http.StatusNotFound, problem.NotFound, "no client.js of that version; use "+Path)
	}
	return h.serve(c, "public, max-age=31536000, immutable")
}

func (h *Handler) serve(c echo.Context, cacheControl string) error {
	hdr := c.Response().Header()
	hdr.Set("Cache-Control", cacheControl)
	hdr.Set("ETag", h.etag)
	if etagMatch(c.Request().Header.Get("If-None-Match"), h.etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, contentType, h.body)
}

// etagMatch reports whether an If-None-Match value names etag (RFC 9110
// section 13.1.2: weak comparison, "*" matches any current representation).
func etagMatch(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || strings.TrimPrefix(v, "W/") == etag {
			return true
		}
	}
	return false
}
