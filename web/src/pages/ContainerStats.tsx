import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Chart } from '../components/Chart';
import { ErrorBox } from '../components/common';
import { api, ApiError } from '../lib/api';
import { formatBytes, formatCount, formatPercent, formatRate } from '../lib/format';
import { usePoll } from '../lib/poll';

interface Formatted {
  timestamp?: string;
  cpu_usage?: number | null;
  memory_usage?: number | null;
  memory_limit?: number | null;
  network_rx_rate?: number | null;
  network_tx_rate?: number | null;
  block_read_rate?: number | null;
  block_write_rate?: number | null;
  pids?: number | null;
}

interface Point {
  t: number;
  cpu: number | null;
  mem: number | null;
  rx: number | null;
  tx: number | null;
}

const WINDOW_SECONDS = 15 * 60;

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function pointOf(row: Record<string, unknown>): Point {
  return {
    t: Date.parse(String(row.timestamp)) / 1000,
    cpu: num(row.cpu_usage),
    mem: num(row.memory_usage),
    rx: num(row.network_rx_rate),
    tx: num(row.network_tx_rate),
  };
}

// Live figures every 2 s on top of the server's last 15 minutes. Only a running container
// has live figures, so the page does not poll for others.
export function ContainerStats({ id, status }: { id: string; status: string }) {
  const running = status === 'running';
  const live = usePoll(
    () => (running ? api.get<Formatted>(`/containers/${encodeURIComponent(id)}/stats/formatted`) : Promise.resolve(null)),
    2000,
    [id, running],
  );
  const points = useRef<Point[]>([]);
  const [version, setVersion] = useState(0);
  const [historyNote, setHistoryNote] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    api
      .get<{ stats: Record<string, unknown>[] }>(`/containers/${encodeURIComponent(id)}/stats/history?period=15m`)
      .then((body) => {
        if (cancelled) {
          return;
        }
        const seed = (body.stats ?? []).map(pointOf).filter((p) => Number.isFinite(p.t));
        const firstLive = points.current[0]?.t ?? Infinity;
        points.current = [...seed.filter((p) => p.t < firstLive), ...points.current];
        setVersion((v) => v + 1);
      })
      .catch((err: Error) => !cancelled && setHistoryNote(err instanceof ApiError && err.status === 404 ? 'This server keeps no container history.' : err.message));
    return () => {
      cancelled = true;
    };
  }, [id]);

  useEffect(() => {
    const f = live.data;
    if (!f?.timestamp) {
      return;
    }
    const p = pointOf(f as Record<string, unknown>);
    const all = points.current;
    if (all.length && all[all.length - 1].t >= p.t) {
      return;
    }
    all.push(p);
    while (all.length && all[0].t < p.t - WINDOW_SECONDS) {
      all.shift();
    }
    setVersion((v) => v + 1);
  }, [live.data]);

  const series = useMemo(() => [...points.current], [version]);
  const times = series.map((p) => p.t);
  const f = live.data;
  return (
    <div>
      <ErrorBox message={live.error} />
      {!running && (
        <p class="muted" role="status">
          The container is {status}, so it has no live figures; the charts show what the server kept.
        </p>
      )}
      <div class="figures">
        <div class="card figure">
          <div class="figure-label">CPU (% of one core)</div>
          <div class="figure-value">{formatPercent(f?.cpu_usage, 2)}</div>
        </div>
        <div class="card figure">
          <div class="figure-label">Memory</div>
          <div class="figure-value">{formatBytes(f?.memory_usage)}</div>
          <div class="figure-detail muted">{f?.memory_limit ? `limit ${formatBytes(f.memory_limit)}` : 'no limit'}</div>
        </div>
        <div class="card figure">
          <div class="figure-label">Network</div>
          <div class="figure-value">↓ {formatRate(f?.network_rx_rate)}</div>
          <div class="figure-detail muted">↑ {formatRate(f?.network_tx_rate)}</div>
        </div>
        <div class="card figure">
          <div class="figure-label">Block I/O</div>
          <div class="figure-value">R {formatRate(f?.block_read_rate)}</div>
          <div class="figure-detail muted">W {formatRate(f?.block_write_rate)}</div>
        </div>
        <div class="card figure">
          <div class="figure-label">Processes</div>
          <div class="figure-value">{formatCount(f?.pids)}</div>
        </div>
      </div>
      {historyNote && <p class="muted">{historyNote}</p>}
      <div class="charts">
        <Chart title="CPU, % of one core" times={times} series={[{ label: 'CPU', color: '#3b82f6', values: series.map((p) => p.cpu) }]} format={(v) => formatPercent(v, 1)} />
        <Chart title="Memory, bytes" times={times} series={[{ label: 'Memory', color: '#a855f7', values: series.map((p) => p.mem) }]} format={(v) => formatBytes(v)} />
        <Chart
          title="Network, bytes/s"
          times={times}
          series={[
            { label: 'Received', color: '#10b981', values: series.map((p) => p.rx) },
            { label: 'Sent', color: '#f59e0b', values: series.map((p) => p.tx) },
          ]}
          format={(v) => formatRate(v)}
        />
      </div>
    </div>
  );
}
