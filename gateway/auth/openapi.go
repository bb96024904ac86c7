package auth

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// OpenAPI is the OpenAPI 3.1 description of every endpoint the gateway
// answers itself (SPEC section 4), served at GET /auth/openapi.json.
// cmd/gateway/openapi_test.go validates the requests and responses of a
// scripted session against it, so that it cannot drift from the handlers.
//
//go:embed openapi.json
var OpenAPI []byte

// openapiDocument serves OpenAPI. The document changes only with the
// binary, so caches may keep it for an hour (this replaces the /auth
// group's no-store).
func (h *Handlers) openapiDocument(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, "application/json", OpenAPI)
}
