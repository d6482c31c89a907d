import { useState } from 'preact/hooks';
import { api, ApiError } from '../lib/api';

function describe(err: unknown): string {
  if (err instanceof ApiError && err.status === 429) {
    return `Too many attempts: ${err.message}`;
  }
  if (err instanceof ApiError && err.status === 403) {
    return `This account cannot sign in: ${err.message}. Ask an administrator to activate it.`;
  }
  return err instanceof Error ? err.message : String(err);
}

// Sign-in: username and password, then a TOTP or recovery code when the account has a
// second factor.
export function Login() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [totpToken, setTotpToken] = useState<string | null>(null);
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (totpToken) {
        await api.loginTotp(totpToken, code.trim());
        return;
      }
      const result = await api.login(username.trim(), password);
      if ('totpToken' in result) {
        setTotpToken(result.totpToken);
        setPassword('');
        setBusy(false);
      }
    } catch (err) {
      setError(describe(err));
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form class="card login-card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">InfraMon</h1>
        {totpToken ? (
          <>
            <p class="muted">Enter the 6-digit code from your authenticator app, or a recovery code.</p>
            <label>
              Code
              <input
                name="code"
                autocomplete="one-time-code"
                inputMode="numeric"
                required
                autofocus
                value={code}
                onInput={(e) => setCode(e.currentTarget.value)}
              />
            </label>
          </>
        ) : (
          <>
            <p class="muted">Sign in to monitor and manage containers.</p>
            <label>
              Username
              <input
                name="username"
                autocomplete="username"
                required
                autofocus
                value={username}
                onInput={(e) => setUsername(e.currentTarget.value)}
              />
            </label>
            <label>
              Password
              <input
                name="password"
                type="password"
                autocomplete="current-password"
                required
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </label>
          </>
        )}
        {error && (
          <p class="error-box" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : totpToken ? 'Verify' : 'Sign in'}
        </button>
        {totpToken && (
          <button
            type="button"
            class="link"
            onClick={() => {
              setTotpToken(null);
              setCode('');
              setError(null);
            }}
          >
            Use another account
          </button>
        )}
      </form>
    </main>
  );
}
