// Alignment of the series of GET /stats/compare for one chart.
import { num } from './history';

// The body of GET /stats/compare.
export interface CompareBody {
  metric: string;
  containers: {
    container_id: string;
    container_name: string;
    data: { timestamp: string; value: number | null }[];
    min_value: number | null;
    max_value: number | null;
    avg_value: number | null;
  }[];
  resolution_seconds?: number;
  start_time?: string;
  end_time?: string;
}

// Puts each container's points on the union of their times, with null where a container
// has no bucket, because uPlot needs one shared time column.
export function alignSeries(body: CompareBody): { times: number[]; values: (number | null)[][] } {
  const times = [...new Set(body.containers.flatMap((c) => c.data.map((p) => Date.parse(p.timestamp) / 1000)))]
    .filter((t) => Number.isFinite(t))
    .sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const values = body.containers.map((c) => {
    const column: (number | null)[] = times.map(() => null);
    for (const p of c.data) {
      const i = index.get(Date.parse(p.timestamp) / 1000);
      if (i !== undefined) {
        column[i] = num(p.value);
      }
    }
    return column;
  });
  return { times, values };
}
