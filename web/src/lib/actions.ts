import { api } from './api';
import type { ActionResponse, BulkResponse } from './types';
import type { Role } from './api';

export type Action = 'start' | 'stop' | 'restart' | 'pause' | 'unpause' | 'kill' | 'remove';

export interface ActionInfo {
  label: string;
  // States in which the engine accepts the action.
  states: string[];
  // Destructive actions ask for a confirmation naming the target.
  destructive: boolean;
  minRole: Role;
}

export const ACTIONS: Record<Action, ActionInfo> = {
  start: { label: 'Start', states: ['exited', 'created', 'dead'], destructive: false, minRole: 'operator' },
  stop: { label: 'Stop', states: ['running', 'restarting', 'paused'], destructive: true, minRole: 'operator' },
  restart: { label: 'Restart', states: ['running', 'exited', 'created', 'restarting'], destructive: true, minRole: 'operator' },
  pause: { label: 'Pause', states: ['running'], destructive: false, minRole: 'operator' },
  unpause: { label: 'Resume', states: ['paused'], destructive: false, minRole: 'operator' },
  kill: { label: 'Kill', states: ['running', 'restarting', 'paused'], destructive: true, minRole: 'operator' },
  remove: { label: 'Remove', states: ['exited', 'created', 'dead', 'running', 'paused', 'restarting'], destructive: true, minRole: 'operator' },
};

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export function roleAtLeast(role: Role | undefined, min: Role): boolean {
  return role !== undefined && RANK[role] >= RANK[min];
}

export function confirmText(action: Action, targets: string[]): string {
  const who = targets.length === 1 ? `container "${targets[0]}"` : `${targets.length} containers (${targets.join(', ')})`;
  switch (action) {
    case 'remove':
      return `Remove ${who}? A running container is stopped first (force). This cannot be undone.`;
    case 'kill':
      return `Send SIGKILL to ${who}? Processes get no chance to clean up.`;
    case 'stop':
      return `Stop ${who}? Its processes get SIGTERM, then SIGKILL after 10 seconds.`;
    default:
      return `${ACTIONS[action].label} ${who}?`;
  }
}

export function runAction(id: string, action: Action): Promise<ActionResponse> {
  const path = `/containers/${encodeURIComponent(id)}`;
  if (action === 'remove') {
    return api.request<ActionResponse>('DELETE', `${path}?force=true`);
  }
  return api.post<ActionResponse>(`${path}/${action}`);
}

export function runBulk(ids: string[], action: Action): Promise<BulkResponse> {
  return api.post<BulkResponse>('/containers/bulk-action', {
    container_ids: ids,
    action,
    force: action === 'remove',
  });
}
