// client.js: the gateway's browser client, served at /auth/client.js.
//
// A dependency-free ES module for front ends served on the gateway's own
// origin. Sessions live in the gateway's HttpOnly cookies (cookie mode), so
// no token ever reaches JavaScript: an expired access cookie is refreshed by
// the gateway at the edge, and a 401 means the session has really ended.
//
//   import { me, login, logout, loginUrl, fetch, onSessionEnd } from '/auth/client.js';
//
// Every request is same-origin with credentials 'same-origin'. The gateway
// refuses unsafe cookie-authenticated requests that a browser marks as
// cross-origin (Sec-Fetch-Site, Origin), so same-origin calls need no CSRF
// token.
//
// createClient({ baseURL, fetch }) builds the same functions against another
// base URL and fetch implementation (Node, tests); in a page, use the named
// exports, which talk to the page's own origin.

const SESSION_ENDED = 'session-ended';

/** AuthError is thrown for an answer that is not a success: it carries the
 * gateway's RFC 9457 problem fields (status, code, detail, errors) and, when
 * rate limited, retryAfter in seconds. */
export class AuthError extends Error {
  constructor(status, problem, retryAfter) {
    const p = problem && typeof problem === 'object' ? problem : {};
    super(p.detail || p.title || `request failed with status ${status}`);
    this.name = 'AuthError';
    this.status = status;
    this.code = typeof p.code === 'string' ? p.code : '';
    this.detail = typeof p.detail === 'string' ? p.detail : '';
    this.errors = p.errors && typeof p.errors === 'object' ? p.errors : {};
    this.retryAfter = retryAfter;
  }
}

/** safeReturnPath returns returnTo when it is a same-origin relative path
 * ("/x", not "//host", "/\host", "http:…" or anything with control
 * characters or backslashes), else "". The gateway validates rd again;
 * this keeps the client from building a link it would refuse. */
export function safeReturnPath(returnTo) {
  if (typeof returnTo !== 'string' || returnTo.length === 0 || returnTo.length > 2048) {
    return '';
  }
  if (returnTo[0] !== '/' || returnTo[1] === '/' || returnTo.includes('\\')) {
    return '';
  }
  for (let i = 0; i < returnTo.length; i++) {
    const c = returnTo.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) {
      return '';
    }
  }
  return returnTo;
}

/** createClient returns the client's functions for the gateway at baseURL
 * ("" = the page's own origin), calling fetchImpl (default: the global
 * fetch). Each client has its own session-end listeners. */
export function createClient({ baseURL = '', fetch: fetchImpl } = {}) {
  const base = String(baseURL).replace(/\/+$/, '');
  const doFetch = fetchImpl || ((input, init) => globalThis.fetch(input, init));
  const events = new EventTarget();

  const url = (path) => base + path;

  // resolve turns a path relative to the origin into a URL on base; other
  // inputs (absolute URLs, Request objects) pass unchanged.
  const resolve = (input) => (typeof input === 'string' && input.startsWith('/') && !input.startsWith('//') ? url(input) : input);

  const sessionEnded = (response) => {
    events.dispatchEvent(new CustomEvent(SESSION_ENDED, { detail: { status: response.status, url: response.url } }));
  };

  const send = (path, init = {}) =>
    doFetch(url(path), {
      ...init,
      credentials: 'same-origin',
      headers: { Accept: 'application/json', ...(init.headers || {}) },
    });

  const fail = async (response) => {
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      // Not JSON (a proxy's error page): the status says enough.
    }
    const ra = Number.parseInt(response.headers.get('Retry-After') || '', 10);
    return new AuthError(response.status, problem, Number.isFinite(ra) ? ra : undefined);
  };

  return {
    /** me resolves to the signed-in user ({id, email, name, roles,
     * created_at}) or null when there is no session (401). Other failures
     * reject with an AuthError. */
    async me() {
      const res = await send('/auth/me');
      if (res.status === 401) {
        return null;
      }
      if (!res.ok) {
        throw await fail(res);
      }
      return res.json();
    },

    /** login signs in with email and password in cookie mode: the gateway
     * sets its HttpOnly cookies and the answer carries no token. Resolves to
     * the user; rejects with an AuthError (code invalid_credentials,
     * rate_limited with retryAfter, validation_failed, …). */
    async login(email, password) {
      const res = await send('/auth/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password, cookie: true }),
      });
      if (!res.ok) {
        throw await fail(res);
      }
      const body = await res.json();
      return body.user;
    },

    /** logout ends this session ({everywhere: true}: every session of the
     * user) and clears the cookies. A session that had already ended (401)
     * counts as logged out. It does not fire session-ended: the caller
     * knows. */
    async logout({ everywhere = false } = {}) {
      const res = await send(everywhere ? '/auth/logout?all=true' : '/auth/logout', { method: 'POST' });
      if (!res.ok && res.status !== 401) {
        throw await fail(res);
      }
    },

    /** loginUrl returns the hosted login page's URL that comes back to
     * returnTo after signing in (default: the current page). A returnTo
     * that is not a same-origin relative path is dropped (the gateway then
     * comes back to "/"). */
    loginUrl(returnTo) {
      let path = returnTo;
      if (path === undefined && globalThis.location) {
        path = globalThis.location.pathname + globalThis.location.search + globalThis.location.hash;
      }
      const rd = safeReturnPath(path);
      return url('/auth/login') + (rd ? '?rd=' + encodeURIComponent(rd) : '');
    },

    /** fetch is the global fetch for calls through the gateway: credentials
     * default to 'same-origin' (the session cookies go along), and a 401
     * answer fires session-ended before it is returned (the session expired
     * or was revoked: the gateway had already tried to refresh it). */
    async fetch(input, init = {}) {
      const res = await doFetch(resolve(input), { credentials: 'same-origin', ...init });
      if (res.status === 401) {
        sessionEnded(res);
      }
      return res;
    },

    /** onSessionEnd calls callback({status, url}) whenever fetch gets a 401,
     * and returns a function that unsubscribes it. */
    onSessionEnd(callback) {
      const listener = (e) => callback(e.detail);
      events.addEventListener(SESSION_ENDED, listener);
      return () => events.removeEventListener(SESSION_ENDED, listener);
    },
  };
}

const client = createClient();

export const me = client.me;
export const login = client.login;
export const logout = client.logout;
export const loginUrl = client.loginUrl;
export const onSessionEnd = client.onSessionEnd;
// Named fetch on purpose: `import { fetch } from '/auth/client.js'` swaps it
// in for the global one in a module.
const clientFetch = client.fetch;
export { clientFetch as fetch };
export default client;
