import { Link, Route, Routes } from 'react-router-dom';
import { AdminUsers } from './AdminUsers.jsx';
import { AuthButton } from './AuthButton.jsx';
import { BackendCall } from './BackendCall.jsx';
import { Profile } from './Profile.jsx';
import { ProtectedRoute } from './ProtectedRoute.jsx';
import { useAuth } from './auth.jsx';

/** AdminLink is shown to the admin role only. */
export function AdminLink() {
  const { hasRole } = useAuth();
  if (!hasRole('admin')) {
    return null;
  }
  return (
    <Link id="admin-link" to="/admin">
      Administration
    </Link>
  );
}

export function App() {
  return (
    <>
      <header>
        <nav>
          <Link to="/">Home</Link> <AdminLink /> <AuthButton />
        </nav>
      </header>
      <main>
        <Routes>
          <Route
            path="/"
            element={
              <ProtectedRoute>
                <Profile />
                <BackendCall />
              </ProtectedRoute>
            }
          />
          <Route
            path="/admin"
            element={
              <ProtectedRoute role="admin">
                <AdminUsers />
              </ProtectedRoute>
            }
          />
          <Route path="*" element={<p id="not-found">No such page.</p>} />
        </Routes>
      </main>
    </>
  );
}
