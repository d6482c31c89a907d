// The containers page's history view: one metric of 2 to 5 containers over a period
// (GET /stats/compare), with a CSV download of each container's history (GET
// /stats/export). It loads when the view first opens.
import { useEffect, useState } from 'preact/hooks';
import { Chart } from '../components/Chart';
import { RangeSelect } from '../components/RangeSelect';
import { ErrorBox, Modal, notify } from '../components/common';
import { api } from '../lib/api';
import { formatBytes, formatPercent, formatRate } from '../lib/format';
import { alignSeries, type CompareBody } from '../lib/compare';
import { CHART_POINTS, spanOf } from '../lib/history';
import { downloadHistoryCsv } from '../lib/statsexport';
import type { Container } from '../lib/types';
import './pages.css';

const MIN_SELECTED = 2;
const MAX_SELECTED = 5;
const COLORS = ['#3b82f6', '#a855f7', '#10b981', '#f59e0b', '#ef4444'];
const METRICS = [
  { id: 'cpu', label: 'CPU, % of one core', format: (v: number | null) => formatPercent(v, 1) },
  { id: 'memory', label: 'Memory, bytes', format: (v: number | null) => formatBytes(v) },
  { id: 'network', label: 'Network, received + sent bytes/s', format: (v: number | null) => formatRate(v) },
];

export default function CompareHistory({ containers, initial, onClose }: { containers: Container[]; initial: string[]; onClose: () => void }) {
  const [chosen, setChosen] = useState<string[]>(initial.slice(0, MAX_SELECTED));
  const [metric, setMetric] = useState('cpu');
  const [period, setPeriod] = useState('1h');
  const [body, setBody] = useState<CompareBody | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [downloading, setDownloading] = useState<string | null>(null);
  const ready = chosen.length >= MIN_SELECTED;

  useEffect(() => {
    if (!ready) {
      setBody(null);
      return;
    }
    let cancelled = false;
    const params = new URLSearchParams({ metric, period, points: String(CHART_POINTS) });
    chosen.forEach((id) => params.append('container_ids', id));
    setError(null);
    api
      .get<CompareBody>(`/stats/compare?${params}`)
      .then((result) => !cancelled && setBody(result))
      .catch((err: Error) => !cancelled && setError(err.message));
    return () => {
      cancelled = true;
    };
  }, [chosen.join(','), metric, period]);

  // A sixth container is not added: its checkbox is disabled, and this keeps the limit.
  const toggle = (id: string) =>
    setChosen((prev) => {
      if (prev.includes(id)) {
        return prev.filter((x) => x !== id);
      }
      return prev.length < MAX_SELECTED ? [...prev, id] : prev;
    });

  const exportCsv = async (c: Container) => {
    setDownloading(c.container_id);
    try {
      const filename = await downloadHistoryCsv(c.container_id, period);
      notify('ok', `Downloaded ${filename} (times in UTC)`);
    } catch (err) {
      notify('error', `History export of ${c.name} failed: ${(err as Error).message}`);
    } finally {
      setDownloading(null);
    }
  };

  const shape = METRICS.find((m) => m.id === metric) ?? METRICS[0];
  const aligned = body ? alignSeries(body) : null;
  return (
    <Modal title="Container history" onClose={onClose}>
      <div class="toolbar">
        <label class="inline">
          Metric{' '}
          <select value={metric} onChange={(e) => setMetric(e.currentTarget.value)}>
            {METRICS.map((m) => (
              <option key={m.id} value={m.id}>
                {m.label}
              </option>
            ))}
          </select>
        </label>
        <RangeSelect value={period} onChange={setPeriod} />
      </div>
      <fieldset class="compare-pick">
        <legend>
          Containers to compare ({MIN_SELECTED} to {MAX_SELECTED}, {chosen.length} chosen)
        </legend>
        <ul>
          {containers.map((c) => (
            <li key={c.container_id}>
              <label>
                <input
                  type="checkbox"
                  checked={chosen.includes(c.container_id)}
                  disabled={!chosen.includes(c.container_id) && chosen.length >= MAX_SELECTED}
                  onChange={() => toggle(c.container_id)}
                />{' '}
                {c.name}
              </label>{' '}
              <button type="button" class="small" disabled={downloading !== null} onClick={() => exportCsv(c)} aria-label={`Download history CSV of ${c.name}`}>
                {downloading === c.container_id ? 'CSV…' : 'CSV'}
              </button>
            </li>
          ))}
        </ul>
      </fieldset>
      <ErrorBox message={error && `Compare: ${error}`} />
      {!ready && <p class="muted">Choose at least {MIN_SELECTED} containers.</p>}
      {ready && body && aligned && (
        <>
          <Chart
            title={shape.label}
            times={aligned.times}
            span={spanOf(body)}
            series={body.containers.map((c, i) => ({ label: c.container_name, color: COLORS[i % COLORS.length], values: aligned.values[i] }))}
            format={shape.format}
          />
          <table class="compare-summary">
            <thead>
              <tr>
                <th scope="col">Container</th>
                <th scope="col">Min</th>
                <th scope="col">Mean</th>
                <th scope="col">Max</th>
              </tr>
            </thead>
            <tbody>
              {body.containers.map((c) => (
                <tr key={c.container_id} data-name={c.container_name}>
                  <td>{c.container_name}</td>
                  <td class="num">{shape.format(c.min_value)}</td>
                  <td class="num">{shape.format(c.avg_value)}</td>
                  <td class="num">{shape.format(c.max_value)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <div class="row end">
        <button type="button" class="primary" onClick={onClose}>
          Close
        </button>
      </div>
    </Modal>
  );
}
