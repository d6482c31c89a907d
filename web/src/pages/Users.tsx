import { useState } from 'preact/hooks';
import { ConfirmDialog, ErrorBox, Modal, notify, Time, type ConfirmRequest } from '../components/common';
import { NewPasswordFields } from '../components/NewPasswordFields';
import { api, type Role, type User } from '../lib/api';
import { usePoll } from '../lib/poll';
import './pages.css';

interface UserList {
  users: User[];
  total: number;
}

const ROLES: Role[] = ['viewer', 'operator', 'admin'];

function CreateUser({ onCreated }: { onCreated: () => void }) {
  const empty = { username: '', email: '', password: '', password_confirm: '', role: 'viewer' as Role };
  const [form, setForm] = useState(empty);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const field = (name: keyof typeof empty) => ({
    value: form[name],
    onInput: (e: Event) => setForm({ ...form, [name]: (e.currentTarget as HTMLInputElement).value }),
  });

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.post<User>('/users', form);
      notify('ok', `User "${form.username}" created with the ${form.role} role`);
      setForm(empty);
      onCreated();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card form-grid" onSubmit={submit} aria-labelledby="create-user-title">
      <h2 id="create-user-title">New user</h2>
      <label>
        Username
        <input required minLength={3} maxLength={50} pattern="[A-Za-z0-9_\-]+" autocomplete="off" {...field('username')} />
      </label>
      <label>
        Email
        <input type="email" required {...field('email')} />
      </label>
      <NewPasswordFields
        label="Password"
        password={form.password}
        repeated={form.password_confirm}
        onPassword={(password) => setForm({ ...form, password })}
        onRepeated={(password_confirm) => setForm({ ...form, password_confirm })}
      />
      <label>
        Role
        <select value={form.role} onChange={(e) => setForm({ ...form, role: e.currentTarget.value as Role })}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </label>
      <ErrorBox message={error} />
      <div>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create user'}
        </button>
      </div>
    </form>
  );
}

// Sets another user's password through PUT /users/{id}, which also signs that user out
// everywhere. The admin's own password changes on the account page, which requires the
// current one.
function SetPasswordDialog({ user, onClose }: { user: User; onClose: () => void }) {
  const [password, setPassword] = useState('');
  const [repeated, setRepeated] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.request('PUT', `/users/${user.id}`, { password, password_confirm: repeated });
      notify('ok', `Password of "${user.username}" set. Their sessions were signed out.`);
      onClose();
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };

  return (
    <Modal title={`Set the password of ${user.username}`} onClose={onClose}>
      <form class="form-grid" onSubmit={submit}>
        <p class="wide">
          The new password applies at once, and every session of "{user.username}" is signed out. Tell them the new password
          through another channel.
        </p>
        <NewPasswordFields label="New password" password={password} repeated={repeated} onPassword={setPassword} onRepeated={setRepeated} />
        <ErrorBox message={error} />
        <div class="row end wide">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Setting…' : 'Set password'}
          </button>
        </div>
      </form>
    </Modal>
  );
}

export default function Users({ me }: { me: User }) {
  const list = usePoll(() => api.get<UserList>('/users?page_size=100'), 30000);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [busy, setBusy] = useState<number | null>(null);
  const [passwordUser, setPasswordUser] = useState<User | null>(null);

  const run = async (user: User, what: string, call: () => Promise<unknown>) => {
    setBusy(user.id);
    try {
      await call();
      notify('ok', `${what}: done for "${user.username}"`);
    } catch (err) {
      notify('error', `${what} for "${user.username}" failed: ${(err as Error).message}`);
    } finally {
      setBusy(null);
      list.refresh();
    }
  };

  const users = list.data?.users ?? [];
  return (
    <section aria-labelledby="users-title">
      <div class="page-head">
        <h1 id="users-title">Users</h1>
        {list.data && <span class="muted">{list.data.total} in all</span>}
      </div>
      <ErrorBox message={list.error && `Cannot load users: ${list.error}`} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Username</th>
              <th scope="col" class="hide-narrow">
                Email
              </th>
              <th scope="col">Role</th>
              <th scope="col">Status</th>
              <th scope="col" class="hide-narrow">
                Last login
              </th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => {
              const self = u.id === me.id;
              return (
                <tr key={u.id} data-user={u.username}>
                  <td>
                    {u.username}
                    {self && <span class="muted"> (you)</span>}
                  </td>
                  <td class="hide-narrow">{u.email}</td>
                  <td>
                    <select
                      aria-label={`Role of ${u.username}`}
                      value={u.role}
                      disabled={self || busy === u.id}
                      onChange={(e) => {
                        const role = e.currentTarget.value as Role;
                        void run(u, `Role change to ${role}`, () => api.request('PUT', `/users/${u.id}`, { role }));
                      }}
                    >
                      {ROLES.map((r) => (
                        <option key={r} value={r}>
                          {r}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <span class={`badge ${u.is_active ? 'state-running' : 'state-exited'}`}>{u.is_active ? 'active' : 'inactive'}</span>
                  </td>
                  <td class="hide-narrow">{u.last_login_at ? <Time value={u.last_login_at} /> : 'never'}</td>
                  <td class="actions">
                    {!self && (
                      <>
                        {u.is_active ? (
                          <button
                            type="button"
                            class="small"
                            disabled={busy === u.id}
                            onClick={() =>
                              setConfirm({
                                title: `Deactivate ${u.username}`,
                                message: `Deactivate user "${u.username}"? They are signed out at once and cannot sign in until reactivated.`,
                                confirmLabel: 'Deactivate',
                                danger: true,
                                onConfirm: () => void run(u, 'Deactivation', () => api.post(`/users/${u.id}/deactivate`)),
                              })
                            }
                          >
                            Deactivate
                          </button>
                        ) : (
                          <button type="button" class="small" disabled={busy === u.id} onClick={() => void run(u, 'Activation', () => api.post(`/users/${u.id}/activate`))}>
                            Activate
                          </button>
                        )}
                        <button type="button" class="small" disabled={busy === u.id} onClick={() => setPasswordUser(u)}>
                          Set password
                        </button>
                        <button
                          type="button"
                          class="small danger-outline"
                          disabled={busy === u.id}
                          onClick={() =>
                            setConfirm({
                              title: `Delete ${u.username}`,
                              message: `Delete user "${u.username}"? This cannot be undone.`,
                              confirmLabel: 'Delete',
                              danger: true,
                              onConfirm: () => void run(u, 'Deletion', () => api.request('DELETE', `/users/${u.id}`)),
                            })
                          }
                        >
                          Delete
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <CreateUser onCreated={list.refresh} />
      {confirm && <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />}
      {passwordUser && <SetPasswordDialog user={passwordUser} onClose={() => setPasswordUser(null)} />}
    </section>
  );
}
