// The audit log (admin): who did what to which target, with filters, paging and a CSV
// download of the whole filtered selection.
import { useState } from 'preact/hooks';
import { ErrorBox, notify, Time } from '../components/common';
import { api, type User } from '../lib/api';
import { AUDIT_ACTIONS, auditQuery, EMPTY_AUDIT_FILTER, pageCount, type AuditEntry, type AuditFilter, type AuditPage } from '../lib/audit';
import { download } from '../lib/csv';
import { usePoll } from '../lib/poll';
import './pages.css';

const PAGE_SIZE = 50;

function detailsText(entry: AuditEntry): string {
  const parts: string[] = [];
  if (entry.error_message) {
    parts.push(entry.error_message);
  }
  if (entry.details !== null && entry.details !== undefined) {
    parts.push(typeof entry.details === 'string' ? entry.details : JSON.stringify(entry.details));
  }
  return parts.join(' · ');
}

// Shortens a long target id (a container id) to its first 12 characters, as docker does.
function shortTarget(id: string | null): string {
  if (!id) {
    return '';
  }
  return id.length > 24 ? `${id.slice(0, 12)}…` : id;
}

function FilterForm({ users, onApply }: { users: User[]; onApply: (filter: AuditFilter) => void }) {
  const [form, setForm] = useState<AuditFilter>(EMPTY_AUDIT_FILTER);
  const set = (name: keyof AuditFilter) => (e: Event) => setForm({ ...form, [name]: (e.currentTarget as HTMLInputElement).value });

  return (
    <form
      class="filters"
      aria-label="Audit log filters"
      onSubmit={(e) => {
        e.preventDefault();
        onApply(form);
      }}
    >
      <label>
        User
        <select value={form.userId} onChange={set('userId')}>
          <option value="">Every user</option>
          {users.map((u) => (
            <option key={u.id} value={String(u.id)}>
              {u.username}
            </option>
          ))}
        </select>
      </label>
      <label>
        Action (exact)
        <input list="audit-actions" value={form.action} onInput={set('action')} placeholder="container.stop" />
        <datalist id="audit-actions">
          {AUDIT_ACTIONS.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
      </label>
      <label>
        Target id
        <input value={form.target} onInput={set('target')} placeholder="container id, user or token id" />
      </label>
      <label>
        Result
        <select value={form.result} onChange={set('result')}>
          <option value="">Any</option>
          <option value="success">Succeeded</option>
          <option value="failure">Failed</option>
        </select>
      </label>
      <label>
        Since (your zone)
        <input type="datetime-local" step="1" value={form.since} onInput={set('since')} />
      </label>
      <label>
        Until (your zone)
        <input type="datetime-local" step="1" value={form.until} onInput={set('until')} />
      </label>
      <div class="row">
        <button type="submit" class="primary">
          Apply filters
        </button>
        <button
          type="button"
          onClick={() => {
            setForm(EMPTY_AUDIT_FILTER);
            onApply(EMPTY_AUDIT_FILTER);
          }}
        >
          Clear
        </button>
      </div>
    </form>
  );
}

export default function AuditLog() {
  const [filter, setFilter] = useState<AuditFilter>(EMPTY_AUDIT_FILTER);
  const [page, setPage] = useState(1);
  const [downloading, setDownloading] = useState(false);
  const users = usePoll(() => api.get<{ users: User[] }>('/users?page_size=100'), 300000);
  const log = usePoll(() => api.get<AuditPage>(`/audit-logs?${auditQuery(filter, page, PAGE_SIZE)}`), 15000, [filter, page]);

  const total = log.data?.total ?? 0;
  const pages = pageCount(total, PAGE_SIZE);
  const items = log.data?.items ?? [];

  const saveCsv = async () => {
    setDownloading(true);
    try {
      const response = await api.raw(`/audit-logs?${auditQuery(filter, null)}`);
      const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, '-');
      download(`audit-log-${stamp}Z-times-in-UTC.csv`, await response.text(), 'text/csv');
      const count = response.headers.get('X-Total-Count');
      notify('ok', `Audit log downloaded${count ? `: ${count} matching rows` : ''}`);
    } catch (err) {
      notify('error', `Audit log download failed: ${(err as Error).message}`);
    } finally {
      setDownloading(false);
    }
  };

  return (
    <section aria-labelledby="audit-title">
      <div class="page-head">
        <h1 id="audit-title">Audit log</h1>
        {log.data && (
          <span class="muted" role="status">
            {total} matching {total === 1 ? 'entry' : 'entries'}
          </span>
        )}
      </div>
      <FilterForm
        users={users.data?.users ?? []}
        onApply={(next) => {
          setFilter(next);
          setPage(1);
        }}
      />
      <div class="pager">
        <button type="button" disabled={page <= 1} onClick={() => setPage(page - 1)}>
          ← Newer
        </button>
        <span>
          Page {page} of {pages}
        </span>
        <button type="button" disabled={page >= pages} onClick={() => setPage(page + 1)}>
          Older →
        </button>
        <button type="button" disabled={downloading} onClick={() => void saveCsv()}>
          {downloading ? 'Downloading…' : 'Download CSV'}
        </button>
        <span class="muted small">Times in your zone, UTC on hover; the CSV has UTC times.</span>
      </div>
      <ErrorBox message={log.error && `Cannot load the audit log: ${log.error}`} />
      {log.loading && !log.data ? (
        <p class="muted">Loading the audit log…</p>
      ) : items.length === 0 ? (
        <p class="empty">No audit entry matches these filters.</p>
      ) : (
        <div class="table-wrap">
          <table class="audit">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">User</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Result</th>
                <th scope="col" class="hide-narrow">
                  IP address
                </th>
                <th scope="col" class="hide-narrow">
                  Error or details
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.id} data-action={e.action ?? ''}>
                  <td>
                    <Time value={e.timestamp} />
                  </td>
                  <td>{e.username ?? <span class="muted">none</span>}</td>
                  <td class="mono">{e.action}</td>
                  <td class="wrap" title={e.target_id ?? undefined}>
                    {e.target_type && <span class="muted">{e.target_type} </span>}
                    <span class="mono">{shortTarget(e.target_id)}</span>
                  </td>
                  <td>
                    <span class={`badge ${e.success ? 'state-running' : 'state-dead'}`}>{e.success ? 'ok' : 'failed'}</span>
                  </td>
                  <td class="hide-narrow mono">{e.ip_address}</td>
                  <td class="hide-narrow wrap" title={e.user_agent ?? undefined}>
                    {detailsText(e)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
