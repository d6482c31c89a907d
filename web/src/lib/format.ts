// Formatting of figures for display. Every formatter turns null or undefined into an em
// dash, because an unknown value must never be shown as 0.

export const UNKNOWN = '—';

type Maybe = number | null | undefined;

function known(value: Maybe): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

// Formats a byte count with binary prefixes: 1536 -> "1.5 KiB".
export function formatBytes(value: Maybe, digits = 1): string {
  if (!known(value)) {
    return UNKNOWN;
  }
  const sign = value < 0 ? '-' : '';
  let size = Math.abs(value);
  let unit = 0;
  while (size >= 1024 && unit < BYTE_UNITS.length - 1) {
    size /= 1024;
    unit++;
  }
  const text = unit === 0 ? String(Math.round(size)) : size.toFixed(digits);
  return `${sign}${text} ${BYTE_UNITS[unit]}`;
}

// Formats a rate in bytes per second: 2048 -> "2.0 KiB/s".
export function formatRate(value: Maybe): string {
  return known(value) ? `${formatBytes(value)}/s` : UNKNOWN;
}

// Formats a percentage that is already on a 0..100 (or per-core, 0..100*N) scale.
export function formatPercent(value: Maybe, digits = 1): string {
  return known(value) ? `${value.toFixed(digits)} %` : UNKNOWN;
}

// Formats a duration in seconds as its two largest units: 93784 -> "1 d 2 h".
export function formatDuration(seconds: Maybe): string {
  if (!known(seconds) || seconds < 0) {
    return UNKNOWN;
  }
  const s = Math.floor(seconds);
  const parts: [number, string][] = [
    [Math.floor(s / 86400), 'd'],
    [Math.floor((s % 86400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'min'],
    [s % 60, 's'],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  if (first < 0) {
    return '0 s';
  }
  return parts
    .slice(first, first + 2)
    .filter(([n], i) => i === 0 || n > 0)
    .map(([n, unit]) => `${n} ${unit}`)
    .join(' ');
}

function toDate(value: string | number | Date | null | undefined): Date | null {
  if (value === null || value === undefined || value === '') {
    return null;
  }
  // Numbers are Unix seconds, as the engine's "created" field is.
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

// Formats a time in the browser's time zone (or timeZone, for tests) as
// "2026-12-04 16:18:26".
export function formatTime(
  value: string | number | Date | null | undefined,
  timeZone?: string,
): string {
  const date = toDate(value);
  if (!date) {
    return UNKNOWN;
  }
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(date);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')}`;
}

// Returns the UTC form shown on hover: "2026-12-04 16:18:26 UTC".
export function formatUtc(value: string | number | Date | null | undefined): string {
  const date = toDate(value);
  if (!date) {
    return UNKNOWN;
  }
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

// Formats a plain count, or the em dash when unknown.
export function formatCount(value: Maybe): string {
  return known(value) ? String(value) : UNKNOWN;
}
