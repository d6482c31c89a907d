import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Poll<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  refresh: () => void;
}

// Calls load now and every intervalMs while the tab is visible. A failed call keeps the
// last data and reports the error; the next success clears it.
export function usePoll<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[] = []): Poll<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const loadRef = useRef(load);
  loadRef.current = load;
  const alive = useRef(true);

  const run = useCallback(async () => {
    try {
      const value = await loadRef.current();
      if (alive.current) {
        setData(value);
        setError(null);
      }
    } catch (err) {
      if (alive.current) {
        setError(err instanceof Error ? err.message : String(err));
      }
    } finally {
      if (alive.current) {
        setLoading(false);
      }
    }
  }, []);

  useEffect(() => {
    alive.current = true;
    setLoading(true);
    void run();
    const timer = window.setInterval(() => {
      if (document.visibilityState === 'visible') {
        void run();
      }
    }, intervalMs);
    return () => {
      alive.current = false;
      window.clearInterval(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [intervalMs, ...deps]);

  return { data, error, loading, refresh: () => void run() };
}
