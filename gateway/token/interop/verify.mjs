// verify.mjs checks the gateway's tokens with jose, a JOSE implementation
// that shares no code with the gateway (interop_test.go drives it).
//
// Usage: node verify.mjs DIR
//
// DIR/cases.json lists the key sets and the cases:
//
//   {"keySets": ["jwks-EdDSA.json", ...],
//    "cases": [{"name": "...", "token": "FILE", "keys": "FILE", "algorithm": "EdDSA",
//               "issuer": "...", "audience": "...", "typ": "at+jwt", "subject": "...",
//               "requiredClaims": ["exp", ...]}, ...]}
//
// File names are relative to DIR. A key set is a JWKS document (RFC 7517):
// public keys, or for HS256 the shared secret as an "oct" key.
// Each case is verified with jwtVerify against its key set, the algorithm
// pinned to the case's and iss, aud, typ and sub required to be the
// expected ones (jose also checks exp, nbf and iat against the clock).
//
// Output, on stdout, one JSON document:
//
//   {"jose": VERSION, "node": VERSION,
//    "keySets": {FILE: {"keys": N, "kids": [...], "kidMismatches": [...]}},
//    "results": [{"name": "...", "valid": true, "header": {...}, "payload": {...}}
//             or {"name": "...", "valid": false, "code": "ERR_...", "message": "..."}]}
//
// kidMismatches lists the kids that are not the key's RFC 7638 thumbprint
// as jose computes it. A case that fails verification is a result, not an
// error: the exit status is non-zero only when the input cannot be read.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, createLocalJWKSet, importJWK, jwtVerify } from 'jose';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node verify.mjs DIR\n');
  process.exit(2);
}

const readJSON = async (name) => JSON.parse(await readFile(join(dir, name), 'utf8'));

// keyResolver returns jwtVerify's key argument for a JWKS: jose's own
// local key set, which picks the key by kid and alg. That set serves public
// keys only, so a set of shared secrets ("oct", for HS256) is looked up by
// kid here, the same way.
async function keyResolver(jwks) {
  if (jwks.keys.length === 0 || jwks.keys.some((jwk) => jwk.kty !== 'oct')) {
    return createLocalJWKSet(jwks);
  }
  const byKid = new Map();
  for (const jwk of jwks.keys) {
    byKid.set(jwk.kid, { alg: jwk.alg, key: await importJWK(jwk, jwk.alg) });
  }
  return (header) => {
    const entry = byKid.get(header.kid);
    if (!entry || entry.alg !== header.alg) {
      throw Object.assign(new Error('no key in the set matches the header'), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
    }
    return entry.key;
  };
}

// The package does not export its package.json; read the installed copy.
const { version: joseVersion } = JSON.parse(
  await readFile(new URL('./node_modules/jose/package.json', import.meta.url), 'utf8'),
);
const manifest = await readJSON('cases.json');

const keySets = {};
for (const file of manifest.keySets) {
  const jwks = await readJSON(file);
  const kids = [];
  const kidMismatches = [];
  for (const jwk of jwks.keys) {
    kids.push(jwk.kid);
    if ((await calculateJwkThumbprint(jwk, 'sha256')) !== jwk.kid) {
      kidMismatches.push(jwk.kid);
    }
  }
  keySets[file] = { keys: jwks.keys.length, kids, kidMismatches };
}

const results = [];
for (const c of manifest.cases) {
  const token = (await readFile(join(dir, c.token), 'utf8')).trim();
  const getKey = await keyResolver(await readJSON(c.keys));
  try {
    const { payload, protectedHeader } = await jwtVerify(token, getKey, {
      algorithms: [c.algorithm],
      issuer: c.issuer,
      audience: c.audience,
      typ: c.typ,
      subject: c.subject,
      requiredClaims: c.requiredClaims,
    });
    results.push({ name: c.name, valid: true, header: protectedHeader, payload });
  } catch (err) {
    results.push({ name: c.name, valid: false, code: err.code ?? err.name, message: String(err.message) });
  }
}

process.stdout.write(JSON.stringify({ jose: joseVersion, node: process.version, keySets, results }) + '\n');
