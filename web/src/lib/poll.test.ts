import { describe, expect, it } from 'vitest';
import { ApiError } from './api';
import { liveStatus, nextPollDelayMs } from './poll';

describe('nextPollDelayMs', () => {
  it('keeps the interval after a plain error', () => {
    expect(nextPollDelayMs(2000, new ApiError(500, 'boom'))).toBe(2000);
    expect(nextPollDelayMs(2000, new Error('offline'))).toBe(2000);
  });
  it('waits out the Retry-After of a 429', () => {
    expect(nextPollDelayMs(2000, new ApiError(429, 'Too many requests', 17))).toBe(17000);
  });
  it('never polls sooner than the interval', () => {
    expect(nextPollDelayMs(5000, new ApiError(429, 'Too many requests', 1))).toBe(5000);
  });
});

describe('liveStatus', () => {
  const ok = { error: null, errorStatus: null, retryAt: null };
  const now = 1_000_000;

  it('is live when every call succeeded', () => {
    expect(liveStatus([ok, ok], now, true)).toMatchObject({ state: 'live', text: 'live' });
  });
  it('counts down the longest Retry-After', () => {
    const limited = { error: 'Too many requests', errorStatus: 429, retryAt: now + 4200 };
    const status = liveStatus([ok, limited, { ...limited, retryAt: now + 1000 }], now, true);
    expect(status.state).toBe('waiting');
    expect(status.text).toBe('paused: rate limited, retrying in 5 s');
    expect(status.detail).toContain('Too many requests');
  });
  it('says retrying now once the wait is over', () => {
    const limited = { error: 'Too many requests', errorStatus: 429, retryAt: now - 10 };
    expect(liveStatus([limited], now, true).text).toBe('paused: rate limited, retrying now');
  });
  it('names a busy server for a 503', () => {
    const busy = { error: 'busy', errorStatus: 503, retryAt: now + 2000 };
    expect(liveStatus([busy], now, true).text).toBe('paused: server busy, retrying in 2 s');
  });
  it('is stale after any other failure', () => {
    const down = { error: 'the server did not answer', errorStatus: 0, retryAt: null };
    expect(liveStatus([ok, down], now, true)).toMatchObject({ state: 'failed', detail: 'the server did not answer' });
  });
  it('is paused in a hidden tab', () => {
    expect(liveStatus([ok], now, false).state).toBe('paused');
  });
});
