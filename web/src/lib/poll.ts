import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

export interface Poll<T> {
  data: T | null;
  // The latest call's error message, or null when it succeeded.
  error: string | null;
  // The HTTP status of the latest call's error (0 when no response arrived), or null.
  errorStatus: number | null;
  // The time in epoch milliseconds of the next call when a 429 or 503 with Retry-After
  // delays it, or null.
  retryAt: number | null;
  loading: boolean;
  refresh: () => void;
}

// Returns the wait in milliseconds before a poller's next call after err: the server's
// Retry-After when it sent one, but never less than the poller's own interval.
export function nextPollDelayMs(intervalMs: number, err: unknown): number {
  if (err instanceof ApiError && err.retryAfterSeconds !== null) {
    return Math.max(intervalMs, err.retryAfterSeconds * 1000);
  }
  return intervalMs;
}

// Calls load now and then intervalMs after each call ends, while the tab is visible. A
// hidden tab sends nothing, and showing it again calls load at once when a call is due.
// After a 429 or 503 with Retry-After the next call waits that long instead. A failed
// call keeps the last data and reports the error; the next success clears it.
export function usePoll<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[] = []): Poll<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [errorStatus, setErrorStatus] = useState<number | null>(null);
  const [retryAt, setRetryAt] = useState<number | null>(null);
  const [loading, setLoading] = useState(true);
  const loadRef = useRef(load);
  loadRef.current = load;
  const runRef = useRef<() => void>(() => {});

  useEffect(() => {
    let alive = true;
    let timer: number | undefined;
    let dueAt = 0;
    let inFlight = false;
    // A refresh() during a call runs once more when that call ends, because the call in
    // flight may have started before the change that the caller wants to see.
    let runAgain = false;

    const schedule = (delayMs: number) => {
      window.clearTimeout(timer);
      dueAt = Date.now() + delayMs;
      timer = window.setTimeout(() => {
        timer = undefined;
        // A hidden tab skips the call, and onVisibility sends it when the tab shows.
        if (document.visibilityState === 'visible') {
          void run();
        }
      }, delayMs);
    };

    const run = async () => {
      if (inFlight) {
        runAgain = true;
        return;
      }
      window.clearTimeout(timer);
      timer = undefined;
      inFlight = true;
      let delayMs = intervalMs;
      try {
        const value = await loadRef.current();
        if (alive) {
          setData(value);
          setError(null);
          setErrorStatus(null);
          setRetryAt(null);
        }
      } catch (err) {
        delayMs = nextPollDelayMs(intervalMs, err);
        if (alive) {
          setError(err instanceof Error ? err.message : String(err));
          setErrorStatus(err instanceof ApiError ? err.status : null);
          setRetryAt(err instanceof ApiError && err.retryAfterSeconds !== null ? Date.now() + delayMs : null);
        }
      } finally {
        inFlight = false;
        if (alive) {
          setLoading(false);
          if (runAgain) {
            runAgain = false;
            void run();
          } else {
            schedule(delayMs);
          }
        }
      }
    };
    runRef.current = () => void run();

    const onVisibility = () => {
      if (document.visibilityState !== 'visible' || inFlight || timer !== undefined) {
        return;
      }
      const waitMs = dueAt - Date.now();
      if (waitMs > 0) {
        schedule(waitMs);
      } else {
        void run();
      }
    };

    setLoading(true);
    void run();
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      alive = false;
      window.clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [intervalMs, ...deps]);

  return { data, error, errorStatus, retryAt, loading, refresh: () => runRef.current() };
}

export interface LiveStatus {
  // live: every latest call succeeded. waiting: a Retry-After delays a call. failed: a
  // latest call failed, and the next one goes out at the normal interval. paused: the tab
  // is hidden, so nothing is polled.
  state: 'live' | 'waiting' | 'failed' | 'paused';
  text: string;
  // The failed calls' error messages, one a line, for the marker's tooltip.
  detail: string;
}

export type PollHealth = Pick<Poll<unknown>, 'error' | 'errorStatus' | 'retryAt'>;

// Sums up the latest calls of the pollers behind one "live" marker at time nowMs.
export function liveStatus(polls: PollHealth[], nowMs: number, visible: boolean): LiveStatus {
  const failed = polls.filter((p) => p.error !== null);
  const detail = failed.map((p) => p.error).join('\n');
  const waits = failed.filter((p) => p.retryAt !== null).map((p) => Math.max(0, Math.ceil(((p.retryAt as number) - nowMs) / 1000)));
  if (waits.length) {
    const seconds = Math.max(...waits);
    const reason = failed.some((p) => p.errorStatus === 429) ? 'rate limited' : 'server busy';
    return { state: 'waiting', text: seconds > 0 ? `paused: ${reason}, retrying in ${seconds} s` : `paused: ${reason}, retrying now`, detail };
  }
  if (failed.length) {
    return { state: 'failed', text: 'paused: the last refresh failed, retrying', detail };
  }
  if (!visible) {
    return { state: 'paused', text: 'paused while the tab is hidden', detail };
  }
  return { state: 'live', text: 'live', detail };
}
