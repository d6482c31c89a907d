// The engine's container events as GET /api/v1/events streams them (one SSE event named
// "container" each).

export interface EngineEvent {
  type: 'container';
  action: string;
  container_id: string | null;
  name: string | null;
  image: string | null;
  exit_code: number | null;
  health?: string | null;
  time: string;
  time_nano: number;
}

// The actions the server's type filter accepts, in the order the page offers them.
export const EVENT_ACTIONS = [
  'create',
  'start',
  'restart',
  'die',
  'stop',
  'kill',
  'pause',
  'unpause',
  'destroy',
  'oom',
  'rename',
  'update',
  'health_status',
];

// Returns the short description shown next to the action: "exit code 137", "healthy".
export function eventDetail(event: EngineEvent): string {
  if (event.action === 'health_status') {
    return event.health ?? '';
  }
  if (event.exit_code !== null && event.exit_code !== undefined) {
    return `exit code ${event.exit_code}`;
  }
  return '';
}

// A class for the action's badge: failures red, starts green, the rest neutral.
export function eventTone(event: EngineEvent): 'ok' | 'bad' | 'neutral' {
  if (event.action === 'oom' || (event.action === 'die' && event.exit_code !== 0 && event.exit_code !== null)) {
    return 'bad';
  }
  if (event.action === 'health_status' && event.health === 'healthy') {
    return 'ok';
  }
  if (event.action === 'health_status' && event.health === 'unhealthy') {
    return 'bad';
  }
  if (event.action === 'start' || event.action === 'unpause') {
    return 'ok';
  }
  return 'neutral';
}

// Adds newly arrived events to the newest-first list, dropping duplicates (the backlog and
// the live feed can overlap by a second) and keeping at most max entries.
export function addEvents(list: EngineEvent[], arrived: EngineEvent[], max: number): EngineEvent[] {
  const key = (e: EngineEvent) => `${e.time_nano}/${e.container_id}/${e.action}`;
  const seen = new Set(list.map(key));
  const fresh = arrived.filter((e) => {
    const k = key(e);
    if (seen.has(k)) {
      return false;
    }
    seen.add(k);
    return true;
  });
  return [...fresh.reverse(), ...list].slice(0, max);
}
