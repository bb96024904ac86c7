import { useState } from 'react';
import { useAuth } from './auth.jsx';

/** AuthButton signs in through the hosted login page, or signs out. */
export function AuthButton() {
  const { status, user, signIn, signOut } = useAuth();
  const [busy, setBusy] = useState(false);
  if (status !== 'ready') {
    return null;
  }
  if (!user) {
    return (
      <button id="login-button" type="button" onClick={() => signIn()}>
        Sign in
      </button>
    );
  }
  const out = async (everywhere) => {
    setBusy(true);
    try {
      await signOut({ everywhere });
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button id="logout-button" type="button" disabled={busy} onClick={() => out(false)}>
        Sign out
      </button>{' '}
      <button id="logout-all-button" type="button" disabled={busy} onClick={() => out(true)}>
        Sign out everywhere
      </button>
    </>
  );
}
