import { useId, useState } from 'react';
import { login } from '../session.js';
import { useRbee } from '../stores/store.js';

/** Web mode: the queen's API token, kept in this tab's session storage only. */
export function LoginView() {
  const id = useId();
  const { auth, authError } = useRbee((s) => s.connection);
  const [token, setToken] = useState('');
  const checking = auth === 'checking';
  return (
    <main className="login" aria-labelledby={`${id}-h`}>
      <form
        className="card login-card"
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim()) void login(token.trim());
        }}
      >
        <h1 id={`${id}-h`}>
          <img src="./favicon.svg" alt="" width="20" height="20" /> rbee dashboard
        </h1>
        <p className="sub">Sign in with the queen's API token (LLORCH_API_TOKEN). It stays in this browser tab only.</p>
        <div className="field">
          <label htmlFor={`${id}-token`}>API token</label>
          <input
            id={`${id}-token`}
            type="password"
            autoComplete="current-password"
            value={token}
            onChange={(e) => setToken(e.target.value)}
            aria-invalid={auth === 'refused' ? true : undefined}
            aria-describedby={authError ? `${id}-err` : undefined}
            required
          />
        </div>
        {authError ? (
          <p id={`${id}-err`} className="error-text" role="alert" data-testid="login-error">
            {authError}
          </p>
        ) : null}
        <button type="submit" className="primary" disabled={checking || !token.trim()}>
          {checking ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
