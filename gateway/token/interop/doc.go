// Package interop proves that what gateway/token signs can be verified by an
// independent JOSE implementation, as an upstream would (issue 3, SPEC
// sections 5 and 6). It holds no code: its test issues access tokens and
// X-Auth-Assertion headers for every supported algorithm (EdDSA, ES256,
// RS256, HS256) and has verify.mjs check them with the npm package jose
// under Node.js, against the published JWKS (HS256: the shared secret as an
// "oct" key), and refuse tampered, expired or misdirected ones.
//
// The test needs node on PATH and node_modules installed from the lock file:
//
//	cd gateway/token/interop && npm ci --no-audit --no-fund
//
// .ci/run does that. Without them the test is skipped, or fails when
// GATEWAY_TEST_REQUIRE_SERVICES is set (as in CI).
package interop
