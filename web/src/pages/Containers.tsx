import { lazy, Suspense } from 'preact/compat';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ConfirmDialog, ErrorBox, Modal, notify, StateBadge, Time, type ConfirmRequest } from '../components/common';
import { LiveMarker } from '../components/LiveMarker';
import { ACTIONS, confirmText, roleAtLeast, runAction, runBulk, type Action } from '../lib/actions';
import type { Role } from '../lib/api';
import { api } from '../lib/api';
import { download, toCsv } from '../lib/csv';
import { formatBytes, formatPercent, UNKNOWN } from '../lib/format';
import { containerListPath, groupFromSearch, type Group } from '../lib/groups';
import { usePoll } from '../lib/poll';
import { onLinkClick } from '../lib/router';
import type { BulkResponse, Container, ContainerList } from '../lib/types';

// The history and compare view loads when it first opens.
const CompareHistory = lazy(() => import('./CompareHistory'));

type SortKey = 'name' | 'status' | 'image' | 'cpu' | 'memory' | 'created';

const STATES = ['running', 'paused', 'restarting', 'exited', 'created', 'dead'];
const NO_PROJECT = '\u0000none';

function createdSeconds(c: Container): number {
  if (typeof c.created === 'number') {
    return c.created;
  }
  const t = Date.parse(String(c.created ?? ''));
  return Number.isNaN(t) ? 0 : t / 1000;
}

// Unknown figures sort last in either direction, because they are not small values.
function compareNullable(a: number | null | undefined, b: number | null | undefined, dir: number): number {
  const aKnown = typeof a === 'number';
  const bKnown = typeof b === 'number';
  if (!aKnown && !bKnown) {
    return 0;
  }
  if (!aKnown || !bKnown) {
    return aKnown ? -1 : 1;
  }
  return (a - b) * dir;
}

function sortContainers(list: Container[], key: SortKey, dir: number): Container[] {
  return [...list].sort((a, b) => {
    switch (key) {
      case 'cpu':
        return compareNullable(a.cpu_usage, b.cpu_usage, dir);
      case 'memory':
        return compareNullable(a.memory_usage, b.memory_usage, dir);
      case 'created':
        return (createdSeconds(a) - createdSeconds(b)) * dir;
      default:
        return String(a[key] ?? '').localeCompare(String(b[key] ?? '')) * dir;
    }
  });
}

function portsText(c: Container): string {
  return (c.ports ?? [])
    .map((p) => (p.public_port ? `${p.public_port}→${p.private_port}/${p.type}` : `${p.private_port}/${p.type}`))
    .join(' ');
}

export function exportCsv(list: Container[]): string {
  return toCsv(
    ['id', 'name', 'image', 'state', 'status', 'cpu_percent_of_one_core', 'memory_bytes', 'memory_limit_bytes', 'compose_project', 'ports', 'created_utc'],
    list.map((c) => [
      c.container_id,
      c.name,
      c.image,
      c.status,
      c.state_text,
      c.cpu_usage,
      c.memory_usage,
      c.memory_limit,
      c.compose_project,
      portsText(c),
      createdSeconds(c) ? new Date(createdSeconds(c) * 1000).toISOString() : '',
    ]),
  );
}

function emptyText(total: number, groupId: number | null): string {
  if (total > 0) {
    return 'No container matches the search and filters.';
  }
  if (groupId) {
    return 'No container of this group exists right now.';
  }
  return 'The engine reports no containers.';
}

function PortLinks({ c }: { c: Container }) {
  const ports = c.ports ?? [];
  if (!ports.length) {
    return <span class="muted">{UNKNOWN}</span>;
  }
  return (
    <>
      {ports.map((p) =>
        p.public_port && p.type === 'tcp' ? (
          <a key={`${p.public_port}/${p.type}`} class="port" href={`http://${location.hostname}:${p.public_port}/`} target="_blank" rel="noopener noreferrer">
            {p.public_port}→{p.private_port}
          </a>
        ) : (
          <span key={`${p.private_port}/${p.type}`} class="port muted">
            {p.private_port}/{p.type}
          </span>
        ),
      )}
    </>
  );
}

export function Containers({ role }: { role: Role }) {
  const canAct = roleAtLeast(role, 'operator');
  const [groupId, setGroupId] = useState<number | null>(() => groupFromSearch(location.search));
  const list = usePoll(() => api.get<ContainerList>(containerListPath(groupId)), 3000, [groupId]);
  const groups = usePoll(() => api.get<Group[]>('/groups'), 30000);
  const [search, setSearch] = useState('');
  const [state, setState] = useState('');
  const [project, setProject] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; dir: number }>({ key: 'name', dir: 1 });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [pending, setPending] = useState<Set<string>>(new Set());
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [bulkResult, setBulkResult] = useState<{ action: Action; body: BulkResponse } | null>(null);
  const [comparing, setComparing] = useState(false);
  const searchRef = useRef<HTMLInputElement>(null);
  const tableRef = useRef<HTMLTableSectionElement>(null);

  // Keep the chosen group in the address bar, so that the filtered list can be linked.
  useEffect(() => {
    history.replaceState(null, '', groupId ? `/containers?group=${groupId}` : '/containers');
  }, [groupId]);

  // "/" focuses the search box unless the user is typing somewhere already.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement;
      if (event.key === '/' && !['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName)) {
        event.preventDefault();
        searchRef.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const all = list.data?.data.containers ?? [];
  const groupsById = useMemo(() => new Map((groups.data ?? []).map((g) => [g.id, g])), [groups.data]);
  const projects = useMemo(() => {
    const counts = new Map<string, number>();
    for (const c of all) {
      const key = c.compose_project || NO_PROJECT;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [all]);

  const needle = search.trim().toLowerCase();
  const shown = sortContainers(
    all.filter(
      (c) =>
        (!state || c.status === state) &&
        (!project || (c.compose_project || NO_PROJECT) === project) &&
        (!needle || [c.name, c.image, c.short_id, c.compose_project ?? ''].some((v) => v.toLowerCase().includes(needle))),
    ),
    sort.key,
    sort.dir,
  );
  const selectedShown = shown.filter((c) => selected.has(c.container_id));

  const setBusy = (ids: string[], busy: boolean) =>
    setPending((prev) => {
      const next = new Set(prev);
      ids.forEach((id) => (busy ? next.add(id) : next.delete(id)));
      return next;
    });

  const act = (c: Container, action: Action) => {
    const go = async () => {
      setBusy([c.container_id], true);
      try {
        const result = await runAction(c.container_id, action);
        notify('ok', result.message || `${ACTIONS[action].label}: done for ${c.name}`);
      } catch (err) {
        notify('error', `${ACTIONS[action].label} ${c.name} failed: ${(err as Error).message}`);
      } finally {
        setBusy([c.container_id], false);
        list.refresh();
      }
    };
    if (ACTIONS[action].destructive) {
      setConfirm({ title: `${ACTIONS[action].label} ${c.name}`, message: confirmText(action, [c.name]), confirmLabel: ACTIONS[action].label, danger: true, onConfirm: go });
    } else {
      void go();
    }
  };

  const actBulk = (action: Action) => {
    const targets = selectedShown;
    const go = async () => {
      const ids = targets.map((c) => c.container_id);
      setBusy(ids, true);
      try {
        const body = await runBulk(ids, action);
        setBulkResult({ action, body });
      } catch (err) {
        notify('error', `${ACTIONS[action].label} of ${ids.length} containers failed: ${(err as Error).message}`);
      } finally {
        setBusy(ids, false);
        setSelected(new Set());
        list.refresh();
      }
    };
    if (ACTIONS[action].destructive) {
      setConfirm({
        title: `${ACTIONS[action].label} ${targets.length} containers`,
        message: confirmText(action, targets.map((c) => c.name)),
        confirmLabel: ACTIONS[action].label,
        danger: true,
        onConfirm: go,
      });
    } else {
      void go();
    }
  };

  const toggle = (id: string) =>
    setSelected((prev) => {
      const next = new Set(prev);
      if (next.has(id)) {
        next.delete(id);
      } else {
        next.add(id);
      }
      return next;
    });

  const ariaSort = (key: SortKey) => {
    if (sort.key !== key) {
      return 'none';
    }
    return sort.dir > 0 ? 'ascending' : 'descending';
  };
  const sortMark = (key: SortKey) => {
    if (sort.key !== key) {
      return '';
    }
    return sort.dir > 0 ? ' ▲' : ' ▼';
  };
  const sortBy = (key: SortKey) => setSort((prev) => ({ key, dir: prev.key === key ? -prev.dir : 1 }));
  const header = (key: SortKey, label: preact.ComponentChildren, extra?: string) => (
    <th scope="col" aria-sort={ariaSort(key)} class={extra}>
      <button type="button" class="sort" onClick={() => sortBy(key)}>
        {label}
        {sortMark(key)}
      </button>
    </th>
  );

  // Up and Down move between rows; the focus stays in the same column.
  const onTableKey = (event: KeyboardEvent) => {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') {
      return;
    }
    const cell = (event.target as HTMLElement).closest('td');
    const row = cell?.parentElement as HTMLTableRowElement | null;
    if (!cell || !row) {
      return;
    }
    const next = (event.key === 'ArrowDown' ? row.nextElementSibling : row.previousElementSibling) as HTMLTableRowElement | null;
    const target = next?.cells[cell.cellIndex]?.querySelector<HTMLElement>('a, button, input') ?? next?.querySelector<HTMLElement>('a');
    if (target) {
      event.preventDefault();
      target.focus();
    }
  };

  const stamp = new Date().toISOString().replace(/[:]/g, '-').slice(0, 19);
  return (
    <section aria-labelledby="containers-title" class="with-sidebar">
      <nav class="sidebar" aria-label="Compose projects and groups">
        <h2>Projects</h2>
        <ul>
          <li>
            <button type="button" class={project === '' ? 'link active' : 'link'} onClick={() => setProject('')}>
              All <span class="muted">({all.length})</span>
            </button>
          </li>
          {projects.map(([name, count]) => (
            <li key={name}>
              <button type="button" class={project === name ? 'link active' : 'link'} onClick={() => setProject(name)}>
                {name === NO_PROJECT ? 'No project' : name} <span class="muted">({count})</span>
              </button>
            </li>
          ))}
        </ul>
        <h2>Groups</h2>
        <ul aria-label="Groups">
          <li>
            <button type="button" class={groupId === null ? 'link active' : 'link'} onClick={() => setGroupId(null)}>
              Every container
            </button>
          </li>
          {(groups.data ?? []).map((g) => (
            <li key={g.id}>
              <button type="button" class={groupId === g.id ? 'link active' : 'link'} onClick={() => setGroupId(g.id)} aria-pressed={groupId === g.id}>
                <span class="dot-swatch" style={{ background: g.color ?? 'var(--muted)' }} aria-hidden="true" />
                {g.name} <span class="muted">({g.container_ids.length})</span>
              </button>
            </li>
          ))}
          {groups.error && <li class="muted small">Groups unavailable: {groups.error}</li>}
        </ul>
      </nav>
      <div class="main-col">
        <div class="page-head">
          <h1 id="containers-title">Containers</h1>
          <LiveMarker polls={[list, groups]} refreshNote="The list refreshes every 3 seconds and the groups every 30 seconds" />
        </div>
        <div class="toolbar">
          <input
            ref={searchRef}
            type="search"
            placeholder="Search name, image, id  ( / )"
            aria-label="Search containers"
            value={search}
            onInput={(e) => setSearch(e.currentTarget.value)}
            onKeyDown={(e) => e.key === 'Escape' && setSearch('')}
          />
          <select aria-label="Filter by state" value={state} onChange={(e) => setState(e.currentTarget.value)}>
            <option value="">All states</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
          <button type="button" onClick={() => download(`containers-${stamp}Z.json`, JSON.stringify(shown, null, 2), 'application/json')}>
            Export JSON
          </button>
          <button type="button" onClick={() => download(`containers-${stamp}Z.csv`, exportCsv(shown), 'text/csv')}>
            Export CSV
          </button>
          <button type="button" onClick={() => setComparing(true)} disabled={!all.length}>
            History and compare
          </button>
        </div>
        {canAct && selectedShown.length > 0 && (
          <div class="toolbar bulk" role="region" aria-label="Bulk actions">
            <strong>{selectedShown.length} selected</strong>
            {(['start', 'stop', 'restart', 'pause', 'unpause', 'kill', 'remove'] as Action[]).map((a) => (
              <button key={a} type="button" class={ACTIONS[a].destructive ? 'danger-outline' : ''} onClick={() => actBulk(a)}>
                {ACTIONS[a].label}
              </button>
            ))}
            <button type="button" class="link" onClick={() => setSelected(new Set())}>
              Clear selection
            </button>
          </div>
        )}
        <ErrorBox message={list.error && `Cannot load containers: ${list.error}`} />
        {list.loading && !list.data ? (
          <p class="muted">Loading containers…</p>
        ) : shown.length === 0 ? (
          <p class="empty">{emptyText(all.length, groupId)}</p>
        ) : (
          <div class="table-wrap">
            <table class="containers">
              <thead>
                <tr>
                  {canAct && (
                    <th scope="col" class="check">
                      <input
                        type="checkbox"
                        aria-label="Select all shown containers"
                        checked={selectedShown.length === shown.length}
                        onChange={(e) => setSelected(e.currentTarget.checked ? new Set(shown.map((c) => c.container_id)) : new Set())}
                      />
                    </th>
                  )}
                  {header('name', 'Name')}
                  {header('status', 'State')}
                  {header('image', 'Image', 'hide-narrow')}
                  {header('cpu', <>CPU<span class="hide-narrow"> (% of one core)</span></>)}
                  {header('memory', 'Memory')}
                  <th scope="col" class="hide-narrow">
                    Ports
                  </th>
                  {header('created', 'Created', 'hide-narrow')}
                  {canAct && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody ref={tableRef} onKeyDown={onTableKey}>
                {shown.map((c) => {
                  const busy = pending.has(c.container_id);
                  return (
                    <tr key={c.container_id} data-name={c.name} aria-busy={busy}>
                      {canAct && (
                        <td class="check">
                          <input type="checkbox" aria-label={`Select ${c.name}`} checked={selected.has(c.container_id)} onChange={() => toggle(c.container_id)} />
                        </td>
                      )}
                      <td>
                        <a href={`/containers/${encodeURIComponent(c.container_id)}`} onClick={onLinkClick}>
                          {c.name}
                        </a>
                        {c.compose_service && <div class="muted small">{c.compose_project}/{c.compose_service}</div>}
                        {(c.group_ids ?? []).map((id) => {
                          const group = groupsById.get(id);
                          return group ? (
                            <span key={id} class="group-tag small" title={`Group ${group.name}`}>
                              <span class="dot-swatch" style={{ background: group.color ?? 'var(--muted)' }} aria-hidden="true" />
                              {group.name}
                            </span>
                          ) : null;
                        })}
                      </td>
                      <td>
                        <StateBadge state={c.status} />
                        {c.health && <span class={`badge health-${c.health}`}>{c.health}</span>}
                        <div class="muted small">{c.state_text}</div>
                      </td>
                      <td class="hide-narrow mono">{c.image}</td>
                      <td class="num cpu">{formatPercent(c.cpu_usage)}</td>
                      <td class="num mem">
                        {formatBytes(c.memory_usage)}
                        {c.memory_limit ? <div class="muted small">of {formatBytes(c.memory_limit)}</div> : null}
                      </td>
                      <td class="hide-narrow">
                        <PortLinks c={c} />
                      </td>
                      <td class="hide-narrow">
                        <Time value={c.created} />
                      </td>
                      {canAct && (
                        <td class="actions">
                          {(['start', 'unpause', 'stop', 'restart'] as Action[])
                            .filter((a) => ACTIONS[a].states.includes(c.status))
                            .map((a) => (
                              <button key={a} type="button" class="small" disabled={busy} onClick={() => act(c, a)} aria-label={`${ACTIONS[a].label} ${c.name}`}>
                                {busy ? '…' : ACTIONS[a].label}
                              </button>
                            ))}
                        </td>
                      )}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </div>
      {confirm && <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />}
      {comparing && (
        <Suspense fallback={null}>
          <CompareHistory containers={all} initial={selectedShown.map((c) => c.container_id)} onClose={() => setComparing(false)} />
        </Suspense>
      )}
      {bulkResult && (
        <Modal title={`${ACTIONS[bulkResult.action].label}: ${bulkResult.body.message}`} onClose={() => setBulkResult(null)}>
          <ul class="results">
            {bulkResult.body.results.map((r) => (
              <li key={r.container_id} class={r.success ? 'ok' : 'fail'}>
                <strong>{r.name ?? r.requested ?? r.container_id}</strong>: {r.success ? 'done' : 'failed'} — {r.message}
              </li>
            ))}
          </ul>
          <div class="row end">
            <button type="button" class="primary" autofocus onClick={() => setBulkResult(null)}>
              Close
            </button>
          </div>
        </Modal>
      )}
    </section>
  );
}
