// Logs of several containers in one time-ordered view (GET /api/v1/logs), each line tagged
// and coloured by its container. The selection is in the URL (/logs?containers=a,b), so a
// view can be linked.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ErrorBox, StateBadge } from '../components/common';
import { parseAnsi, stripAnsi } from '../lib/ansi';
import { api, ApiError } from '../lib/api';
import { formatTime, formatUtc } from '../lib/format';
import { colourIndex, idsFromSearch, insertByTime, MERGE_MAX, mergedQuery, type Keyed } from '../lib/mergedlogs';
import { usePoll } from '../lib/poll';
import { readLogStream, type StreamedLine } from '../lib/logstream';
import type { ContainerList } from '../lib/types';
import './pages.css';

// The view keeps the newest lines only, in time order across containers; the
// per-container page has the virtualised view for very long logs.
const MAX_LINES = 5000;

function LineText({ text }: { text: string }) {
  return (
    <>
      {parseAnsi(text).map((run, i) => (
        <span key={i} class={[run.fg ? `ansi-${run.fg}` : '', run.bold ? 'ansi-bold' : ''].join(' ').trim() || undefined}>
          {run.text}
        </span>
      ))}
    </>
  );
}

export default function MergedLogs() {
  const containers = usePoll(() => api.get<ContainerList>('/containers?all_containers=true'), 10000);
  const [ids, setIds] = useState<string[]>(() => idsFromSearch(location.search));
  const [tail, setTail] = useState('100');
  const [follow, setFollow] = useState(true);
  const [search, setSearch] = useState('');
  const [lines, setLines] = useState<Keyed<StreamedLine>[]>([]);
  const [status, setStatus] = useState('');
  const [error, setError] = useState<string | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true);

  const all = containers.data?.data.containers ?? [];
  const names = useMemo(() => new Map(all.map((c) => [c.container_id, c.name])), [all]);

  // Keep the selection in the address bar, so that the view can be linked.
  useEffect(() => {
    const query = ids.length ? `?containers=${encodeURIComponent(ids.join(','))}` : '';
    history.replaceState(null, '', `/logs${query}`);
  }, [ids]);

  useEffect(() => {
    setLines([]);
    setError(null);
    stick.current = true;
    if (!ids.length) {
      setStatus('');
      return;
    }
    const controller = new AbortController();
    // With one container the server leaves lines untagged.
    const tag = (line: StreamedLine): StreamedLine => (line.container_id || line.stream === 'system' ? line : { ...line, container_id: ids[0] });
    const append = (batch: StreamedLine[]) => setLines((prev) => insertByTime(prev, batch.map(tag), MAX_LINES));
    const run = async () => {
      if (!follow) {
        setStatus('Loading…');
        const body = await api.get<{ lines: StreamedLine[]; truncated?: boolean }>(`/logs?${mergedQuery(ids, tail, false)}`);
        append(body.lines ?? []);
        setStatus(body.truncated ? 'The answer was cut to its newest lines.' : 'Loaded');
        return;
      }
      const response = await api.raw(`/logs?${mergedQuery(ids, tail, true)}`, controller.signal);
      setStatus('Following');
      setStatus(await readLogStream(response, append));
    };
    run().catch((err: Error) => {
      if (!controller.signal.aborted) {
        setError(err instanceof ApiError ? err.message : `Log stream failed: ${err.message}`);
        setStatus('');
      }
    });
    return () => controller.abort();
  }, [ids, tail, follow]);

  const needle = search.trim().toLowerCase();
  const shown = needle ? lines.filter(({ line }) => stripAnsi(line.text).toLowerCase().includes(needle)) : lines;

  // Stay at the bottom while lines arrive, unless the user scrolled up.
  useEffect(() => {
    const element = box.current;
    if (element && stick.current) {
      element.scrollTop = element.scrollHeight;
    }
  }, [shown.length]);

  const toggle = (id: string) =>
    setIds((prev) => {
      if (prev.includes(id)) {
        return prev.filter((x) => x !== id);
      }
      return prev.length >= MERGE_MAX ? prev : [...prev, id];
    });

  return (
    <section aria-labelledby="merged-title" class="with-sidebar wide-sidebar">
      <nav class="sidebar" aria-label="Containers to merge">
        <h2>Containers</h2>
        <ErrorBox message={containers.error && `Cannot load containers: ${containers.error}`} />
        <ul class="picker">
          {all.map((c) => (
            <li key={c.container_id}>
              <label class="inline">
                <input
                  type="checkbox"
                  checked={ids.includes(c.container_id)}
                  disabled={!ids.includes(c.container_id) && ids.length >= MERGE_MAX}
                  onChange={() => toggle(c.container_id)}
                />
                {ids.includes(c.container_id) && <span class={`swatch tag-${colourIndex(ids, c.container_id)}`} aria-hidden="true" />}
                <span class="name">{c.name}</span> <StateBadge state={c.status} />
              </label>
            </li>
          ))}
        </ul>
        {ids.length > 0 && (
          <button type="button" class="link" onClick={() => setIds([])}>
            Clear selection
          </button>
        )}
      </nav>
      <div class="main-col">
        <div class="page-head">
          <h1 id="merged-title">Merged logs</h1>
          {follow && status === 'Following' && (
            <span class="live">
              <span class="dot" aria-hidden="true" /> live
            </span>
          )}
        </div>
        <div class="toolbar">
          <input type="search" aria-label="Search merged logs" placeholder="Search lines" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
          <label class="inline">
            <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} /> Follow
          </label>
          <label class="inline">
            Lines per container
            <select value={tail} onChange={(e) => setTail(e.currentTarget.value)}>
              {['10', '100', '500', '1000'].map((n) => (
                <option key={n} value={n}>
                  last {n}
                </option>
              ))}
            </select>
          </label>
        </div>
        <ErrorBox message={error} />
        {ids.length === 0 ? (
          <p class="empty">Pick up to {MERGE_MAX} containers on the left to see their logs in one time-ordered view.</p>
        ) : (
          <>
            <p class="muted small" role="status">
              {shown.length} of {lines.length} lines (newest {MAX_LINES} kept){status ? ` · ${status}` : ''} · times in your zone, UTC on hover
            </p>
            <div
              class="log-view merged-view"
              ref={box}
              tabIndex={0}
              aria-label="Merged log lines"
              onScroll={() => {
                const el = box.current;
                if (el) {
                  stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 20;
                }
              }}
            >
              {shown.map(({ line }, i) => {
                const name = line.container_name ?? names.get(line.container_id ?? '') ?? line.container_id?.slice(0, 12) ?? '';
                return (
                  <div key={i} class={`merged-line log-${line.stream}`} data-container={name} data-time={line.timestamp ?? undefined}>
                    <span class={`tag tag-${colourIndex(ids, line.container_id)}`}>[{name || 'system'}]</span>
                    {line.timestamp && (
                      <span class="log-time" title={formatUtc(line.timestamp)}>
                        {formatTime(line.timestamp)}{' '}
                      </span>
                    )}
                    <LineText text={line.text} />
                  </div>
                );
              })}
            </div>
          </>
        )}
      </div>
    </section>
  );
}
