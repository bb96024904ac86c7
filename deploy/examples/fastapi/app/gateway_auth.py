"""Trusting the gateway: FastAPI dependencies that read the identity it sends.

The gateway authenticates every request, decides it against policy.csv, strips
any identity header a client sent, and forwards it here with:

    X-Auth-User-Id      the user's id (UUID)
    X-Auth-User-Email   the user's email
    X-Auth-User-Roles   the user's roles, comma-separated
    X-Auth-Session-Id   the session's id
    X-Auth-Assertion    a JWT with the same claims, signed by the gateway
    X-Request-Id        the request's id (also in the gateway's access log)

Anonymous requests (paths the policy opens to `anonymous`) carry none of them.

Two ways to believe those headers, chosen with GATEWAY_AUTH_MODE:

``assertion`` (default): verify X-Auth-Assertion against the gateway's JWKS
    (``verified_user``). A request that did not come through the gateway has
    no valid assertion, whatever network it came from: no one else holds the
    gateway's private key. The identity is taken from the verified claims, and
    the plain headers must agree with them.

``headers``: trust the network (``header_user``). The headers are believed
    only from the gateway's own address (GATEWAY_PEERS, default loopback), so
    a client that reaches this process directly is refused. This is only as
    strong as the network rule that keeps everyone else away from port 8000.

Either way, bind the backend to loopback or a private network that only the
gateway reaches: the assertion proves who the gateway vouched for, not that
the request is fresh (it is reused for up to half of its lifetime, at most
5 minutes), so someone who could read traffic between the two could replay
it until it expires.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Callable

import jwt
from fastapi import Depends, HTTPException, Request, status

# Header names (the gateway's `headers` section can rename them).
USER_ID = os.environ.get("GATEWAY_HEADER_USER_ID", "X-Auth-User-Id")
USER_EMAIL = os.environ.get("GATEWAY_HEADER_USER_EMAIL", "X-Auth-User-Email")
USER_ROLES = os.environ.get("GATEWAY_HEADER_USER_ROLES", "X-Auth-User-Roles")
SESSION_ID = os.environ.get("GATEWAY_HEADER_SESSION_ID", "X-Auth-Session-Id")
ASSERTION = os.environ.get("GATEWAY_HEADER_ASSERTION", "X-Auth-Assertion")
REQUEST_ID = "X-Request-Id"

# What the assertion must say. GATEWAY_ISSUER is the gateway's tokens.issuer
# (else its server.public_url, else "gateway"); GATEWAY_UPSTREAM is this
# backend's name in the gateway's upstreams (the assertion's audience);
# GATEWAY_ALGORITHM is tokens.algorithm. The algorithm is pinned: the token's
# own header never chooses it.
GATEWAY_URL = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080")
JWKS_URL = os.environ.get("GATEWAY_JWKS_URL", GATEWAY_URL.rstrip("/") + "/.well-known/jwks.json")
ISSUER = os.environ.get("GATEWAY_ISSUER", "gateway")
AUDIENCE = os.environ.get("GATEWAY_UPSTREAM", "api")
ALGORITHM = os.environ.get("GATEWAY_ALGORITHM", "EdDSA")
LEEWAY_SECONDS = 30

AUTH_MODE = os.environ.get("GATEWAY_AUTH_MODE", "assertion")
PEERS = [
    ipaddress.ip_network(p.strip())
    for p in os.environ.get("GATEWAY_PEERS", "127.0.0.1/32,::1/128").split(",")
    if p.strip()
]


@dataclass(frozen=True)
class Identity:
    """The signed-in user, as the gateway established it."""

    user_id: str
    email: str
    roles: tuple[str, ...]
    session_id: str
    request_id: str

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["roles"] = list(self.roles)
        return d


def _unauthenticated(detail: str) -> HTTPException:
    # The gateway refuses anonymous calls to paths that need a user before
    # they get here: reaching this means the request bypassed the gateway or
    # the policy opened the path to anonymous by mistake.
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail)


def _roles(value: str) -> tuple[str, ...]:
    return tuple(r for r in (s.strip() for s in value.split(",")) if r)


def _from_gateway_peer(request: Request) -> bool:
    # request.client is the TCP peer only while uvicorn does not rewrite it
    # from X-Forwarded-For, which it does by default for peers on loopback:
    # run uvicorn with --no-proxy-headers. (Rewritten, it would be the end
    # user's address, and every request would be refused: this fails
    # closed.)
    if request.client is None or not request.client.host:
        return False
    try:
        addr = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(addr in net for net in PEERS)


def header_user(request: Request) -> Identity:
    """The identity headers, believed only from the gateway's address."""
    if not _from_gateway_peer(request):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="requests must come through the gateway (GATEWAY_PEERS; run uvicorn with --no-proxy-headers)",
        )
    h = request.headers
    user_id = h.get(USER_ID, "")
    if not user_id:
        raise _unauthenticated("no identity: the gateway sent this request anonymously")
    return Identity(
        user_id=user_id,
        email=h.get(USER_EMAIL, ""),
        roles=_roles(h.get(USER_ROLES, "")),
        session_id=h.get(SESSION_ID, ""),
        request_id=h.get(REQUEST_ID, ""),
    )


@lru_cache(maxsize=1)
def _jwks_client() -> jwt.PyJWKClient:
    # The key set is cached for 5 minutes (the gateway's JWKS says
    # max-age=300); an unknown kid (a rotation) makes the client fetch it
    # again.
    return jwt.PyJWKClient(JWKS_URL, cache_keys=True, lifespan=300)


def verify_assertion(token: str) -> dict:
    """Verifies an X-Auth-Assertion and returns its claims, or raises
    jwt.PyJWTError. Blocking (it may fetch the JWKS): call it from a sync
    dependency, which FastAPI runs in its thread pool."""
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "JWT":
        # The gateway's access tokens are typ at+jwt: one of them is not an
        # assertion, even though the same key signed it.
        raise jwt.InvalidTokenError("not an assertion (typ)")
    key = _jwks_client().get_signing_key_from_jwt(token).key
    return jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        audience=AUDIENCE,
        issuer=ISSUER,
        leeway=LEEWAY_SECONDS,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )


def verified_user(request: Request) -> Identity:
    """The identity from a verified X-Auth-Assertion; the plain headers must
    say the same (a replayed assertion cannot lend its signature to other
    headers)."""
    token = request.headers.get(ASSERTION, "")
    if not token:
        raise _unauthenticated("no gateway assertion")
    try:
        claims = verify_assertion(token)
    except (jwt.PyJWTError, ValueError) as err:
        # PyJWKClientError (JWKS unreachable, unknown kid) is a PyJWTError too.
        raise _unauthenticated(f"invalid gateway assertion: {err.__class__.__name__}") from None
    ident = Identity(
        user_id=str(claims["sub"]),
        email=str(claims.get("email", "")),
        roles=tuple(str(r) for r in claims.get("roles") or ()),
        session_id=str(claims.get("sid", "")),
        request_id=request.headers.get(REQUEST_ID, ""),
    )
    h = request.headers
    if (
        h.get(USER_ID, "") != ident.user_id
        or h.get(USER_EMAIL, "") != ident.email
        or _roles(h.get(USER_ROLES, "")) != ident.roles
        or h.get(SESSION_ID, "") != ident.session_id
    ):
        raise _unauthenticated("the identity headers do not match the gateway assertion")
    return ident


def current_user(request: Request) -> Identity:
    """The dependency the routes use: GATEWAY_AUTH_MODE picks how the
    gateway is trusted."""
    if AUTH_MODE == "headers":
        return header_user(request)
    return verified_user(request)


def require_role(*roles: str) -> Callable[[Identity], Identity]:
    """A dependency that also needs one of roles. policy.csv already decided
    the request; this is for decisions inside a handler's data. The roles are
    the user's own: the policy's role hierarchy (g lines) is not applied."""

    def dependency(user: Identity = Depends(current_user)) -> Identity:
        if not user.has_role(*roles):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="needs role " + " or ".join(roles))
        return user

    return dependency


if AUTH_MODE not in ("assertion", "headers"):
    raise RuntimeError(f"GATEWAY_AUTH_MODE must be 'assertion' or 'headers', not {AUTH_MODE!r}")
