import { lazy, Suspense } from 'preact/compat';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Chart } from '../components/Chart';
import { RangeSelect } from '../components/RangeSelect';
import { ErrorBox, Time } from '../components/common';
import { LiveMarker } from '../components/LiveMarker';
import { api, ApiError } from '../lib/api';
import { formatBytes, formatDuration, formatPercent, formatRate, UNKNOWN } from '../lib/format';
import { bandOf, CHART_POINTS, gaugeOf, num, rowTime, spanOf, type Gauge } from '../lib/history';
import { usePoll } from '../lib/poll';
import type { ContainerList, HistoryResponse, SystemStats } from '../lib/types';

const LIVE_SECONDS = 15 * 60;

// The top-processes card loads after the first page.
const HostProcesses = lazy(() => import('./HostProcesses'));

interface Sample {
  t: number;
  cpu: Gauge;
  mem: Gauge;
  rx: number | null;
  tx: number | null;
}

const NO_RANGE: Gauge = { avg: null, min: null, max: null };

function percentOf(part: number | null, total: number | null): number | null {
  return part !== null && total ? (part / total) * 100 : null;
}

function sampleOf(row: Record<string, unknown>): Sample | null {
  const t = rowTime(row);
  if (!Number.isFinite(t)) {
    return null;
  }
  // History rows carry memory in bytes with the host's total as memory_limit; the live
  // figure is a percentage, so both are shown as a percentage.
  const memory = gaugeOf(row, 'memory_usage');
  const total = num(row.memory_limit);
  return {
    t,
    cpu: gaugeOf(row, 'cpu_usage'),
    mem: { avg: percentOf(memory.avg, total), min: percentOf(memory.min, total), max: percentOf(memory.max, total) },
    rx: num(row.network_rx_rate),
    tx: num(row.network_tx_rate),
  };
}

interface History {
  samples: Sample[];
  // The reason the server has no history for the range (no endpoint, or a range it does
  // not keep), or null.
  unavailable: string | null;
  // The period's start and end for ranges longer than 15 minutes.
  span?: [number, number];
}

// Ranges longer than 15 minutes ask for each bucket's minimum and maximum as well.
async function loadHistory(range: string): Promise<History> {
  const aggregate = range === '15m' ? '' : '&aggregate=true';
  try {
    const body = await api.get<HistoryResponse>(`/stats/system/history?period=${range}&points=${CHART_POINTS}${aggregate}`);
    const samples = (body.stats ?? []).map((row) => sampleOf(row)).filter((s): s is Sample => s !== null);
    return { samples, unavailable: null, span: range === '15m' ? undefined : spanOf(body) };
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
  const [span, setSpan] = useState<[number, number] | undefined>(undefined);
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
    buffer.push({ t, cpu: { ...NO_RANGE, avg: num(s.cpu_usage) }, mem: { ...NO_RANGE, avg: num(s.memory_usage) }, rx: num(s.network_rx_rate), tx: num(s.network_tx_rate) });
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
          setSpan(result.span);
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
        <LiveMarker polls={[stats, containers]} refreshNote="Host figures refresh every 2 seconds and container counts every 5 seconds">
          {s?.timestamp && (
            <>
              {' '}· <Time value={s.timestamp} />
            </>
          )}
        </LiveMarker>
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

      <Suspense fallback={null}>
        <HostProcesses />
      </Suspense>

      <div class="page-head">
        <h2>Host history</h2>
        <RangeSelect value={range} onChange={setRange} live />
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
          span={range === '15m' ? undefined : span}
          series={[{ label: 'CPU', color: '#3b82f6', values: samples.map((p) => p.cpu.avg), band: bandOf(samples, (p) => p.cpu) }]}
          format={(v) => formatPercent(v, 0)}
        />
        <Chart
          title="Memory, % used"
          times={times}
          span={range === '15m' ? undefined : span}
          series={[{ label: 'Memory', color: '#a855f7', values: samples.map((p) => p.mem.avg), band: bandOf(samples, (p) => p.mem) }]}
          format={(v) => formatPercent(v, 0)}
        />
        <Chart
          title="Network, bytes/s"
          times={times}
          span={range === '15m' ? undefined : span}
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
