// The boundary between the app and the gateway: the only module that loads
// client.js. Tests replace this module (vi.mock('./gateway.js')).
//
// client.js is served by the gateway at /auth/client.js on the app's own
// origin; it is imported at run time, not bundled (see vite.config.js), so
// the app always runs the client that matches the gateway in front of it.

export const CLIENT_URL = '/auth/client.js';

let loading;

/** loadClient resolves to the client.js module (cached after the first call). */
export function loadClient() {
  if (!loading) {
    loading = import(/* @vite-ignore */ CLIENT_URL).catch((err) => {
      loading = undefined; // let a later call try again
      throw err;
    });
  }
  return loading;
}
