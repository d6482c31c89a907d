import { describe, expect, it } from 'vitest';
import { alignSeries } from './compare';
import { bandOf, gaugeOf, rowTime, spanOf } from './history';
import { compareCells, numericColumns } from './table';

describe('gaugeOf', () => {
  it('reads the mean, minimum and maximum of an aggregated row', () => {
    const row = { cpu_usage: 2.5, cpu_usage_min: 0.5, cpu_usage_max: 7.25, cpu_usage_avg: 2.5 };
    expect(gaugeOf(row, 'cpu_usage')).toEqual({ avg: 2.5, min: 0.5, max: 7.25 });
  });
  it('leaves min and max unknown in a row without aggregation', () => {
    expect(gaugeOf({ memory_usage: 1024 }, 'memory_usage')).toEqual({ avg: 1024, min: null, max: null });
  });
  it('treats a non-number as unknown', () => {
    expect(gaugeOf({ cpu_usage: 'n/a' }, 'cpu_usage').avg).toBeNull();
  });
});

describe('rowTime', () => {
  it('parses ISO 8601 text to Unix seconds', () => {
    expect(rowTime({ timestamp: '2026-01-02T03:04:05Z' })).toBe(Date.UTC(2026, 0, 2, 3, 4, 5) / 1000);
  });
  it('returns NaN for a missing timestamp', () => {
    expect(rowTime({})).toBeNaN();
  });
});

describe('bandOf', () => {
  it('returns the minimum and maximum columns', () => {
    const rows = [{ avg: 2, min: 1, max: 3 }, { avg: 5, min: 4, max: 6 }];
    expect(bandOf(rows, (r) => r)).toEqual({ min: [1, 4], max: [3, 6] });
  });
  it('returns undefined when no row has a maximum', () => {
    expect(bandOf([{ avg: 2, min: null, max: null }], (r) => r)).toBeUndefined();
  });
});

describe('spanOf', () => {
  it('returns the start and end in Unix seconds', () => {
    expect(spanOf({ start_time: '2026-01-01T00:00:00Z', end_time: '2026-01-01T01:00:00Z' })).toEqual([1767225600, 1767229200]);
  });
  it('returns undefined for a missing or empty span', () => {
    expect(spanOf({ start_time: '2026-01-01T00:00:00Z' })).toBeUndefined();
    expect(spanOf({ start_time: '2026-01-01T00:00:00Z', end_time: '2026-01-01T00:00:00Z' })).toBeUndefined();
    expect(spanOf(null)).toBeUndefined();
  });
});

describe('alignSeries', () => {
  const point = (iso: string, value: number | null) => ({ timestamp: iso, value });
  const body = {
    metric: 'cpu',
    containers: [
      { container_id: 'a', container_name: 'a', data: [point('2026-01-01T00:00:00Z', 1), point('2026-01-01T00:01:00Z', 2)], min_value: 1, max_value: 2, avg_value: 1.5 },
      { container_id: 'b', container_name: 'b', data: [point('2026-01-01T00:01:00Z', 5), point('2026-01-01T00:02:00Z', 6)], min_value: 5, max_value: 6, avg_value: 5.5 },
    ],
  };
  it('puts every container on the union of the times', () => {
    const t0 = Date.UTC(2026, 0, 1) / 1000;
    expect(alignSeries(body).times).toEqual([t0, t0 + 60, t0 + 120]);
  });
  it('fills the buckets a container lacks with null', () => {
    expect(alignSeries(body).values).toEqual([
      [1, 2, null],
      [null, 5, 6],
    ]);
  });
});

describe('compareCells', () => {
  it('compares numeric text as numbers', () => {
    expect(['10', '9', '100'].sort((a, b) => compareCells(a, b, 1))).toEqual(['9', '10', '100']);
  });
  it('compares other text in locale order', () => {
    expect(compareCells('sleep', 'sh', 1)).toBeGreaterThan(0);
  });
  it('puts unknown values last in both directions', () => {
    expect([null, 3, 1].sort((a, b) => compareCells(a, b, 1))).toEqual([1, 3, null]);
    expect([null, 3, 1].sort((a, b) => compareCells(a, b, -1))).toEqual([3, 1, null]);
  });
});

describe('numericColumns', () => {
  it('marks a column numeric only when every row contains a number', () => {
    const rows = [
      ['root', '1', '0', '00:00:01', 'sleep 300'],
      ['root', '17', '1', '00:00:00', 'sh'],
    ];
    expect(numericColumns(5, rows)).toEqual([false, true, true, false, false]);
  });
  it('marks no column numeric in an empty table', () => {
    expect(numericColumns(2, [])).toEqual([false, false]);
  });
});
