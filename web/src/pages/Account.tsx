// The signed-in user's own account: the password, the TOTP second factor and personal API
// tokens.
import { useMemo, useState } from 'preact/hooks';
import { encode } from 'uqr';
import { ConfirmDialog, ErrorBox, notify, Time, type ConfirmRequest } from '../components/common';
import { NewPasswordFields } from '../components/NewPasswordFields';
import { api, type User } from '../lib/api';
import { usePoll } from '../lib/poll';
import { TOKEN_EXPIRY_CHOICES, TOKEN_MAX_DAYS, tokenState, type ApiToken, type CreatedToken } from '../lib/tokens';
import './pages.css';

interface Me extends User {
  totp_enabled?: boolean;
}

async function copyText(text: string, label: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    notify('ok', `${label} copied to the clipboard`);
  } catch (err) {
    notify('error', `Copy failed: ${(err as Error).message}. Select the text and copy it by hand.`);
  }
}

function CopyField({ label, value }: { label: string; value: string }) {
  return (
    <div class="copy-field">
      <code aria-label={label}>{value}</code>
      <button type="button" class="small" onClick={() => void copyText(value, label)}>
        Copy
      </button>
    </div>
  );
}

// ---- password ------------------------------------------------------------------------

// POST /auth/change-password checks the current password (throttled like a login) and
// signs out the user's other sessions. This session stays signed in.
function ChangePasswordSection() {
  const empty = { current: '', next: '', repeated: '' };
  const [form, setForm] = useState(empty);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const body = await api.post<{ message?: string }>('/auth/change-password', {
        current_password: form.current,
        new_password: form.next,
        new_password_confirm: form.repeated,
      });
      setForm(empty);
      setDone(body?.message ?? 'Password changed. Your other sessions have been signed out.');
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="password-title">
      <h2 id="password-title">Change password</h2>
      <form class="form-grid" onSubmit={submit}>
        <label class="wide">
          Current password
          <input
            type="password"
            required
            autocomplete="current-password"
            value={form.current}
            onInput={(e) => setForm({ ...form, current: e.currentTarget.value })}
          />
        </label>
        <NewPasswordFields
          label="New password"
          password={form.next}
          repeated={form.repeated}
          onPassword={(next) => setForm({ ...form, next })}
          onRepeated={(repeated) => setForm({ ...form, repeated })}
        />
        <ErrorBox message={error} />
        {done && (
          <p class="notice wide" role="status">
            {done}
          </p>
        )}
        <div class="wide">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Changing…' : 'Change password'}
          </button>
        </div>
      </form>
    </section>
  );
}

// ---- TOTP ----------------------------------------------------------------------------

// The setup link as a QR code for authenticator apps: black modules on white with the
// quiet zone of four modules that scanners expect, in both themes.
function QrCode({ text, label }: { text: string; label: string }) {
  const { path, size } = useMemo(() => {
    const qr = encode(text, { ecc: 'M', border: 4 });
    const parts: string[] = [];
    qr.data.forEach((row, y) =>
      row.forEach((dark, x) => {
        if (dark) {
          parts.push(`M${x} ${y}h1v1h-1z`);
        }
      }),
    );
    return { path: parts.join(''), size: qr.size };
  }, [text]);
  return (
    <svg class="qr" role="img" aria-label={label} viewBox={`0 0 ${size} ${size}`} width={size * 5} height={size * 5} shape-rendering="crispEdges">
      <rect width={size} height={size} fill="#ffffff" />
      <path d={path} fill="#000000" />
    </svg>
  );
}

function TotpSection() {
  const me = usePoll(() => api.get<Me>('/auth/me'), 60000);
  const [setup, setSetup] = useState<{ secret: string; otpauth_uri: string } | null>(null);
  const [recovery, setRecovery] = useState<string[] | null>(null);
  const [code, setCode] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const call = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
      me.refresh();
    }
  };

  const begin = () =>
    call(async () => {
      setRecovery(null);
      setSetup(await api.post<{ secret: string; otpauth_uri: string }>('/auth/totp/setup'));
    });

  const enable = (event: Event) => {
    event.preventDefault();
    void call(async () => {
      const body = await api.post<{ recovery_codes: string[] }>('/auth/totp/enable', { code: code.trim() });
      setRecovery(body.recovery_codes);
      setSetup(null);
      setCode('');
      notify('ok', 'Two-factor sign-in is on');
    });
  };

  const disable = (event: Event) => {
    event.preventDefault();
    void call(async () => {
      await api.post('/auth/totp/disable', { password });
      setPassword('');
      setRecovery(null);
      notify('ok', 'Two-factor sign-in is off');
    });
  };

  const enabled = me.data?.totp_enabled;
  return (
    <section class="card" aria-labelledby="totp-title">
      <h2 id="totp-title">Two-factor sign-in (TOTP)</h2>
      <ErrorBox message={me.error && `Cannot read your account: ${me.error}`} />
      {me.data && enabled === undefined && <p class="muted">The server does not report whether TOTP is on.</p>}
      {recovery && (
        <div class="notice" role="status">
          <p>
            <strong>Recovery codes.</strong> Each one signs you in once when the authenticator is lost. They are shown only now:
            store them somewhere safe.
          </p>
          <ul class="codes mono">
            {recovery.map((c) => (
              <li key={c}>{c}</li>
            ))}
          </ul>
          <button type="button" class="small" onClick={() => void copyText(recovery.join('\n'), 'Recovery codes')}>
            Copy all
          </button>
        </div>
      )}
      {enabled === false && !setup && (
        <>
          <p>Off. With it on, signing in also asks for a 6-digit code from an authenticator app.</p>
          <button type="button" class="primary" disabled={busy} onClick={() => void begin()}>
            {busy ? 'Preparing…' : 'Set up two-factor sign-in'}
          </button>
        </>
      )}
      {setup && (
        <form class="form-grid" onSubmit={enable}>
          <p class="wide">
            Scan the code with your authenticator app, or type in the key (time-based, SHA-1, 6 digits, 30 s). Then enter
            the code the app shows.
          </p>
          <div class="wide">
            <QrCode text={setup.otpauth_uri} label="QR code of the setup link: scan it with the authenticator app" />
          </div>
          <div class="wide">
            <span class="muted small">Key, to type in by hand</span>
            <CopyField label="TOTP key" value={setup.secret} />
          </div>
          <div class="wide">
            <span class="muted small">Setup link (otpauth URI)</span>
            <CopyField label="Setup link" value={setup.otpauth_uri} />
          </div>
          <label>
            Code from the app
            <input
              inputMode="numeric"
              autocomplete="one-time-code"
              pattern="[0-9]{6}"
              required
              value={code}
              onInput={(e) => setCode(e.currentTarget.value)}
            />
          </label>
          <div class="row">
            <button type="submit" class="primary" disabled={busy}>
              {busy ? 'Checking…' : 'Turn on'}
            </button>
            <button type="button" onClick={() => setSetup(null)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {enabled && (
        <form class="form-grid" onSubmit={disable}>
          <p class="wide">
            <span class="badge state-running">on</span> Signing in asks for a code from your authenticator app.
          </p>
          <label>
            Your password, to turn it off
            <input type="password" required autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          </label>
          <div class="row">
            <button type="submit" class="danger-outline" disabled={busy}>
              {busy ? 'Turning off…' : 'Turn off two-factor sign-in'}
            </button>
          </div>
        </form>
      )}
      <ErrorBox message={error} />
    </section>
  );
}

// ---- API tokens ----------------------------------------------------------------------

function CreateToken({ onCreated }: { onCreated: (token: CreatedToken) => void }) {
  const [name, setName] = useState('');
  const [days, setDays] = useState('30');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await api.post<CreatedToken>('/auth/tokens', { name: name.trim(), expires_in_days: Number(days) });
      setName('');
      onCreated(created);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="form-grid" onSubmit={submit} aria-labelledby="new-token-title">
      <h3 id="new-token-title" class="wide">
        New token
      </h3>
      <label>
        Name
        <input required maxLength={100} placeholder="ci-deploy" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        Expires after
        <select value={days} onChange={(e) => setDays(e.currentTarget.value)}>
          {TOKEN_EXPIRY_CHOICES.filter((d) => d <= TOKEN_MAX_DAYS).map((d) => (
            <option key={d} value={String(d)}>
              {d} days
            </option>
          ))}
        </select>
      </label>
      <ErrorBox message={error} />
      <div>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create token'}
        </button>
      </div>
    </form>
  );
}

function TokensSection() {
  const list = usePoll(() => api.get<{ items: ApiToken[] }>('/auth/tokens'), 60000);
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [busy, setBusy] = useState<number | null>(null);

  const revoke = (token: ApiToken) =>
    setConfirm({
      title: `Revoke ${token.name}`,
      message: `Revoke API token "${token.name}" (${token.prefix}…)? Programs that use it get 401 from then on. This cannot be undone.`,
      confirmLabel: 'Revoke',
      danger: true,
      onConfirm: async () => {
        setBusy(token.id);
        try {
          await api.request('DELETE', `/auth/tokens/${token.id}`);
          notify('ok', `Token "${token.name}" revoked`);
          if (created?.id === token.id) {
            setCreated(null);
          }
        } catch (err) {
          notify('error', `Revoking "${token.name}" failed: ${(err as Error).message}`);
        } finally {
          setBusy(null);
          list.refresh();
        }
      },
    });

  const tokens = list.data?.items ?? [];
  return (
    <section class="card" aria-labelledby="tokens-title">
      <h2 id="tokens-title">API tokens</h2>
      <p class="muted">
        A token acts as you, with your role, in the <code>Authorization: Bearer</code> header of API calls. It cannot create
        tokens or change the second factor.
      </p>
      {created && (
        <div class="notice" role="status">
          <p>
            <strong>Token "{created.name}" created.</strong> Copy it now: it is not shown again.
          </p>
          <CopyField label="New API token" value={created.token} />
          <button type="button" class="link" onClick={() => setCreated(null)}>
            Done, hide it
          </button>
        </div>
      )}
      <ErrorBox message={list.error && `Cannot load your tokens: ${list.error}`} />
      {list.loading && !list.data ? (
        <p class="muted">Loading tokens…</p>
      ) : tokens.length === 0 ? (
        <p class="empty">You have no API tokens.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Starts with</th>
                <th scope="col">State</th>
                <th scope="col" class="hide-narrow">
                  Created
                </th>
                <th scope="col">Expires</th>
                <th scope="col" class="hide-narrow">
                  Last used
                </th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {tokens.map((t) => {
                const state = tokenState(t);
                return (
                  <tr key={t.id} data-token={t.name}>
                    <td>{t.name}</td>
                    <td class="mono">{t.prefix}…</td>
                    <td>
                      <span class={`badge ${state === 'active' ? 'state-running' : 'state-exited'}`}>{state}</span>
                    </td>
                    <td class="hide-narrow">
                      <Time value={t.created_at} />
                    </td>
                    <td>
                      <Time value={t.expires_at} />
                    </td>
                    <td class="hide-narrow">{t.last_used_at ? <Time value={t.last_used_at} /> : 'never'}</td>
                    <td class="actions">
                      {state === 'active' && (
                        <button type="button" class="small danger-outline" disabled={busy === t.id} onClick={() => revoke(t)} aria-label={`Revoke ${t.name}`}>
                          {busy === t.id ? 'Revoking…' : 'Revoke'}
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <CreateToken
        onCreated={(token) => {
          setCreated(token);
          notify('ok', `Token "${token.name}" created`);
          list.refresh();
        }}
      />
      {confirm && <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />}
    </section>
  );
}

export default function Account({ me }: { me: User }) {
  return (
    <section aria-labelledby="account-title" class="stack">
      <div class="page-head">
        <h1 id="account-title">Your account</h1>
        <span class="muted">
          {me.username} · {me.email} · <span class="badge">{me.role}</span>
        </span>
      </div>
      <ChangePasswordSection />
      <TotpSection />
      <TokensSection />
    </section>
  );
}
