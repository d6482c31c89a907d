// Statistics history shared by the dashboard, the container stats tab and the compare
// view: the periods the server keeps and the parsing of history rows.

// The periods that /stats/system/history, /containers/{id}/stats/history, /stats/compare
// and /stats/export accept. Up to 15 minutes come from memory, longer ones from SQLite.
export const PERIODS = [
  { id: '15m', label: '15 min' },
  { id: '1h', label: '1 h' },
  { id: '6h', label: '6 h' },
  { id: '24h', label: '24 h' },
  { id: '7d', label: '7 d' },
  { id: '30d', label: '30 d' },
];

// Points asked for per chart: about one per two pixels of a wide chart.
export const CHART_POINTS = 300;

export function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

// Unix seconds of a row's timestamp (ISO 8601 text or seconds), or NaN.
export function rowTime(row: Record<string, unknown>): number {
  const raw = row.timestamp;
  return typeof raw === 'number' ? raw : Date.parse(String(raw)) / 1000;
}

// One gauge of an aggregated history row: the bucket's mean, minimum and maximum. A row
// without aggregation (live samples) has only the mean, so min and max are null.
export interface Gauge {
  avg: number | null;
  min: number | null;
  max: number | null;
}

export function gaugeOf(row: Record<string, unknown>, name: string): Gauge {
  return { avg: num(row[name]), min: num(row[`${name}_min`]), max: num(row[`${name}_max`]) };
}

// The band of a gauge series for Chart, or undefined when no row carries a maximum (live
// samples and ranges read without aggregate).
export function bandOf<T>(rows: T[], pick: (row: T) => Gauge): { min: (number | null)[]; max: (number | null)[] } | undefined {
  if (!rows.some((row) => pick(row).max !== null)) {
    return undefined;
  }
  return { min: rows.map((row) => pick(row).min), max: rows.map((row) => pick(row).max) };
}

// The time span of a history body (its start_time and end_time) in Unix seconds, or
// undefined when either is missing.
export function spanOf(body: { start_time?: string; end_time?: string } | null | undefined): [number, number] | undefined {
  const start = Date.parse(String(body?.start_time)) / 1000;
  const end = Date.parse(String(body?.end_time)) / 1000;
  return Number.isFinite(start) && Number.isFinite(end) && end > start ? [start, end] : undefined;
}
