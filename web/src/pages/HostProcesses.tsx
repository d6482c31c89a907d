// The dashboard's card of the host's top processes. It loads after the first page.
import { useState } from 'preact/hooks';
import { ErrorBox } from '../components/common';
import { LiveMarker } from '../components/LiveMarker';
import { SortableTable, type Cell, type Column } from '../components/SortableTable';
import { api } from '../lib/api';
import { formatBytes, formatPercent } from '../lib/format';
import { usePoll } from '../lib/poll';
import './pages.css';

interface HostProcess {
  pid: number;
  name: string;
  username: string;
  status: string;
  cpu_percent: number;
  memory_percent: number;
  memory_rss: number;
}

interface ProcessList {
  processes: HostProcess[];
  total: number;
  sample_ms: number;
}

const LIMIT = 10;
const REFRESH_MS = 5000;
const ORDERS = [
  { id: 'cpu', label: 'CPU' },
  { id: 'memory', label: 'memory' },
  { id: 'pid', label: 'pid' },
];

const COLUMNS: Column[] = [
  { title: 'PID', numeric: true },
  { title: 'Name' },
  { title: 'User' },
  { title: 'State' },
  { title: 'CPU (% of one core)', numeric: true, render: (v) => formatPercent(v as number | null) },
  { title: 'Memory (% of host)', numeric: true, render: (v) => formatPercent(v as number | null) },
  { title: 'Resident memory', numeric: true, render: (v) => formatBytes(v as number | null) },
];
const SORT_COLUMN: Record<string, number> = { cpu: 4, memory: 6, pid: 0 };

export default function HostProcesses() {
  const [order, setOrder] = useState('cpu');
  const list = usePoll(() => api.get<ProcessList>(`/stats/system/processes?limit=${LIMIT}&order_by=${order}`), REFRESH_MS, [order]);
  const rows: Cell[][] = (list.data?.processes ?? []).map((p) => [p.pid, p.name, p.username, p.status, p.cpu_percent, p.memory_percent, p.memory_rss]);
  return (
    <section class="card processes-card" aria-labelledby="host-processes-title">
      <div class="page-head">
        <h2 id="host-processes-title">Top processes</h2>
        <div class="head-tools">
          <LiveMarker polls={[list]} refreshNote={`The list refreshes every ${REFRESH_MS / 1000} seconds`} />
          <label class="inline">
            By{' '}
            <select value={order} onChange={(e) => setOrder(e.currentTarget.value)}>
              {ORDERS.map((o) => (
                <option key={o.id} value={o.id}>
                  {o.label}
                </option>
              ))}
            </select>
          </label>
        </div>
      </div>
      <ErrorBox message={list.error && `Host processes: ${list.error}`} />
      {list.data && (
        <SortableTable
          key={order}
          label="Host processes"
          columns={COLUMNS}
          rows={rows}
          keyColumn={0}
          initialSort={{ column: SORT_COLUMN[order], dir: order === 'pid' ? 1 : -1 }}
        />
      )}
      {list.loading && !list.data && <p class="muted">Loading…</p>}
      {list.data && (
        <p class="muted small">
          The top {rows.length} of {list.data.total} processes by {order}, refreshed every {REFRESH_MS / 1000} s. CPU is measured over {list.data.sample_ms} ms.
        </p>
      )}
    </section>
  );
}
