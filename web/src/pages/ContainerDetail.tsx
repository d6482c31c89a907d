import { lazy, Suspense } from 'preact/compat';
import { useState } from 'preact/hooks';
import { ConfirmDialog, ErrorBox, notify, StateBadge, Time, type ConfirmRequest } from '../components/common';
import { ACTIONS, confirmText, roleAtLeast, runAction, type Action } from '../lib/actions';
import { api, type Role } from '../lib/api';
import { formatBytes, UNKNOWN } from '../lib/format';
import { usePoll } from '../lib/poll';
import { navigate, onLinkClick } from '../lib/router';
import { Logs } from './Logs';

// xterm is large; it loads only when the Terminal tab opens. The other tabs and the
// filesystem card load on first use too, so the first page stays small.
const Terminal = lazy(() => import('./Terminal'));
const ComposeTab = lazy(() => import('./ComposeTab'));
const ContainerStats = lazy(() => import('./ContainerStats'));
const ContainerProcesses = lazy(() => import('./ContainerProcesses'));
const ContainerFilesystems = lazy(() => import('./ContainerProcesses').then((m) => ({ default: m.ContainerFilesystems })));

interface Detail {
  container_id: string;
  name: string;
  image: string;
  status: string;
  created?: string | null;
  started_at?: string | null;
  finished_at?: string | null;
  exit_code?: number | null;
  restart_count?: number | null;
  restart_policy?: string | { name?: string } | null;
  oom_killed?: boolean;
  command?: string | string[] | null;
  working_dir?: string | null;
  user?: string | null;
  hostname?: string | null;
  tty?: boolean;
  environment?: { name: string; value: string }[];
  labels?: Record<string, string>;
  ports?: { ip?: string; private_port: number; public_port?: number | null; type: string }[];
  mounts?: { type: string; source: string; destination: string; mode: string; rw: boolean }[];
  networks?: { name: string; ip_address?: string; gateway?: string; mac_address?: string }[];
  memory_limit?: number | null;
  cpu_shares?: number | null;
  compose_project?: string | null;
  compose_service?: string | null;
}

type Tab = 'overview' | 'stats' | 'processes' | 'logs' | 'terminal' | 'compose' | 'inspect';

function text(value: unknown): string {
  if (value === null || value === undefined || value === '') {
    return UNKNOWN;
  }
  if (Array.isArray(value)) {
    return value.join(' ');
  }
  if (typeof value === 'object') {
    return (value as { name?: string }).name ?? JSON.stringify(value);
  }
  return String(value);
}

function Overview({ d }: { d: Detail }) {
  const rows: [string, preact.ComponentChildren][] = [
    ['ID', <code>{d.container_id}</code>],
    ['Image', <code>{d.image}</code>],
    ['State', <StateBadge state={d.status} />],
    ['Created', <Time value={d.created} />],
    ['Started', <Time value={d.started_at} />],
    ['Finished', d.status === 'running' ? UNKNOWN : <Time value={d.finished_at} />],
    ['Exit code', text(d.exit_code)],
    ['Restarts', text(d.restart_count)],
    ['Restart policy', text(d.restart_policy)],
    ['Command', <code>{text(d.command)}</code>],
    ['Working folder', text(d.working_dir)],
    ['User', text(d.user)],
    ['Hostname', text(d.hostname)],
    ['Memory limit', d.memory_limit ? formatBytes(d.memory_limit) : 'none'],
    ['Compose', d.compose_project ? `${d.compose_project} / ${d.compose_service ?? UNKNOWN}` : UNKNOWN],
  ];
  return (
    <div class="detail-grid">
      <dl class="card kv">
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      <div class="card">
        <h3>Filesystems</h3>
        <Suspense fallback={<p class="muted">Loading…</p>}>
          <ContainerFilesystems id={d.container_id} status={d.status} />
        </Suspense>
        <h3>Ports</h3>
        {d.ports?.length ? (
          <ul>
            {d.ports.map((p) => (
              <li key={`${p.private_port}/${p.type}`}>
                {p.public_port ? `${p.ip || '0.0.0.0'}:${p.public_port} → ` : ''}
                {p.private_port}/{p.type}
              </li>
            ))}
          </ul>
        ) : (
          <p class="muted">No ports published.</p>
        )}
        <h3>Networks</h3>
        {d.networks?.length ? (
          <ul>
            {d.networks.map((n) => (
              <li key={n.name}>
                {n.name} {n.ip_address && <code>{n.ip_address}</code>}
              </li>
            ))}
          </ul>
        ) : (
          <p class="muted">No networks.</p>
        )}
        <h3>Mounts</h3>
        {d.mounts?.length ? (
          <ul>
            {d.mounts.map((m) => (
              <li key={m.destination}>
                <code>{m.source}</code> → <code>{m.destination}</code> ({m.rw ? 'read-write' : 'read-only'})
              </li>
            ))}
          </ul>
        ) : (
          <p class="muted">No mounts.</p>
        )}
        <h3>Environment</h3>
        {d.environment?.length ? (
          <ul class="mono small">
            {d.environment.map((e) => (
              <li key={e.name}>
                {e.name}={e.value}
              </li>
            ))}
          </ul>
        ) : (
          <p class="muted">No variables.</p>
        )}
      </div>
    </div>
  );
}

function Inspect({ id }: { id: string }) {
  const inspect = usePoll(() => api.get<unknown>(`/containers/${encodeURIComponent(id)}/inspect`), 60000, [id]);
  const json = inspect.data ? JSON.stringify(inspect.data, null, 2) : '';
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(json);
      notify('ok', 'Inspect JSON copied to the clipboard');
    } catch (err) {
      notify('error', `Copy failed: ${(err as Error).message}. Select the text and copy it by hand.`);
    }
  };
  return (
    <div>
      <ErrorBox message={inspect.error} />
      <div class="row">
        <button type="button" onClick={copy} disabled={!json}>
          Copy JSON
        </button>
      </div>
      <pre class="json" tabIndex={0} aria-label="Inspect JSON">
        {inspect.loading ? 'Loading…' : json}
      </pre>
    </div>
  );
}

export function ContainerDetail({ id, role }: { id: string; role: Role }) {
  const canAct = roleAtLeast(role, 'operator');
  const detail = usePoll(() => api.get<Detail>(`/containers/${encodeURIComponent(id)}`), 3000, [id]);
  const [tab, setTab] = useState<Tab>('overview');
  const [busy, setBusy] = useState<Action | null>(null);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const d = detail.data;

  const act = (action: Action) => {
    if (!d) {
      return;
    }
    const go = async () => {
      setBusy(action);
      try {
        const result = await runAction(d.container_id, action);
        notify('ok', result.message || `${ACTIONS[action].label}: done`);
        if (action === 'remove') {
          navigate('/containers');
          return;
        }
      } catch (err) {
        notify('error', `${ACTIONS[action].label} ${d.name} failed: ${(err as Error).message}`);
      } finally {
        setBusy(null);
        detail.refresh();
      }
    };
    if (ACTIONS[action].destructive) {
      setConfirm({ title: `${ACTIONS[action].label} ${d.name}`, message: confirmText(action, [d.name]), confirmLabel: ACTIONS[action].label, danger: true, onConfirm: go });
    } else {
      void go();
    }
  };

  const tabs: [Tab, string][] = [
    ['overview', 'Overview'],
    ['stats', 'Stats'],
    ['processes', 'Processes'],
    ['logs', 'Logs'],
    ...(canAct && d?.status === 'running' ? [['terminal', 'Terminal'] as [Tab, string]] : []),
    ...(d?.compose_project ? [['compose', 'Compose'] as [Tab, string]] : []),
    ['inspect', 'Inspect'],
  ];
  return (
    <section aria-labelledby="detail-title">
      <p>
        <a href="/containers" onClick={onLinkClick}>
          ← Containers
        </a>
      </p>
      <div class="page-head">
        <h1 id="detail-title">{d?.name ?? id}</h1>
        {d && <StateBadge state={d.status} />}
      </div>
      <ErrorBox message={detail.error} />
      {canAct && d && (
        <div class="toolbar" role="group" aria-label="Container actions">
          {(Object.keys(ACTIONS) as Action[])
            .filter((a) => ACTIONS[a].states.includes(d.status))
            .map((a) => (
              <button key={a} type="button" class={ACTIONS[a].destructive ? 'danger-outline' : ''} disabled={busy !== null} onClick={() => act(a)}>
                {busy === a ? `${ACTIONS[a].label}…` : ACTIONS[a].label}
              </button>
            ))}
        </div>
      )}
      <div class="tabs" role="tablist" aria-label="Container views">
        {tabs.map(([key, label]) => (
          <button key={key} type="button" role="tab" aria-selected={tab === key} class={tab === key ? 'tab active' : 'tab'} onClick={() => setTab(key)}>
            {label}
          </button>
        ))}
      </div>
      <div role="tabpanel">
        {tab === 'overview' && (d ? <Overview d={d} /> : detail.loading ? <p class="muted">Loading…</p> : null)}
        {tab === 'stats' && d && (
          <Suspense fallback={<p class="muted">Loading…</p>}>
            <ContainerStats id={id} status={d.status} />
          </Suspense>
        )}
        {tab === 'processes' && d && (
          <Suspense fallback={<p class="muted">Loading…</p>}>
            <ContainerProcesses id={d.container_id} status={d.status} />
          </Suspense>
        )}
        {tab === 'logs' && <Logs id={id} name={d?.name ?? id} />}
        {tab === 'terminal' && canAct && (
          <Suspense fallback={<p class="muted">Loading the terminal…</p>}>
            <Terminal id={d?.container_id ?? id} />
          </Suspense>
        )}
        {tab === 'compose' && (
          <Suspense fallback={<p class="muted">Loading…</p>}>
            <ComposeTab id={id} />
          </Suspense>
        )}
        {tab === 'inspect' && <Inspect id={id} />}
      </div>
      {confirm && <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />}
    </section>
  );
}
