// The engine's container events, live: GET /api/v1/events read with fetch (EventSource
// cannot send the Authorization header), with an action filter, a backlog and a pause.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ErrorBox, Time } from '../components/common';
import { api, ApiError } from '../lib/api';
import { addEvents, EVENT_ACTIONS, eventDetail, eventTone, type EngineEvent } from '../lib/events';
import { onLinkClick } from '../lib/router';
import { readSse } from '../lib/sse';
import './pages.css';

const MAX_EVENTS = 500;
const RETRY_MS = 5000;

const BACKLOGS: [string, number][] = [
  ['from now on', 0],
  ['the last 15 minutes', 15 * 60],
  ['the last hour', 3600],
  ['the last 24 hours', 86400],
];

type Status = 'connecting' | 'live' | 'paused' | 'retrying';

export default function EventsFeed() {
  const [actions, setActions] = useState<Set<string>>(new Set());
  const [backlog, setBacklog] = useState(3600);
  const [paused, setPaused] = useState(false);
  const [events, setEvents] = useState<EngineEvent[]>([]);
  const [status, setStatus] = useState<Status>('connecting');
  const [error, setError] = useState<string | null>(null);
  const [dropped, setDropped] = useState(0);
  const [attempt, setAttempt] = useState(0);
  // While paused, arriving events wait here and join the list on resume.
  const waitingEvents = useRef<EngineEvent[]>([]);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  useEffect(() => {
    const controller = new AbortController();
    let retry = 0;
    setEvents([]);
    setDropped(0);
    setStatus('connecting');
    const params = new URLSearchParams();
    if (actions.size) {
      params.set('type', [...actions].join(','));
    }
    if (backlog) {
      params.set('since', String(Math.floor(Date.now() / 1000) - backlog));
    }
    const run = async () => {
      const response = await api.raw(`/events?${params}`, controller.signal);
      setError(null);
      setStatus(pausedRef.current ? 'paused' : 'live');
      await readSse(response, (batch) => {
        const arrived: EngineEvent[] = [];
        for (const event of batch) {
          if (event.event === 'container') {
            arrived.push(JSON.parse(event.data) as EngineEvent);
          } else if (event.event === 'dropped') {
            setDropped((n) => n + ((JSON.parse(event.data) as { dropped?: number }).dropped ?? 0));
          }
        }
        if (!arrived.length) {
          return;
        }
        if (pausedRef.current) {
          waitingEvents.current.push(...arrived);
        } else {
          setEvents((list) => addEvents(list, arrived, MAX_EVENTS));
        }
      });
      throw new Error('the server closed the events stream');
    };
    run().catch((err: Error) => {
      if (controller.signal.aborted) {
        return;
      }
      setError(`${err instanceof ApiError ? err.message : `Events stream failed: ${err.message}`}. Retrying in ${RETRY_MS / 1000} s.`);
      setStatus('retrying');
      retry = window.setTimeout(() => setAttempt((n) => n + 1), RETRY_MS);
    });
    return () => {
      controller.abort();
      window.clearTimeout(retry);
    };
  }, [actions, backlog, attempt]);

  const togglePause = () => {
    if (paused) {
      const waiting = waitingEvents.current;
      waitingEvents.current = [];
      setEvents((list) => addEvents(list, waiting, MAX_EVENTS));
      setStatus('live');
    } else {
      setStatus('paused');
    }
    setPaused(!paused);
  };

  const toggleAction = (action: string) =>
    setActions((prev) => {
      const next = new Set(prev);
      if (next.has(action)) {
        next.delete(action);
      } else {
        next.add(action);
      }
      return next;
    });

  const statusText: Record<Status, string> = {
    connecting: 'connecting…',
    live: 'live',
    paused: `paused (${waitingEvents.current.length} waiting)`,
    retrying: 'disconnected',
  };
  return (
    <section aria-labelledby="events-title">
      <div class="page-head">
        <h1 id="events-title">Engine events</h1>
        <span class="live" role="status">
          {status === 'live' && <span class="dot" aria-hidden="true" />} {statusText[status]}
        </span>
        <button type="button" onClick={togglePause} aria-pressed={paused}>
          {paused ? 'Resume' : 'Pause'}
        </button>
      </div>
      <fieldset class="card">
        <legend>Actions shown (none ticked: all)</legend>
        <div class="chips">
          {EVENT_ACTIONS.map((a) => (
            <label key={a} class="inline">
              <input type="checkbox" checked={actions.has(a)} onChange={() => toggleAction(a)} /> {a}
            </label>
          ))}
        </div>
      </fieldset>
      <div class="toolbar">
        <label class="inline">
          Start with the events of
          <select value={String(backlog)} onChange={(e) => setBacklog(Number(e.currentTarget.value))}>
            {BACKLOGS.map(([label, seconds]) => (
              <option key={seconds} value={String(seconds)}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => setEvents([])} disabled={!events.length}>
          Clear list
        </button>
        <span class="muted small">
          Newest first, at most {MAX_EVENTS}; times in your zone, UTC on hover.
          {dropped > 0 && ` ${dropped} events were dropped because the browser read too slowly.`}
        </span>
      </div>
      <ErrorBox message={error} />
      {events.length === 0 ? (
        <p class="empty">{status === 'connecting' ? 'Connecting to the events stream…' : 'No container event yet. Start or stop a container to see one here.'}</p>
      ) : (
        <div class="table-wrap">
          <table class="events" aria-label="Container events">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Action</th>
                <th scope="col">Container</th>
                <th scope="col" class="hide-narrow">
                  Image
                </th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={`${e.time_nano}/${e.container_id}/${e.action}`} data-action={e.action} data-name={e.name ?? ''}>
                  <td>
                    <Time value={e.time} />
                  </td>
                  <td>
                    <span class={`badge tone-${eventTone(e)}`}>{e.action}</span>
                  </td>
                  <td>
                    {e.container_id && e.action !== 'destroy' ? (
                      <a href={`/containers/${encodeURIComponent(e.container_id)}`} onClick={onLinkClick}>
                        {e.name ?? e.container_id.slice(0, 12)}
                      </a>
                    ) : (
                      (e.name ?? e.container_id?.slice(0, 12))
                    )}
                  </td>
                  <td class="hide-narrow mono">{e.image}</td>
                  <td>{eventDetail(e)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
