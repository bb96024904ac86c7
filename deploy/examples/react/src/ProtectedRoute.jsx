import { useEffect } from 'react';
import { useLocation } from 'react-router-dom';
import { useAuth } from './auth.jsx';

/**
 * ProtectedRoute renders its children for a signed-in user (with role, when
 * given) and sends everyone else to the gateway's login page, which comes
 * back here after signing in.
 *
 * It is a convenience, not the security boundary: the gateway's policy
 * decides every API call whatever the browser shows.
 */
export function ProtectedRoute({ role, children }) {
  const { status, error, user, hasRole, signIn } = useAuth();
  const location = useLocation();
  const returnTo = location.pathname + location.search + location.hash;
  const mustSignIn = status === 'ready' && !user;

  useEffect(() => {
    if (mustSignIn) signIn(returnTo);
  }, [mustSignIn, signIn, returnTo]);

  if (status === 'loading') {
    return <p id="auth-loading">Loading…</p>;
  }
  if (status === 'error') {
    return (
      <p id="auth-error" role="alert">
        Could not reach the gateway: {String(error && error.message)}
      </p>
    );
  }
  if (!user) {
    return <p id="auth-redirect">Redirecting to sign in…</p>;
  }
  if (role && !hasRole(role)) {
    return (
      <p id="forbidden" role="alert">
        This page is for the {role} role.
      </p>
    );
  }
  return children;
}
