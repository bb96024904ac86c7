import { useCallback, useEffect, useState } from 'react';
import { useAuth } from './auth.jsx';

/**
 * BackendCall calls the backend through the gateway (GET /api/items) and
 * shows what it answered. The gateway authenticates the call with the
 * session cookie and adds the identity headers the backend reads; the
 * example backend (deploy/examples/fastapi) echoes the identity it saw.
 */
export function BackendCall({ path = '/api/items' }) {
  const { api } = useAuth();
  const [result, setResult] = useState({ state: 'loading' });

  const call = useCallback(async () => {
    setResult({ state: 'loading' });
    try {
      const res = await api(path, { headers: { Accept: 'application/json' } });
      const text = await res.text();
      setResult({ state: 'done', status: res.status, text });
    } catch (err) {
      setResult({ state: 'failed', text: String(err && err.message) });
    }
  }, [api, path]);

  useEffect(() => {
    call();
  }, [call]);

  return (
    <section aria-labelledby="backend-title">
      <h2 id="backend-title">
        The backend (GET <code>{path}</code>)
      </h2>
      {result.state === 'loading' && <p id="backend-loading">Calling the backend…</p>}
      {result.state === 'failed' && (
        <p id="backend-error" role="alert">
          The call failed: {result.text}
        </p>
      )}
      {result.state === 'done' && (
        <>
          <p>
            Status <span id="backend-status">{result.status}</span>
          </p>
          <pre id="backend-response">{pretty(result.text)}</pre>
        </>
      )}
      <button type="button" id="backend-retry" onClick={call}>
        Call again
      </button>
    </section>
  );
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
