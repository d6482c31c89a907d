import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Chart } from '../components/Chart';
import { ErrorBox, Time } from '../components/common';
import { api, ApiError } from '../lib/api';
import { formatBytes, formatDuration, formatPercent, formatRate, UNKNOWN } from '../lib/format';
import { usePoll } from '../lib/poll';
import type { ContainerList, HistoryResponse, SystemStats } from '../lib/types';

const LIVE_SECONDS = 15 * 60;
const RANGES = [
  { id: '15m', label: '15 min (live)' },
  { id: '1h', label: '1 h' },
  { id: '6h', label: '6 h' },
  { id: '24h', label: '24 h' },
  { id: '7d', label: '7 d' },
  { id: '30d', label: '30 d' },
];

interface Sample {
  t: number;
  cpu: number | null;
  mem: number | null;
  rx: number | null;
  tx: number | null;
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function sampleOf(row: Record<string, unknown>): Sample | null {
  const raw = row.timestamp;
  const t = typeof raw === 'number' ? raw : Date.parse(String(raw)) / 1000;
  if (!Number.isFinite(t)) {
    return null;
  }
  // History rows carry memory in bytes with the host's total as memory_limit; the live
  // figure is a percentage, so both are shown as a percentage.
  const memBytes = num(row.memory_usage ?? row.memory_usage_avg);
  const memTotal = num(row.memory_limit ?? row.memory_limit_avg);
  return {
    t,
    cpu: num(row.cpu_usage ?? row.cpu_usage_avg),
    mem: memBytes !== null && memTotal ? (memBytes / memTotal) * 100 : null,
    rx: num(row.network_rx_rate ?? row.network_rx_rate_avg),
    tx: num(row.network_tx_rate ?? row.network_tx_rate_avg),
  };
}

interface History {
  samples: Sample[];
  // The reason the server has no history for the range (no endpoint, or a range it does
  // not keep yet), or null.
  unavailable: string | null;
}

async function loadHistory(range: string): Promise<History> {
  try {
    const body = await api.get<HistoryResponse>(`/stats/system/history?period=${range}&points=300`);
    const samples = (body.stats ?? []).map((row) => sampleOf(row)).filter((s): s is Sample => s !== null);
    return { samples, unavailable: null };
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      return { samples: [], unavailable: 'This server has no history endpoint.' };
    }
    if (err instanceof ApiError && err.status === 422) {
      return { samples: [], unavailable: err.message };
    }
    throw err;
  }
}

function Figure({ label, value, detail }: { label: string; value: string; detail?: string }) {
  return (
    <div class="card figure">
      <div class="figure-label">{label}</div>
      <div class="figure-value">{value}</div>
      {detail && <div class="figure-detail muted">{detail}</div>}
    </div>
  );
}

export function Dashboard() {
  const stats = usePoll(() => api.get<SystemStats>('/stats/system'), 2000);
  const containers = usePoll(() => api.get<ContainerList>('/containers?all_containers=true'), 5000);
  const [range, setRange] = useState('15m');
  const [history, setHistory] = useState<Sample[] | null>(null);
  const [unavailable, setUnavailable] = useState<string | null>(null);
  const [historyError, setHistoryError] = useState<string | null>(null);
  const live = useRef<Sample[]>([]);
  const [liveVersion, setLiveVersion] = useState(0);

  // Append each polled sample to the live buffer, which keeps the last 15 minutes.
  useEffect(() => {
    const s = stats.data;
    if (!s) {
      return;
    }
    const t = s.timestamp ? Date.parse(s.timestamp) / 1000 : Date.now() / 1000;
    const buffer = live.current;
    if (buffer.length && buffer[buffer.length - 1].t >= t) {
      return;
    }
    buffer.push({ t, cpu: num(s.cpu_usage), mem: num(s.memory_usage), rx: num(s.network_rx_rate), tx: num(s.network_tx_rate) });
    while (buffer.length && buffer[0].t < t - LIVE_SECONDS) {
      buffer.shift();
    }
    setLiveVersion((v) => v + 1);
  }, [stats.data]);

  useEffect(() => {
    let cancelled = false;
    setHistory(null);
    setHistoryError(null);
    loadHistory(range)
      .then((result) => {
        if (!cancelled) {
          setUnavailable(result.unavailable);
          setHistory(result.samples);
        }
      })
      .catch((err: Error) => !cancelled && setHistoryError(err.message));
    return () => {
      cancelled = true;
    };
  }, [range]);

  const samples = useMemo(() => {
    if (range !== '15m') {
      return history ?? [];
    }
    const seed = (history ?? []).filter((s) => !live.current.length || s.t < live.current[0].t);
    return [...seed, ...live.current];
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [range, history, liveVersion]);

  const times = samples.map((s) => s.t);
  const s = stats.data;
  const counts = new Map<string, number>();
  for (const c of containers.data?.data.containers ?? []) {
    counts.set(c.status, (counts.get(c.status) ?? 0) + 1);
  }

  return (
    <section aria-labelledby="dash-title">
      <div class="page-head">
        <h1 id="dash-title">Dashboard</h1>
        <span class="live" title="Host figures refresh every 2 seconds">
          <span class="dot" aria-hidden="true" /> live
          {s?.timestamp && (
            <>
              {' '}· <Time value={s.timestamp} />
            </>
          )}
        </span>
      </div>
      <ErrorBox message={stats.error && `Host figures: ${stats.error}`} />
      <div class="figures">
        <Figure label="CPU (all cores)" value={formatPercent(s?.cpu_usage)} detail={s?.cpu_cores ? `${s.cpu_cores} cores` : undefined} />
        <Figure
          label="Memory"
          value={formatPercent(s?.memory_usage)}
          detail={`${formatBytes(s?.memory_used)} of ${formatBytes(s?.memory_total)}`}
        />
        <Figure
          label="Disk (root)"
          value={formatPercent(s?.disk_usage)}
          detail={`${formatBytes(s?.disk_used)} of ${formatBytes(s?.disk_total)}`}
        />
        <Figure label="Network" value={`↓ ${formatRate(s?.network_rx_rate)}`} detail={`↑ ${formatRate(s?.network_tx_rate)}`} />
        <Figure
          label="Load (1, 5, 15 min)"
          value={s?.load_avg_1m == null ? UNKNOWN : s.load_avg_1m.toFixed(2)}
          detail={
            s?.load_avg_5m == null || s?.load_avg_15m == null ? undefined : `${s.load_avg_5m.toFixed(2)}, ${s.load_avg_15m.toFixed(2)}`
          }
        />
        <Figure label="Uptime" value={formatDuration(s?.uptime)} />
      </div>

      <h2>Containers</h2>
      <ErrorBox message={containers.error && `Containers: ${containers.error}`} />
      <div class="figures">
        <Figure label="Total" value={containers.data ? String(containers.data.data.total) : UNKNOWN} />
        {['running', 'paused', 'restarting', 'exited', 'created', 'dead'].map((state) => (
          <Figure key={state} label={state} value={containers.data ? String(counts.get(state) ?? 0) : UNKNOWN} />
        ))}
      </div>

      <div class="page-head">
        <h2>Host history</h2>
        <label class="inline">
          Range{' '}
          <select value={range} onChange={(e) => setRange(e.currentTarget.value)}>
            {RANGES.map((r) => (
              <option key={r.id} value={r.id}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      {unavailable && (
        <p class="muted" role="status">
          {unavailable}{' '}
          {range === '15m' ? 'The charts show the samples this page took since it opened.' : 'Choose a shorter range.'}
        </p>
      )}
      <ErrorBox message={historyError && `History: ${historyError}`} />
      <div class="charts">
        <Chart
          title="CPU, % of all cores"
          times={times}
          series={[{ label: 'CPU', color: '#3b82f6', values: samples.map((p) => p.cpu) }]}
          format={(v) => formatPercent(v, 0)}
        />
        <Chart
          title="Memory, % used"
          times={times}
          series={[{ label: 'Memory', color: '#a855f7', values: samples.map((p) => p.mem) }]}
          format={(v) => formatPercent(v, 0)}
        />
        <Chart
          title="Network, bytes/s"
          times={times}
          series={[
            { label: 'Received', color: '#10b981', values: samples.map((p) => p.rx) },
            { label: 'Sent', color: '#f59e0b', values: samples.map((p) => p.tx) },
          ]}
          format={(v) => formatRate(v)}
        />
      </div>
    </section>
  );
}
