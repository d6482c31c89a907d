// The container's Processes tab and the filesystem card of its overview. Both load on
// first use, so the first page stays small.
import { ErrorBox } from '../components/common';
import { SortableTable, type Cell, type Column } from '../components/SortableTable';
import { api } from '../lib/api';
import { formatBytes, formatPercent } from '../lib/format';
import { usePoll } from '../lib/poll';
import { numericColumns } from '../lib/table';
import './pages.css';

interface Top {
  titles: string[];
  processes: string[][];
}

interface Filesystem {
  mount_point: string;
  source: string;
  type: string;
  total: number | null;
  used: number | null;
  free: number | null;
  percent: number | null;
}

const REFRESH_MS = 3000;

// Numeric columns sort by value and start in descending order.
function topColumns(top: Top): Column[] {
  const numeric = numericColumns(top.titles.length, top.processes);
  return top.titles.map((title, i) => ({ title, numeric: numeric[i] }));
}

// The engine's top of a running container, refreshed every 3 seconds while the tab is open
// and the browser tab is visible.
export default function ContainerProcesses({ id, status }: { id: string; status: string }) {
  const running = status === 'running';
  const top = usePoll(() => (running ? api.get<Top>(`/stats/containers/${encodeURIComponent(id)}/processes`) : Promise.resolve(null)), REFRESH_MS, [id, running]);
  if (!running) {
    return <p class="muted">The container is {status}, so it has no processes.</p>;
  }
  const data = top.data;
  const pidColumn = data ? Math.max(0, data.titles.indexOf('PID')) : 0;
  return (
    <div>
      <div class="page-head">
        <h2>Processes</h2>
        <span class="live" title="The list refreshes every 3 seconds">
          <span class="dot" aria-hidden="true" /> live · {data ? `${data.processes.length} processes` : 'loading'}
        </span>
      </div>
      <ErrorBox message={top.error && `Processes: ${top.error}`} />
      {data && <SortableTable label="Container processes" columns={topColumns(data)} rows={data.processes as Cell[][]} keyColumn={pidColumn} />}
      {top.loading && !data && <p class="muted">Loading…</p>}
      <p class="muted small">From the engine's top (ps -ef in the container's process namespace); times are the host's.</p>
    </div>
  );
}

// Usage of the filesystems mounted in a running container: its root and its volumes.
export function ContainerFilesystems({ id, status }: { id: string; status: string }) {
  const running = status === 'running';
  const list = usePoll(() => (running ? api.get<Filesystem[]>(`/stats/containers/${encodeURIComponent(id)}/filesystem`) : Promise.resolve(null)), 30000, [id, running]);
  if (!running) {
    return <p class="muted">Filesystem usage is known only while the container runs.</p>;
  }
  return (
    <>
      <ErrorBox message={list.error && `Filesystems: ${list.error}`} />
      {list.data && (
        <ul class="filesystems" aria-label="Filesystem usage">
          {list.data.map((fs) => (
            <li key={fs.mount_point} data-mount={fs.mount_point}>
              <code>{fs.mount_point}</code> <span class="muted small">{fs.type}</span>
              <div class="meter" role="meter" aria-label={`${fs.mount_point} used`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={fs.percent ?? undefined}>
                <span style={{ width: `${Math.min(100, fs.percent ?? 0)}%` }} />
              </div>
              <span class="small">
                {formatBytes(fs.used)} of {formatBytes(fs.total)} used ({formatPercent(fs.percent)}), {formatBytes(fs.free)} free
              </span>
            </li>
          ))}
        </ul>
      )}
      {list.loading && !list.data && <p class="muted">Loading…</p>}
    </>
  );
}
