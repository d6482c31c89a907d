import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount, formatDuration, formatPercent, formatRate, formatTime, formatUtc, UNKNOWN } from './format';

describe('formatBytes', () => {
  it('uses binary prefixes', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GiB');
    expect(formatBytes(-2048)).toBe('-2.0 KiB');
  });
  it('shows unknown values as a dash, never 0', () => {
    expect(formatBytes(null)).toBe(UNKNOWN);
    expect(formatBytes(undefined)).toBe(UNKNOWN);
    expect(formatBytes(Number.NaN)).toBe(UNKNOWN);
  });
  it('formats rates per second', () => {
    expect(formatRate(2048)).toBe('2.0 KiB/s');
    expect(formatRate(null)).toBe(UNKNOWN);
  });
});

describe('formatPercent', () => {
  it('keeps values above 100 for multi-core figures', () => {
    expect(formatPercent(12.345)).toBe('12.3 %');
    expect(formatPercent(250)).toBe('250.0 %');
    expect(formatPercent(0)).toBe('0.0 %');
  });
  it('shows null as a dash', () => {
    expect(formatPercent(null)).toBe(UNKNOWN);
  });
});

describe('formatDuration', () => {
  it('shows the two largest units', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(59)).toBe('59 s');
    expect(formatDuration(61)).toBe('1 min 1 s');
    expect(formatDuration(3600)).toBe('1 h');
    expect(formatDuration(93784)).toBe('1 d 2 h');
  });
  it('rejects negative and unknown durations', () => {
    expect(formatDuration(-5)).toBe(UNKNOWN);
    expect(formatDuration(null)).toBe(UNKNOWN);
  });
});

describe('formatTime', () => {
  const iso = '2026-12-04T16:18:26Z';
  it('converts to the given zone', () => {
    expect(formatTime(iso, 'UTC')).toBe('2026-12-04 16:18:26');
    expect(formatTime(iso, 'Asia/Tokyo')).toBe('2026-12-05 01:18:26');
    expect(formatTime(iso, 'America/New_York')).toBe('2026-12-04 11:18:26');
  });
  it('reads numbers as Unix seconds', () => {
    expect(formatTime(1796400000, 'UTC')).toBe(formatUtc(1796400000).replace(' UTC', ''));
  });
  it('gives the UTC form for the hover title', () => {
    expect(formatUtc(iso)).toBe('2026-12-04 16:18:26 UTC');
  });
  it('shows missing or invalid times as a dash', () => {
    expect(formatTime(null)).toBe(UNKNOWN);
    expect(formatTime('not a time')).toBe(UNKNOWN);
    expect(formatUtc('')).toBe(UNKNOWN);
  });
});

describe('formatCount', () => {
  it('keeps 0 and hides unknown', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(null)).toBe(UNKNOWN);
  });
});
