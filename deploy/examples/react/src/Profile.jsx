import { useAuth } from './auth.jsx';

/** Profile shows the signed-in user as GET /auth/me returned it. */
export function Profile() {
  const { user } = useAuth();
  return (
    <section aria-labelledby="profile-title">
      <h2 id="profile-title">Your profile (from /auth/me)</h2>
      <dl>
        <dt>Name</dt>
        <dd id="user-name">{user.name || '—'}</dd>
        <dt>Email</dt>
        <dd id="user-email">{user.email}</dd>
        <dt>User id</dt>
        <dd id="user-id">{user.id}</dd>
        <dt>Roles</dt>
        <dd id="user-roles">{user.roles.join(', ') || '—'}</dd>
      </dl>
      <p>
        <a href="/auth/account">Manage your account and sessions</a>
      </p>
    </section>
  );
}
