import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { loadClient } from './gateway.js';

// The session as the app sees it. The tokens stay in the gateway's HttpOnly
// cookies: the app only ever knows the user that /auth/me returns.
const AuthContext = createContext(null);

const browserNavigate = (url) => window.location.assign(url);

/**
 * AuthProvider loads client.js, asks the gateway who is signed in, and keeps
 * the answer current: a 401 on any call made through `api` (client.js's
 * fetch) ends the session in the app too.
 *
 * navigate leaves the app for the gateway's hosted login page (default:
 * window.location.assign); tests pass their own.
 */
export function AuthProvider({ children, navigate = browserNavigate }) {
  const [state, setState] = useState({ status: 'loading', user: null, client: null, error: null });

  useEffect(() => {
    let live = true;
    let unsubscribe = () => {};
    (async () => {
      try {
        const client = await loadClient();
        unsubscribe = client.onSessionEnd(() => {
          if (live) setState((s) => ({ ...s, user: null }));
        });
        const user = await client.me();
        if (live) setState({ status: 'ready', user, client, error: null });
      } catch (error) {
        if (live) setState({ status: 'error', user: null, client: null, error });
      }
    })();
    return () => {
      live = false;
      unsubscribe();
    };
  }, []);

  const { client } = state;

  const signIn = useCallback(
    (returnTo) => {
      // The hosted login page comes back to returnTo (default: this page).
      navigate(client.loginUrl(returnTo));
    },
    [client, navigate],
  );

  const signOut = useCallback(
    async ({ everywhere = false } = {}) => {
      await client.logout({ everywhere });
      setState((s) => ({ ...s, user: null }));
    },
    [client],
  );

  const reload = useCallback(async () => {
    const user = await client.me();
    setState((s) => ({ ...s, user }));
    return user;
  }, [client]);

  const value = useMemo(
    () => ({
      status: state.status,
      error: state.error,
      user: state.user,
      hasRole: (role) => Boolean(state.user && state.user.roles.includes(role)),
      // api calls the backend through the gateway with the session cookies.
      api: (input, init) => client.fetch(input, init),
      signIn,
      signOut,
      reload,
    }),
    [state, client, signIn, signOut, reload],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

/** useAuth returns the session: {status, user, hasRole, api, signIn, signOut, reload}. */
export function useAuth() {
  const auth = useContext(AuthContext);
  if (!auth) {
    throw new Error('useAuth must be used inside <AuthProvider>');
  }
  return auth;
}
