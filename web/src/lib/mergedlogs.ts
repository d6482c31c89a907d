// Merged logs of several containers: the query for GET /api/v1/logs and a stable colour
// per container.

// Distinct colour classes (defined in both themes); a container keeps its colour while the
// selection stays the same.
export const TAG_COLOURS = 8;

export function colourIndex(ids: string[], id: string | undefined): number {
  const index = id ? ids.indexOf(id) : -1;
  return index < 0 ? 0 : index % TAG_COLOURS;
}

// The server accepts at most 20 containers in one merged view.
export const MERGE_MAX = 20;

export function mergedQuery(ids: string[], tail: string, follow: boolean): string {
  const params = new URLSearchParams({ container_ids: ids.join(','), tail, timestamps: 'true' });
  if (follow) {
    params.set('follow', 'true');
  }
  return params.toString();
}

// Reads the container ids of a link such as /logs?containers=a,b.
export function idsFromSearch(search: string): string[] {
  const value = new URLSearchParams(search).get('containers') ?? '';
  return value
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean)
    .slice(0, MERGE_MAX);
}

// Returns a key that orders RFC 3339 timestamps by time as plain strings: milliseconds of
// the whole seconds (15 digits) and then nanoseconds (9 digits). The engine trims
// trailing zeros of the fraction, so the timestamps themselves do not compare as
// strings. Returns null for a missing or unreadable timestamp.
export function timeKey(timestamp: string | null | undefined): string | null {
  const match = timestamp ? /^([^.]+?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(timestamp) : null;
  if (!match) {
    return null;
  }
  const ms = Date.parse(match[1] + match[3]);
  if (Number.isNaN(ms) || ms < 0) {
    return null;
  }
  return String(ms).padStart(15, '0') + (match[2] ?? '').padEnd(9, '0').slice(0, 9);
}

export interface Keyed<T> {
  line: T;
  key: string;
}

// Inserts each line of batch into list (kept ordered by time) and keeps the newest max.
// A line without a readable timestamp sorts with the line before it. Lines of one
// container arrive in order, but the streams of different containers interleave late or
// in blocks, so a line can belong before ones already shown.
export function insertByTime<T extends { timestamp: string | null }>(list: Keyed<T>[], batch: T[], max: number): Keyed<T>[] {
  const out = list.slice();
  for (const line of batch) {
    const last = out.length ? out[out.length - 1].key : '';
    const key = timeKey(line.timestamp) ?? last;
    if (key >= last) {
      out.push({ line, key });
      continue;
    }
    // The first position whose key is greater: equal keys keep their arrival order.
    let low = 0;
    let high = out.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (out[mid].key <= key) {
        low = mid + 1;
      } else {
        high = mid;
      }
    }
    out.splice(low, 0, { line, key });
  }
  return out.length > max ? out.slice(out.length - max) : out;
}
