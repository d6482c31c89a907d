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

// The longest Retry-After of a 503 that the form waits out by itself before one retry.
const BUSY_RETRY_MAX_SECONDS = 5;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => window.setTimeout(resolve, ms));
}

// Runs a sign-in step, and once more after the Retry-After delay when the server responds
// with 503 because every password-hashing slot is taken (several sign-ins at once on a
// small host). onWait gets the delay in seconds before the retry.
async function withBusyRetry<T>(step: () => Promise<T>, onWait: (seconds: number) => void): Promise<T> {
  try {
    return await step();
  } catch (err) {
    const seconds = err instanceof ApiError && err.status === 503 ? err.retryAfterSeconds : null;
    if (seconds === null || seconds > BUSY_RETRY_MAX_SECONDS) {
      throw err;
    }
    onWait(seconds);
    await sleep(seconds * 1000);
    return step();
  }
}

// Shown over plain HTTP at an address other than localhost: the browser drops the Secure
// refresh cookie there, so the session ends at the next reload.
function InsecureNotice() {
  if (window.isSecureContext) {
    return null;
  }
  return (
    <p class="login-notice" role="note">
      This page is not served over HTTPS, so the browser does not keep the sign-in: every reload returns here. Put InfraMon
      behind a TLS reverse proxy, as the section "TLS with a reverse proxy" of docs/deploy.md describes.
    </p>
  );
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
  const [waitNote, setWaitNote] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const onWait = (seconds: number) => setWaitNote(`The server is busy with other sign-ins; retrying in ${seconds} s…`);
    try {
      if (totpToken) {
        await withBusyRetry(() => api.loginTotp(totpToken, code.trim()), onWait);
        return;
      }
      const result = await withBusyRetry(() => api.login(username.trim(), password), onWait);
      setWaitNote(null);
      if ('totpToken' in result) {
        setTotpToken(result.totpToken);
        setPassword('');
        setBusy(false);
      }
    } catch (err) {
      setWaitNote(null);
      setError(describe(err));
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form class="card login-card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">InfraMon</h1>
        <InsecureNotice />
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
        {waitNote && (
          <p class="muted" role="status">
            {waitNote}
          </p>
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
