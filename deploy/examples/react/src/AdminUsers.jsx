import { useEffect, useState } from 'react';
import { useAuth } from './auth.jsx';

/**
 * AdminUsers lists accounts through the gateway's admin API
 * (GET /auth/admin/users), which policy.csv opens to the admin role only:
 * hiding the link from other users is a courtesy, the policy is the rule.
 */
export function AdminUsers() {
  const { api } = useAuth();
  const [state, setState] = useState({ users: null, error: null });

  useEffect(() => {
    let live = true;
    (async () => {
      const res = await api('/auth/admin/users?limit=20', { headers: { Accept: 'application/json' } });
      if (!res.ok) {
        if (live) setState({ users: null, error: `the gateway answered ${res.status}` });
        return;
      }
      const body = await res.json();
      if (live) setState({ users: body.users, error: null });
    })().catch((err) => live && setState({ users: null, error: String(err && err.message) }));
    return () => {
      live = false;
    };
  }, [api]);

  return (
    <section aria-labelledby="admin-title">
      <h2 id="admin-title">Users (admin)</h2>
      {state.error && (
        <p id="admin-error" role="alert">
          {state.error}
        </p>
      )}
      {!state.users && !state.error && <p>Loading…</p>}
      {state.users && (
        <ul id="admin-users">
          {state.users.map((u) => (
            <li key={u.id}>
              {u.email} ({u.roles.join(', ') || 'no role'})
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
