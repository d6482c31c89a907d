import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ErrorBox, notify } from '../components/common';
import { parseAnsi, stripAnsi } from '../lib/ansi';
import { api, ApiError } from '../lib/api';
import { download } from '../lib/csv';
import { formatTime, formatUtc } from '../lib/format';
import { readLogStream } from '../lib/logstream';

interface LogLine {
  stream: string;
  timestamp: string | null;
  text: string;
}

// The view keeps at most this many lines, dropping the oldest; only the visible rows are
// rendered, so scrolling stays smooth at this size.
const MAX_LINES = 100000;
const LINE_HEIGHT = 18;
const OVERSCAN = 30;

function buildMatcher(search: string, regex: boolean): { re: RegExp | null; error: string | null } {
  if (!search) {
    return { re: null, error: null };
  }
  try {
    const source = regex ? search : search.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return { re: new RegExp(source, 'gi'), error: null };
  } catch (err) {
    return { re: null, error: `Invalid regular expression: ${(err as Error).message}` };
  }
}

function Highlighted({ text, re }: { text: string; re: RegExp | null }) {
  return (
    <>
      {parseAnsi(text).map((run, i) => {
        const cls = [run.fg ? `ansi-${run.fg}` : '', run.bold ? 'ansi-bold' : ''].join(' ').trim() || undefined;
        if (!re) {
          return (
            <span key={i} class={cls}>
              {run.text}
            </span>
          );
        }
        const parts: preact.ComponentChildren[] = [];
        let last = 0;
        re.lastIndex = 0;
        for (const m of run.text.matchAll(re)) {
          if (!m[0]) {
            break; // an empty match would loop forever
          }
          parts.push(run.text.slice(last, m.index));
          parts.push(<mark>{m[0]}</mark>);
          last = (m.index ?? 0) + m[0].length;
        }
        parts.push(run.text.slice(last));
        return (
          <span key={i} class={cls}>
            {parts}
          </span>
        );
      })}
    </>
  );
}

function toRfc3339(local: string): string {
  return local ? new Date(local).toISOString() : '';
}

export function Logs({ id, name }: { id: string; name: string }) {
  const [tail, setTail] = useState('500');
  const [follow, setFollow] = useState(true);
  const [showStdout, setShowStdout] = useState(true);
  const [showStderr, setShowStderr] = useState(true);
  const [showTimes, setShowTimes] = useState(true);
  const [search, setSearch] = useState('');
  const [regex, setRegex] = useState(false);
  const [onlyMatches, setOnlyMatches] = useState(true);
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [status, setStatus] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const [scrollTop, setScrollTop] = useState(0);
  const lines = useRef<LogLine[]>([]);
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true);

  // Reload when the selection changes: a follow stream, or one JSON response.
  useEffect(() => {
    const controller = new AbortController();
    let frame = 0;
    lines.current = [];
    stick.current = true;
    setVersion((v) => v + 1);
    setError(null);
    const params = new URLSearchParams({ tail, timestamps: 'true' });
    if (since) {
      params.set('since', toRfc3339(since));
    }
    if (until) {
      params.set('until', toRfc3339(until));
    }
    const path = `/containers/${encodeURIComponent(id)}/logs`;
    const append = (batch: LogLine[]) => {
      const all = lines.current;
      all.push(...batch);
      if (all.length > MAX_LINES) {
        all.splice(0, all.length - MAX_LINES);
      }
      if (!frame) {
        frame = requestAnimationFrame(() => {
          frame = 0;
          setVersion((v) => v + 1);
        });
      }
    };

    const run = async () => {
      if (!follow || until) {
        setStatus('Loading…');
        const body = await api.get<{ lines: LogLine[]; truncated?: boolean }>(`${path}?${params}`);
        append(body.lines ?? []);
        setStatus(body.truncated ? 'The answer was cut to its newest lines.' : '');
        return;
      }
      params.set('follow', 'true');
      const response = await api.raw(`${path}?${params}`, controller.signal);
      setStatus('Following');
      setStatus(await readLogStream(response, append));
    };
    run().catch((err: Error) => {
      if (!controller.signal.aborted) {
        setError(err instanceof ApiError ? err.message : `Log stream failed: ${err.message}`);
        setStatus('');
      }
    });
    return () => {
      controller.abort();
      cancelAnimationFrame(frame);
    };
  }, [id, tail, follow, since, until]);

  const matcher = useMemo(() => buildMatcher(search, regex), [search, regex]);
  const shown = useMemo(() => {
    const re = matcher.re;
    return lines.current.filter((line) => {
      if ((line.stream === 'stdout' && !showStdout) || (line.stream === 'stderr' && !showStderr)) {
        return false;
      }
      if (re && onlyMatches) {
        re.lastIndex = 0;
        return re.test(stripAnsi(line.text));
      }
      return true;
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [version, matcher, onlyMatches, showStdout, showStderr]);

  // Keep the view at the bottom while new lines arrive, unless the user scrolled up.
  useEffect(() => {
    const element = box.current;
    if (element && stick.current) {
      element.scrollTop = element.scrollHeight;
      setScrollTop(element.scrollTop);
    }
  }, [shown.length]);

  const onScroll = () => {
    const element = box.current;
    if (!element) {
      return;
    }
    stick.current = element.scrollTop + element.clientHeight >= element.scrollHeight - LINE_HEIGHT;
    setScrollTop(element.scrollTop);
  };

  const viewHeight = box.current?.clientHeight ?? 480;
  const first = Math.max(0, Math.floor(scrollTop / LINE_HEIGHT) - OVERSCAN);
  const last = Math.min(shown.length, Math.ceil((scrollTop + viewHeight) / LINE_HEIGHT) + OVERSCAN);

  const saveAll = async () => {
    const params = new URLSearchParams({ download: 'true', tail: 'all', timestamps: 'true' });
    if (since) {
      params.set('since', toRfc3339(since));
    }
    if (until) {
      params.set('until', toRfc3339(until));
    }
    try {
      const response = await api.raw(`/containers/${encodeURIComponent(id)}/logs?${params}`);
      const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, '-');
      download(`${name}-logs-${stamp}Z-times-in-UTC.txt`, await response.text(), 'text/plain');
    } catch (err) {
      notify('error', `Log download failed: ${(err as Error).message}`);
    }
  };

  return (
    <div class="logs">
      <div class="toolbar">
        <input type="search" aria-label="Search logs" placeholder="Search logs" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        <label class="inline">
          <input type="checkbox" checked={regex} onChange={(e) => setRegex(e.currentTarget.checked)} /> Regex
        </label>
        <label class="inline">
          <input type="checkbox" checked={onlyMatches} onChange={(e) => setOnlyMatches(e.currentTarget.checked)} /> Only matching lines
        </label>
        <label class="inline">
          Lines
          <select value={tail} onChange={(e) => setTail(e.currentTarget.value)}>
            {['100', '500', '1000', '10000', 'all'].map((n) => (
              <option key={n} value={n}>
                {n === 'all' ? 'all' : `last ${n}`}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div class="toolbar">
        <label class="inline">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} /> Follow
        </label>
        <label class="inline">
          <input type="checkbox" checked={showStdout} onChange={(e) => setShowStdout(e.currentTarget.checked)} /> stdout
        </label>
        <label class="inline">
          <input type="checkbox" checked={showStderr} onChange={(e) => setShowStderr(e.currentTarget.checked)} /> stderr
        </label>
        <label class="inline">
          <input type="checkbox" checked={showTimes} onChange={(e) => setShowTimes(e.currentTarget.checked)} /> Times
        </label>
        <label class="inline">
          Since <input type="datetime-local" step="1" value={since} onChange={(e) => setSince(e.currentTarget.value)} />
        </label>
        <label class="inline">
          Until <input type="datetime-local" step="1" value={until} onChange={(e) => setUntil(e.currentTarget.value)} />
        </label>
        <button type="button" onClick={saveAll}>
          Download
        </button>
      </div>
      <ErrorBox message={error ?? matcher.error} />
      <p class="muted small" role="status">
        {shown.length} of {lines.current.length} lines{status ? ` · ${status}` : ''} · times in your zone, UTC on hover
      </p>
      <div class="log-view" ref={box} onScroll={onScroll} tabIndex={0} aria-label={`Logs of ${name}`}>
        <div style={{ height: `${shown.length * LINE_HEIGHT}px`, position: 'relative' }}>
          {shown.slice(first, last).map((line, i) => (
            <div key={first + i} class={`log-line log-${line.stream}`} style={{ top: `${(first + i) * LINE_HEIGHT}px` }}>
              {showTimes && line.timestamp && (
                <span class="log-time" title={formatUtc(line.timestamp)}>
                  {formatTime(line.timestamp)}
                </span>
              )}
              <Highlighted text={line.text} re={matcher.re} />
            </div>
          ))}
        </div>
      </div>
    </div>
  );
}
