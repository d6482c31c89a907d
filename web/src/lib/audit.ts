// The audit-log query: filters from the page's form turned into the query string of
// GET /api/v1/audit-logs, which the JSON list and the CSV download share.

export interface AuditEntry {
  id: number;
  timestamp: string;
  user_id: number | null;
  username: string | null;
  action: string | null;
  target_type: string | null;
  target_id: string | null;
  ip_address: string | null;
  user_agent: string | null;
  success: boolean;
  error_message: string | null;
  details: unknown;
}

export interface AuditPage {
  items: AuditEntry[];
  total: number;
  page: number;
  page_size: number;
}

export interface AuditFilter {
  userId: string; // "" for every user
  action: string;
  target: string;
  since: string; // a datetime-local value in the browser's zone, or ""
  until: string;
  result: '' | 'success' | 'failure';
}

export const EMPTY_AUDIT_FILTER: AuditFilter = { userId: '', action: '', target: '', since: '', until: '', result: '' };

// Actions the server records, offered as suggestions in the action filter. The filter
// matches an action exactly.
export const AUDIT_ACTIONS = [
  'auth.login',
  'auth.login_password',
  'auth.logout',
  'auth.totp_setup',
  'auth.totp_enable',
  'auth.totp_disable',
  'auth.api_token_create',
  'auth.api_token_revoke',
  'user.create',
  'user.update',
  'user.delete',
  'user.change_password',
  'container.start',
  'container.stop',
  'container.restart',
  'container.pause',
  'container.unpause',
  'container.kill',
  'container.remove',
  'container.bulk_action',
  'container.rename',
  'container.update',
  'container.exec',
  'container.shell',
  'container.shell.session',
  'container.logs.download',
  'container.prune',
  'compose.start',
  'compose.stop',
  'compose.restart',
  'compose.pull',
  'group.create',
  'group.update',
  'group.delete',
  'group.containers.set',
  'image.prune',
  'network.prune',
  'volume.prune',
];

// Converts a datetime-local value (browser zone) to RFC 3339 in UTC. An empty or invalid
// value gives "".
export function localToRfc3339(local: string): string {
  if (!local) {
    return '';
  }
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// Builds the query string for one page (JSON) or for the CSV download (page is null).
export function auditQuery(filter: AuditFilter, page: number | null, pageSize = 50): string {
  const params = new URLSearchParams();
  if (filter.userId) {
    params.set('user_id', filter.userId);
  }
  if (filter.action.trim()) {
    params.set('action', filter.action.trim());
  }
  if (filter.target.trim()) {
    params.set('container_id', filter.target.trim());
  }
  const since = localToRfc3339(filter.since);
  const until = localToRfc3339(filter.until);
  if (since) {
    params.set('since', since);
  }
  if (until) {
    params.set('until', until);
  }
  if (filter.result) {
    params.set('success', filter.result === 'success' ? 'true' : 'false');
  }
  if (page === null) {
    params.set('format', 'csv');
  } else {
    params.set('page', String(page));
    params.set('page_size', String(pageSize));
  }
  return params.toString();
}

// Returns the number of pages for total rows, at least 1 so that "page 1 of 1" reads well
// on an empty result.
export function pageCount(total: number, pageSize: number): number {
  return Math.max(1, Math.ceil(total / pageSize));
}
