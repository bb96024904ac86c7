// Package session keeps the gateway's refresh sessions and tells every
// replica, within a second, which sessions and access tokens are no longer
// good.
//
// It has three parts.
//
// Store (SQLStore on the gateway's SQL database, RedisStore on Redis) holds
// refresh sessions. It guarantees:
//
//   - A refresh token is 32 bytes from crypto/rand, base64url without padding
//     (43 characters), opaque (no session id or user id inside), and stored
//     only as its SHA-256. A fast hash is the right one for a 256-bit random
//     secret: nobody can guess such a secret, so a slow password hash would
//     only cost time on every refresh. The token itself is never stored,
//     logged or put in an error.
//   - Every token a session ever issued stays recorded (hash -> session,
//     generation, issue time) while the session lives, so that a replay of
//     an old token is recognised as theft and not merely refused.
//   - Rotation is atomic per session: two Rotate calls that present the same
//     token can never both advance the generation. Within Options.ReuseGrace
//     of a rotation, the token of the previous generation still gets a fresh
//     sibling token (two tabs, a retried request), without advancing the
//     generation or moving the grace window. Any older token, or the
//     previous one after the grace, revokes the whole session (ErrReused).
//   - A session ends at the first of its idle expiry (extended by each use)
//     and its absolute expiry (login + refresh_max_ttl, never extended).
//
// Feed (SQLFeed, RedisFeed) carries revocation events — a session ended, a
// user's security stamp changed — from the replica where they happen to all
// others, in order, without losing events across reconnects.
//
// View is each replica's in-memory answer to "is this access token still
// good?": it refuses tokens of revoked sessions and tokens whose user stamp
// is older than the user's current one. It does no I/O on the request path;
// StartView keeps it fresh from a Feed. An entry is kept for one access-token
// lifetime plus leeway, after which every token it could refuse has expired
// on its own, so its memory is bounded by the events of one such window.
//
// Use:
//
//	login:    stamp, err := store.UserStamp(ctx, userID) // into the access token,
//	          then read the user's roles (never the other way round: see
//	          Session.UserStamp)
//	          sess, refresh, err := store.Create(ctx, NewSession{...}, now)
//	refresh:  sess, refresh, err := store.Rotate(ctx, token, now)
//	          sess.UserStamp into the access token, then read the roles
//	          ErrReused: audit "reuse detected", then publish the revocation
//	logout:   store.Revoke / store.RevokeUser, then view.Publish(ctx, feed,
//	          Event{Kind: KindSessionRevoked, ...}) for each id
//	roles, disable, password reset: stamp := store.BumpUserStamp, then
//	          view.Publish(ctx, feed, Event{Kind: KindUserStamp, Stamp: stamp})
//	request:  view.Check(sub, sid, stampClaim) — in memory, no I/O;
//	          ErrNotReady (before the first replay) is a 503, never a pass
//	start-up: view, err := StartView(ctx, feed, ViewOptions{AccessTTL: ...});
//	          view.ReadyCheck() in /readyz
//	periodic: SQLStore.Cleanup and SQLFeed.Prune (SQL only; Redis keys
//	          expire by themselves)
//
// Times are kept with millisecond precision (both stores round the same
// way), in UTC.
package session
