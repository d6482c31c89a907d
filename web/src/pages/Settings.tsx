// The server's effective configuration (admin), read-only: the server reads it from the
// environment and .env at start, so a change means editing those and restarting.
import { useState } from 'preact/hooks';
import { ErrorBox } from '../components/common';
import { api } from '../lib/api';
import { usePoll } from '../lib/poll';
import { settingSection, SETTING_SECTIONS, type Setting } from '../lib/settings';
import './pages.css';

interface SettingsReply {
  settings: Setting[];
  version: string;
  secret_key_generated: boolean;
}

export default function Settings() {
  const reply = usePoll(() => api.get<SettingsReply>('/settings'), 300000);
  const [filter, setFilter] = useState('');
  const needle = filter.trim().toLowerCase();
  const settings = (reply.data?.settings ?? []).filter((s) => !needle || s.name.toLowerCase().includes(needle) || s.value.toLowerCase().includes(needle));

  return (
    <section aria-labelledby="settings-title">
      <div class="page-head">
        <h1 id="settings-title">Settings</h1>
        {reply.data && <span class="muted">InfraMon {reply.data.version}</span>}
      </div>
      <p class="muted">
        The configuration this server runs with, from its environment, its .env file and the defaults. Secrets show only
        whether they are set. To change a value, edit the environment or .env and restart the server;{' '}
        <code>inframon config</code> prints the same list and checks it.
      </p>
      {reply.data?.secret_key_generated && (
        <div class="error-box" role="alert">
          SECRET_KEY was generated at start (DEBUG=true): every sign-in ends when the server restarts. Set SECRET_KEY to keep
          sessions.
        </div>
      )}
      <ErrorBox message={reply.error && `Cannot load the settings: ${reply.error}`} />
      <div class="toolbar">
        <input type="search" aria-label="Filter settings" placeholder="Filter by name or value" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
      </div>
      {reply.loading && !reply.data ? (
        <p class="muted">Loading settings…</p>
      ) : (
        <div class="stack">
          {SETTING_SECTIONS.map((section) => {
            const rows = settings.filter((s) => settingSection(s.name) === section);
            if (!rows.length) {
              return null;
            }
            return (
              <div class="card" key={section}>
                <h2>{section}</h2>
                <div class="table-wrap">
                  <table class="kv-table" aria-label={`${section} settings`}>
                    <tbody>
                      {rows.map((s) => (
                        <tr key={s.name} data-setting={s.name}>
                          <th scope="row" class="mono">
                            {s.name}
                          </th>
                          <td class={`mono wrap${s.redacted ? ' muted' : ''}`}>{s.value === '' ? <span class="muted">(empty)</span> : s.value}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </div>
            );
          })}
        </div>
      )}
    </section>
  );
}
