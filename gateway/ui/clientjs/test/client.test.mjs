// Unit tests of client.js against a running gateway, with node:test (no npm
// dependencies). Run by cmd/gateway/clientjs_node_test.go, which starts a
// real gateway and passes, in the environment:
//
//   GATEWAY_URL                         the gateway, e.g. http://127.0.0.1:41234
//   GATEWAY_USER_EMAIL/_PASSWORD        a registered user
//   GATEWAY_USER2_EMAIL/_PASSWORD       another one (logout everywhere)
//   GATEWAY_SECRETS_FILE                where to append every cookie value seen,
//                                       one per line, so that the Go side checks
//                                       that none of them reached a log
//   GATEWAY_ACCESS_TTL_SECONDS          the gateway's tokens.access_ttl
//
// The module under test is the one the gateway serves: it is fetched from
// /auth/client.js and imported from its bytes. Node has no cookie store, so
// each "browser" here is a fetch with a small cookie jar that behaves like a
// browser on the gateway's origin: it keeps Set-Cookie (honouring Max-Age),
// sends the cookies back when credentials allow, and marks every request
// same-origin (Sec-Fetch-Site, and Origin on unsafe methods).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';

const base = mustEnv('GATEWAY_URL');
const user = { email: mustEnv('GATEWAY_USER_EMAIL'), password: mustEnv('GATEWAY_USER_PASSWORD') };
const user2 = { email: mustEnv('GATEWAY_USER2_EMAIL'), password: mustEnv('GATEWAY_USER2_PASSWORD') };
const accessTTL = Number(mustEnv('GATEWAY_ACCESS_TTL_SECONDS'));

function mustEnv(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run this through cmd/gateway's TestClientJSNode`);
  }
  return v;
}

function recordSecret(value) {
  if (value && process.env.GATEWAY_SECRETS_FILE) {
    appendFileSync(process.env.GATEWAY_SECRETS_FILE, value + '\n');
  }
}

/** browser returns a fetch with a cookie jar, and what it saw. */
function browser() {
  const jar = new Map(); // name -> {value, expires (ms) | undefined}
  const seen = { requests: [], setCookies: [], bodies: [] };

  async function jarFetch(input, init = {}) {
    const u = new URL(typeof input === 'string' ? input : input.url, base);
    const method = (init.method || 'GET').toUpperCase();
    const headers = new Headers(init.headers || {});
    const credentials = init.credentials ?? 'same-origin';
    const sameOrigin = u.origin === new URL(base).origin;
    if (sameOrigin) {
      headers.set('Sec-Fetch-Site', 'same-origin');
      if (method !== 'GET' && method !== 'HEAD') {
        headers.set('Origin', new URL(base).origin);
      }
    }
    const now = Date.now();
    const pairs = [];
    for (const [name, c] of jar) {
      if (c.expires !== undefined && c.expires <= now) {
        jar.delete(name);
      } else {
        pairs.push(`${name}=${c.value}`);
      }
    }
    const sendCookies = credentials === 'include' || (credentials === 'same-origin' && sameOrigin);
    if (sendCookies && pairs.length > 0) {
      headers.set('Cookie', pairs.join('; '));
    }
    seen.requests.push({ url: u.href, method, credentials, cookies: sendCookies ? pairs.length : 0 });
    const res = await fetch(u, { ...init, headers, redirect: init.redirect || 'manual' });
    for (const line of res.headers.getSetCookie()) {
      seen.setCookies.push(line);
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      recordSecret(value);
      let expires;
      for (const a of attrs) {
        const [k, v] = a.split('=');
        if (k.toLowerCase() === 'max-age') {
          expires = now + Number(v) * 1000;
        }
      }
      if (value === '' || (expires !== undefined && expires <= now)) {
        jar.delete(name);
      } else {
        jar.set(name, { value, expires });
      }
    }
    seen.bodies.push(res.clone());
    return res;
  }
  return { fetch: jarFetch, jar, seen };
}

// The module as the gateway serves it.
const served = await fetch(base + '/auth/client.js');
const source = await served.text();
const mod = await import('data:text/javascript;base64,' + Buffer.from(source).toString('base64'));

function client(b) {
  return mod.createClient({ baseURL: base, fetch: b.fetch });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('the gateway serves the module: JavaScript, revalidated by a strong ETag, and pinned by version', async () => {
  assert.equal(served.status, 200);
  assert.equal(served.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(served.headers.get('cache-control'), 'no-cache');
  const etag = served.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{20}"$/);

  const again = await fetch(base + '/auth/client.js', { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), '');

  const version = etag.slice(1, -1);
  const pinned = await fetch(`${base}/auth/client/${version}.js`);
  assert.equal(pinned.status, 200);
  assert.equal(pinned.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(await pinned.text(), source);

  const other = await fetch(`${base}/auth/client/${'0'.repeat(20)}.js`);
  assert.equal(other.status, 404);

  for (const name of ['me', 'login', 'logout', 'loginUrl', 'fetch', 'onSessionEnd', 'createClient']) {
    assert.equal(typeof mod[name], 'function', `export ${name}`);
  }
});

test('me() is null without a session', async () => {
  const b = browser();
  assert.equal(await client(b).me(), null);
});

test('login() with a wrong password rejects with the problem code and sets no cookie', async () => {
  const b = browser();
  await assert.rejects(client(b).login(user.email, 'not the password at all'), (err) => {
    assert.ok(err instanceof mod.AuthError);
    assert.equal(err.status, 401);
    assert.equal(err.code, 'invalid_credentials');
    return true;
  });
  assert.equal(b.jar.size, 0);
});

test('login() signs in in cookie mode: HttpOnly cookies, no token in the answer; me() returns the user', async () => {
  const b = browser();
  const c = client(b);
  const u = await c.login(user.email, user.password);
  assert.equal(u.email, user.email);
  assert.ok(Array.isArray(u.roles));

  const [req] = b.seen.requests;
  assert.equal(req.method, 'POST');
  assert.equal(new URL(req.url).pathname, '/auth/login');
  const body = await b.seen.bodies[0].json();
  assert.equal(body.access_token, undefined, 'the login answer must not carry the access token');
  assert.equal(body.refresh_token, undefined, 'the login answer must not carry the refresh token');
  assert.equal(b.seen.setCookies.length, 2);
  for (const line of b.seen.setCookies) {
    assert.match(line, /; HttpOnly/i, line.split('=')[0]);
  }

  const who = await c.me();
  assert.equal(who.id, u.id);
  assert.equal(who.email, user.email);
});

test('fetch() sends the session cookies same-origin and passes answers through; a live session fires nothing', async () => {
  const b = browser();
  const c = client(b);
  await c.login(user.email, user.password);
  let ended = 0;
  const off = c.onSessionEnd(() => ended++);
  const res = await c.fetch('/api/items', { headers: { Accept: 'application/json' } });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'upstream ok');
  const last = b.seen.requests.at(-1);
  assert.equal(last.credentials, 'same-origin');
  assert.ok(last.cookies > 0, 'the session cookies went along');
  assert.equal(ended, 0);
  off();
});

test('the access cookie expires and the gateway refreshes it at the edge: me() and fetch() keep working', async () => {
  const b = browser();
  const c = client(b);
  await c.login(user.email, user.password);
  await sleep((accessTTL + 1) * 1000);
  const who = await c.me();
  assert.ok(who, 'me() after the access cookie expired');
  assert.equal(who.email, user.email);
  const res = await c.fetch('/api/items');
  assert.equal(res.status, 200);
});

test('logout() ends the session: me() is null, fetch() gets 401 and fires session-ended until unsubscribed', async () => {
  const b = browser();
  const c = client(b);
  await c.login(user.email, user.password);
  await c.logout();
  const req = b.seen.requests.at(-1);
  assert.equal(req.method, 'POST');
  assert.equal(new URL(req.url).pathname + new URL(req.url).search, '/auth/logout');
  assert.equal(b.jar.size, 0, 'logout clears the cookies');
  assert.equal(await c.me(), null);

  const events = [];
  const off = c.onSessionEnd((detail) => events.push(detail));
  const res = await c.fetch('/api/items');
  assert.equal(res.status, 401);
  assert.equal(events.length, 1);
  assert.equal(events[0].status, 401);
  off();
  await c.fetch('/api/items');
  assert.equal(events.length, 1, 'no event after unsubscribing');

  // Logging out again (no session any more) is not an error.
  await c.logout();
});

test('logout({everywhere: true}) ends every session of the user, in other browsers too', async () => {
  const laptop = browser();
  const phone = browser();
  const a = client(laptop);
  const p = client(phone);
  await a.login(user2.email, user2.password);
  await p.login(user2.email, user2.password);
  assert.ok(await p.me());

  let ended = 0;
  p.onSessionEnd(() => ended++);
  await a.logout({ everywhere: true });
  const req = laptop.seen.requests.at(-1);
  assert.equal(new URL(req.url).pathname + new URL(req.url).search, '/auth/logout?all=true');

  // Revocation reaches every replica within a second (SPEC section 5).
  const deadline = Date.now() + 3000;
  let res;
  do {
    res = await p.fetch('/api/items');
    if (res.status === 401) {
      break;
    }
    await sleep(50);
  } while (Date.now() < deadline);
  assert.equal(res.status, 401, 'the other browser is signed out');
  assert.equal(ended, 1);
  assert.equal(await p.me(), null);
});

test('loginUrl() keeps only same-origin relative return paths, encoded as the gateway encodes rd', async () => {
  const c = mod.createClient({ baseURL: base });
  const cases = [
    ['/reports/42', '/auth/login?rd=%2Freports%2F42'],
    ['/a?b=1&c=2', '/auth/login?rd=%2Fa%3Fb%3D1%26c%3D2'],
    ['//evil.example/x', '/auth/login'],
    ['/\\evil.example', '/auth/login'],
    ['https://evil.example/', '/auth/login'],
    ['javascript:alert(1)', '/auth/login'],
    ['/x\ny', '/auth/login'],
    ['', '/auth/login'],
    [undefined, '/auth/login'], // Node has no location: no current page
  ];
  for (const [returnTo, want] of cases) {
    assert.equal(c.loginUrl(returnTo), base + want, JSON.stringify(returnTo));
  }
  // The page-origin client builds relative URLs.
  assert.equal(mod.loginUrl('/reports/42'), '/auth/login?rd=%2Freports%2F42');
  // Without returnTo, a page comes back to itself.
  globalThis.location = { pathname: '/reports/42', search: '?tab=2', hash: '#top' };
  try {
    assert.equal(mod.loginUrl(), '/auth/login?rd=%2Freports%2F42%3Ftab%3D2%23top');
  } finally {
    delete globalThis.location;
  }

  // It agrees with the gateway, which sends an anonymous page load to the
  // same URL.
  for (const path of ['/reports/42', '/a?b=1&c=2']) {
    const res = await fetch(base + path, { headers: { Accept: 'text/html' }, redirect: 'manual' });
    assert.equal(res.status, 303, path);
    assert.equal(base + res.headers.get('location'), c.loginUrl(path), path);
  }
});
