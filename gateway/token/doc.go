// Package token owns the gateway's signing keys and the JWTs made with them:
// access tokens (SPEC section 5), the X-Auth-Assertion header for upstreams
// (SPEC section 6) and the JWKS (RFC 7517) that publishes the public keys.
//
// Guarantees:
//   - Verification pins the configured algorithm. The token's "alg" header
//     never selects one, so "none", HS256 signed with a public key, or RS256
//     where ES256 is configured are all refused.
//   - A token verifies only against a key of the KeySet, found by its "kid"
//     (the key's RFC 7638 thumbprint); a missing or unknown kid is refused.
//     Header fields that point elsewhere (jku, x5u, jwk, x5c) are never read.
//   - An access token must carry typ "at+jwt" (RFC 9068), kid, iss, aud,
//     exp, iat, sub, sid and jti. A token whose exp lies more than the leeway
//     in the past, or whose nbf or iat lies more than the leeway in the
//     future, is refused. The leeway is at most 30 s (MaxLeeway).
//   - A token whose lifetime (exp - iat) exceeds the configured access TTL
//     is refused as expired, so that lowering tokens.access_ttl cannot let
//     a longer-lived token outlive the revocation view's memory of it
//     (which is sized by the current TTL). Cached verifications obey the
//     same rule: the cache holds only what Verify accepted, and a
//     Verifier's TTL never changes.
//   - Every failure of Verify and VerifyCached is exactly one of
//     ErrTokenExpired (genuine and otherwise valid, but expired: the HTTP
//     layer answers token_expired) or ErrTokenInvalid (everything else). Both
//     wrap the cause for the logs; neither message carries the token.
//   - Input longer than MaxTokenLength, or with a byte outside the base64url
//     alphabet and '.', is refused before any decoding.
//   - The verified-token cache and the assertion cache hold at most their
//     capacity; the verified-token cache is keyed by the SHA-256 of the token
//     (never the token) and an entry never outlives the token's exp.
//   - Key files are written whole or not at all (temporary file + rename),
//     mode 0600, in a directory created with mode 0700.
//
// Revocation is not checked here. A cached or freshly verified result says
// that the token is genuine and unexpired, not that its session lives: the
// HTTP layer checks the session package's revocation view (by sid, by sub and
// iat) after VerifyCached, on every request.
//
// # Key files and rotation
//
// keys_dir holds PKCS#8 PEM private keys named "*.pem" (other names and names
// starting with "." are ignored, which also skips the temporary files of an
// interrupted write and Kubernetes' "..data" links). They are read in
// byte-wise file-name order: the first signs, all of them verify. Every key
// must be of the type the configured algorithm needs (Ed25519 for EdDSA,
// P-256 for ES256, RSA of at least 2048 bits for RS256).
//
// Generate (the CLI's "gateway keys generate") names a key
// "<countdown>-<UTC time>-<alg>.pem", where countdown is 9999999999999 minus
// the Unix time in milliseconds, zero-padded to 13 digits. A newer key
// therefore sorts before every older one and signs as soon as it is loaded;
// the UTC time after it is for people.
//
// A KeySet is loaded once and never changes; a restart (or a new KeySet with
// new Issuer, Verifier and Asserter values) picks up a change to keys_dir.
// With one instance, rotating is: generate into keys_dir, restart, and delete
// the old file after access_ttl + leeway. With several replicas, or upstreams
// that cache the JWKS, rotate in three steps so that nobody meets a kid they
// do not know yet:
//
//  1. Generate the new key and install it in every replica's keys_dir under a
//     name that sorts last, e.g. with a "z-" prefix ("z" sorts after every
//     digit). Roll the replicas: the key now verifies and is in the JWKS, but
//     does not sign. Wait until the upstreams have refreshed their JWKS.
//  2. Rename it without the prefix: it sorts first and signs. Roll the
//     replicas.
//  3. After access_ttl + leeway (and the assertion TTL), delete the old key
//     file and roll the replicas once more: its tokens no longer verify.
//
// LoadOrGenerate generates a key only when keys_dir is missing or holds no
// key file: it is meant for the single-instance default. Replicas sharing a
// directory should be given their keys beforehand with Generate, or two of
// them starting at once could each generate one.
package token
