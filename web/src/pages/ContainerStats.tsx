import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Chart } from '../components/Chart';
import { RangeSelect } from '../components/RangeSelect';
import { ErrorBox, notify } from '../components/common';
import { api, ApiError } from '../lib/api';
import { formatBytes, formatCount, formatDuration, formatPercent, formatRate } from '../lib/format';
import { bandOf, CHART_POINTS, gaugeOf, num, rowTime, spanOf, type Gauge } from '../lib/history';
import { downloadHistoryCsv } from '../lib/statsexport';
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
  cpu: Gauge;
  mem: Gauge;
  rx: number | null;
  tx: number | null;
}

const WINDOW_SECONDS = 15 * 60;
// How often a longer range reloads: its buckets are a minute or more wide.
const RANGE_REFRESH_MS = 60000;

function pointOf(row: Record<string, unknown>): Point {
  return {
    t: rowTime(row),
    cpu: gaugeOf(row, 'cpu_usage'),
    mem: gaugeOf(row, 'memory_usage'),
    rx: num(row.network_rx_rate),
    tx: num(row.network_tx_rate),
  };
}

type HistoryBody = { stats: Record<string, unknown>[]; resolution_seconds?: number; start_time?: string; end_time?: string };

function historyPath(id: string, period: string): string {
  const aggregate = period === '15m' ? '' : '&aggregate=true';
  return `/containers/${encodeURIComponent(id)}/stats/history?period=${period}&points=${CHART_POINTS}${aggregate}`;
}

// Live figures every 2 s. The 15-minute range adds them to the server's last 15 minutes.
// Longer ranges show the server's buckets with each bucket's minimum and maximum as a band.
// Only a running container has live figures, so the page does not poll for others.
export default function ContainerStats({ id, status }: { id: string; status: string }) {
  const running = status === 'running';
  const live = usePoll(
    () => (running ? api.get<Formatted>(`/containers/${encodeURIComponent(id)}/stats/formatted`) : Promise.resolve(null)),
    2000,
    [id, running],
  );
  const points = useRef<Point[]>([]);
  const [version, setVersion] = useState(0);
  const [historyNote, setHistoryNote] = useState<string | null>(null);
  const [period, setPeriod] = useState('15m');
  const [exporting, setExporting] = useState(false);
  const range = usePoll(
    () => (period === '15m' ? Promise.resolve(null) : api.get<HistoryBody>(historyPath(id, period))),
    RANGE_REFRESH_MS,
    [id, period],
  );

  useEffect(() => {
    let cancelled = false;
    api
      .get<HistoryBody>(historyPath(id, '15m'))
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

  const liveSeries = useMemo(() => [...points.current], [version]);
  const rangeSeries = useMemo(
    () => (range.data?.stats ?? []).map(pointOf).filter((p) => Number.isFinite(p.t)),
    [range.data],
  );
  const series = period === '15m' ? liveSeries : rangeSeries;
  const times = series.map((p) => p.t);
  const f = live.data;
  const resolution = period !== '15m' && range.data?.resolution_seconds;
  const span = period === '15m' ? undefined : spanOf(range.data);

  const exportCsv = async () => {
    setExporting(true);
    try {
      const filename = await downloadHistoryCsv(id, period);
      notify('ok', `Downloaded ${filename} (times in UTC)`);
    } catch (err) {
      notify('error', `History export failed: ${(err as Error).message}`);
    } finally {
      setExporting(false);
    }
  };
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
      <div class="page-head">
        <h2>History</h2>
        <div class="row">
          <RangeSelect value={period} onChange={setPeriod} live />
          <button type="button" onClick={exportCsv} disabled={exporting}>
            {exporting ? 'Downloading…' : 'Download CSV'}
          </button>
        </div>
      </div>
      {historyNote && period === '15m' && <p class="muted">{historyNote}</p>}
      <ErrorBox message={period !== '15m' && range.error ? `History: ${range.error}` : null} />
      {resolution ? (
        <p class="muted small" role="status">
          {rangeSeries.length === 1 ? '1 point' : `${rangeSeries.length} points`}, one per {formatDuration(resolution)}: the line is each bucket's mean and the band its minimum and maximum.
        </p>
      ) : null}
      <div class="charts">
        <Chart
          title="CPU, % of one core"
          times={times}
          span={span}
          series={[{ label: 'CPU', color: '#3b82f6', values: series.map((p) => p.cpu.avg), band: bandOf(series, (p) => p.cpu) }]}
          format={(v) => formatPercent(v, 1)}
        />
        <Chart
          title="Memory, bytes"
          times={times}
          span={span}
          series={[{ label: 'Memory', color: '#a855f7', values: series.map((p) => p.mem.avg), band: bandOf(series, (p) => p.mem) }]}
          format={(v) => formatBytes(v)}
        />
        <Chart
          title="Network, bytes/s"
          times={times}
          span={span}
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
