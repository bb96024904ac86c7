// Package scope carries what the gateway has established about one request,
// as one typed value in the request context: its id, the client address, the
// authenticated identity and the authorization decision.
//
// The edge middleware creates the Scope once; later stages fill in their
// part (identity, decision, upstream) through the pointer, and the access log
// reads the finished record. Nothing here is ever taken from client headers
// without the edge having decided that it may be.
package scope

import (
	"context"
	"net/http"
	"net/netip"
)

// Identity is an authenticated user as the gateway vouches for it.
type Identity struct {
	UserID    string
	Email     string
	Roles     []string
	SessionID string
}

// Scope is the per-request record.
type Scope struct {
	// RequestID is generated, or taken from a trusted proxy.
	RequestID string
	// ClientIP is the TCP peer, or the first untrusted address of the
	// X-Forwarded-For chain when the peer is a trusted proxy.
	ClientIP netip.Addr
	// PeerTrusted is true when the TCP peer is in server.trusted_proxies.
	PeerTrusted bool
	// Scheme and Host are the ones the client used ("https" only when TLS
	// reached the gateway, or a trusted proxy says so).
	Scheme string
	Host   string

	// Identity is nil for anonymous requests.
	Identity *Identity
	// AccessToken is the verified access token that proved Identity (from
	// the Authorization header or the cookie, or just issued by a
	// transparent refresh). It is forwarded only when
	// tokens.forward_access_token is on, and never logged.
	AccessToken string
	// FreshCredentials is set when the gateway put new credentials on the
	// response (a transparent refresh): a cache must then never store it,
	// whatever the upstream says.
	FreshCredentials bool
	// Route names what answered: an auth endpoint, "proxy:<upstream>",
	// "health"... It is a bounded label, never a raw path.
	Route string
	// Upstream is the configured name of the upstream whose prefix the
	// path matched, set as soon as the request is routed to it: also when
	// the policy then refuses it (Decision says whether it went on). ""
	// for the gateway's own answers.
	Upstream string
	// Decision is "allow" or "deny" once the policy has decided; Rule is
	// the policy line that decided.
	Decision string
	Rule     string
}

type key struct{}

// With returns a context carrying s.
func With(ctx context.Context, s *Scope) context.Context {
	return context.WithValue(ctx, key{}, s)
}

// From returns the Scope of ctx, or nil when the request did not pass the
// edge (which only happens in tests of an inner stage).
func From(ctx context.Context) *Scope {
	s, _ := ctx.Value(key{}).(*Scope)
	return s
}

// Of is From(r.Context()).
func Of(r *http.Request) *Scope { return From(r.Context()) }
