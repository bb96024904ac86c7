// Unit tests of the example's auth pieces. client.js is mocked at the
// module boundary (./gateway.js): these tests are about what the app does
// with the session; client.js itself is tested against a real gateway
// (gateway/ui/clientjs/test), and the whole stack in a real browser
// (cmd/gateway/frontend_e2e_test.go).
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { App } from './App.jsx';
import { AuthProvider, useAuth } from './auth.jsx';

const mocks = vi.hoisted(() => ({ client: null, loadError: null }));

vi.mock('./gateway.js', () => ({
  loadClient: () => (mocks.loadError ? Promise.reject(mocks.loadError) : Promise.resolve(mocks.client)),
}));

const alice = { id: 'u-1', email: 'alice@example.com', name: 'Alice', roles: ['user'] };
const root = { id: 'u-2', email: 'root@example.com', name: 'Root', roles: ['admin'] };

/** fakeClient stands in for client.js: the same functions, in memory. */
function fakeClient(user, routes = {}) {
  const listeners = new Set();
  const client = {
    user,
    me: vi.fn(async () => client.user),
    logout: vi.fn(async () => {
      client.user = null;
    }),
    loginUrl: vi.fn((returnTo) => '/auth/login' + (returnTo ? '?rd=' + encodeURIComponent(returnTo) : '')),
    fetch: vi.fn(async (input) => {
      const path = String(input).split('?')[0];
      const route = routes[path];
      if (!route) return new Response('no route', { status: 404 });
      return new Response(JSON.stringify(route.body), { status: route.status ?? 200 });
    }),
    onSessionEnd: vi.fn((cb) => {
      listeners.add(cb);
      return () => listeners.delete(cb);
    }),
    // endSession plays client.js's session-ended event.
    endSession() {
      for (const cb of listeners) cb({ status: 401, url: '/api/items' });
    },
  };
  return client;
}

const backend = {
  '/api/items': { body: { items: [], identity: { user_id: 'u-1', email: 'alice@example.com', roles: ['user'] } } },
  '/auth/admin/users': { body: { users: [alice, root], next_cursor: '' } },
};

function renderApp(path, client) {
  mocks.client = client;
  mocks.loadError = null;
  const navigate = vi.fn();
  render(
    <MemoryRouter initialEntries={[path]}>
      <AuthProvider navigate={navigate}>
        <App />
      </AuthProvider>
    </MemoryRouter>,
  );
  return navigate;
}

const byId = (id) => document.getElementById(id);

afterEach(cleanup);

describe('ProtectedRoute', () => {
  it('sends a visitor without a session to the login page, coming back to the same page', async () => {
    const client = fakeClient(null, backend);
    const navigate = renderApp('/?tab=2', client);
    await waitFor(() => expect(navigate).toHaveBeenCalledWith('/auth/login?rd=%2F%3Ftab%3D2'));
    expect(client.loginUrl).toHaveBeenCalledWith('/?tab=2');
    expect(byId('user-email')).toBeNull();
    expect(client.fetch).not.toHaveBeenCalled();
  });

  it('shows the page to a signed-in user, without a redirect', async () => {
    const navigate = renderApp('/', fakeClient(alice, backend));
    await screen.findByText('alice@example.com');
    expect(navigate).not.toHaveBeenCalled();
  });

  it('refuses a page that needs a role the user lacks, without calling its API', async () => {
    const client = fakeClient(alice, backend);
    renderApp('/admin', client);
    await screen.findByText(/for the admin role/);
    expect(client.fetch).not.toHaveBeenCalledWith(expect.stringContaining('/auth/admin'), expect.anything());
  });

  it('says so when client.js cannot be loaded', async () => {
    mocks.loadError = new Error('Failed to fetch dynamically imported module');
    const navigate = vi.fn();
    render(
      <MemoryRouter>
        <AuthProvider navigate={navigate}>
          <App />
        </AuthProvider>
      </MemoryRouter>,
    );
    await waitFor(() => expect(byId('auth-error')).not.toBeNull());
    expect(byId('auth-error').textContent).toContain('Failed to fetch');
    expect(navigate).not.toHaveBeenCalled();
  });
});

describe('profile and backend', () => {
  it('shows the user from /auth/me', async () => {
    renderApp('/', fakeClient(alice, backend));
    await screen.findByText('alice@example.com');
    expect(byId('user-id').textContent).toBe('u-1');
    expect(byId('user-name').textContent).toBe('Alice');
    expect(byId('user-roles').textContent).toBe('user');
  });

  it('calls the backend through client.js fetch and shows its answer', async () => {
    const client = fakeClient(alice, backend);
    renderApp('/', client);
    await waitFor(() => expect(byId('backend-status')).not.toBeNull());
    expect(client.fetch).toHaveBeenCalledWith('/api/items', expect.any(Object));
    expect(byId('backend-status').textContent).toBe('200');
    expect(JSON.parse(byId('backend-response').textContent)).toEqual(backend['/api/items'].body);
  });

  it('shows a refusal of the backend as it came', async () => {
    renderApp('/', fakeClient(alice, { '/api/items': { status: 403, body: { code: 'forbidden' } } }));
    await waitFor(() => expect(byId('backend-status')).not.toBeNull());
    expect(byId('backend-status').textContent).toBe('403');
    expect(byId('backend-response').textContent).toContain('forbidden');
  });
});

describe('roles', () => {
  it('hides the admin link from a plain user', async () => {
    renderApp('/', fakeClient(alice, backend));
    await screen.findByText('alice@example.com');
    expect(byId('admin-link')).toBeNull();
  });

  it('shows the admin link to an admin, and the admin page lists users', async () => {
    const client = fakeClient(root, backend);
    renderApp('/', client);
    await screen.findByText('root@example.com');
    fireEvent.click(byId('admin-link'));
    await waitFor(() => expect(byId('admin-users')).not.toBeNull());
    expect(byId('admin-users').querySelectorAll('li')).toHaveLength(2);
    expect(client.fetch).toHaveBeenCalledWith('/auth/admin/users?limit=20', expect.any(Object));
  });

  it('picks up a role granted meanwhile when the session is reloaded', async () => {
    const client = fakeClient({ ...alice }, backend);
    let auth;
    function Probe() {
      auth = useAuth();
      return null;
    }
    mocks.client = client;
    render(
      <MemoryRouter>
        <AuthProvider navigate={vi.fn()}>
          <App />
          <Probe />
        </AuthProvider>
      </MemoryRouter>,
    );
    await screen.findByText('alice@example.com');
    expect(byId('admin-link')).toBeNull();
    client.user = { ...alice, roles: ['user', 'admin'] };
    await act(() => auth.reload());
    expect(byId('admin-link')).not.toBeNull();
  });
});

describe('signing out', () => {
  it('the sign-out button ends the session and the protected page goes to the login page', async () => {
    const client = fakeClient({ ...alice }, backend);
    const navigate = renderApp('/', client);
    await screen.findByText('alice@example.com');
    fireEvent.click(byId('logout-button'));
    await waitFor(() => expect(navigate).toHaveBeenCalledWith('/auth/login?rd=%2F'));
    expect(client.logout).toHaveBeenCalledWith({ everywhere: false });
    expect(byId('user-email')).toBeNull();
  });

  it('sign out everywhere asks client.js for every session', async () => {
    const client = fakeClient({ ...alice }, backend);
    renderApp('/', client);
    await screen.findByText('alice@example.com');
    fireEvent.click(byId('logout-all-button'));
    await waitFor(() => expect(client.logout).toHaveBeenCalledWith({ everywhere: true }));
  });

  it('a session ended elsewhere (session-ended) sends the protected page to the login page', async () => {
    const client = fakeClient({ ...alice }, backend);
    const navigate = renderApp('/', client);
    await screen.findByText('alice@example.com');
    act(() => client.endSession());
    await waitFor(() => expect(navigate).toHaveBeenCalledWith('/auth/login?rd=%2F'));
  });

  it('the sign-in button goes to the login page', async () => {
    const client = fakeClient(null, backend);
    const navigate = vi.fn();
    mocks.client = client;
    render(
      <MemoryRouter initialEntries={['/elsewhere']}>
        <AuthProvider navigate={navigate}>
          <App />
        </AuthProvider>
      </MemoryRouter>,
    );
    await waitFor(() => expect(byId('login-button')).not.toBeNull());
    fireEvent.click(byId('login-button'));
    // No returnTo: client.js uses the current page.
    expect(client.loginUrl).toHaveBeenCalledWith(undefined);
    expect(navigate).toHaveBeenCalledWith('/auth/login');
  });
});

describe('useAuth', () => {
  it('refuses to run outside AuthProvider', () => {
    function Orphan() {
      useAuth();
      return null;
    }
    vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(() => render(<Orphan />)).toThrow(/inside <AuthProvider>/);
  });
});
