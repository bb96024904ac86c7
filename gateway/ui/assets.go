package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/authgate/gateway/gateway/problem"
)

//go:embed assets/style.css
var assetFS embed.FS

// asset is the stylesheet under its content-hashed name: a new binary with
// a changed stylesheet has a new name, so browsers may keep any version
// forever.
type asset struct {
	name string // style.<hash>.css
	path string // /auth/assets/style.<hash>.css
	body []byte
}

func loadStylesheet() (asset, error) {
	body, err := assetFS.ReadFile("assets/style.css")
	if err != nil {
		return asset{}, err
	}
	sum := sha256.Sum256(body)
	name := "style." + hex.EncodeToString(sum[:6]) + ".css"
	return asset{name: name, path: pathAssets + name, body: body}, nil
}

// serveAsset answers GET /auth/assets/<name>: the stylesheet under its
// current name, immutable; any other name is 404.
func (p *Pages) serveAsset(c echo.Context) error {
	if c.Param("name") != p.css.name {
		return problem.New(http.StatusNotFound, problem.NotFound, "no such asset")
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", p.css.body)
}
