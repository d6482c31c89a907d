// The API client. The access token lives only in memory; the refresh token is an HttpOnly
// cookie that the server sets at login and that scripts cannot read. A 401 triggers one
// refresh and one retry; when the refresh fails the session ends.

export type Role = 'viewer' | 'operator' | 'admin';

export interface User {
  id: number;
  username: string;
  email: string;
  role: Role;
  is_active: boolean;
  is_superuser: boolean;
  created_at: string | null;
  updated_at: string | null;
  last_login_at: string | null;
}

interface TokenPair {
  access_token: string;
  user: User;
}

// The first login step's response when the account has a second factor.
interface TotpChallenge {
  totp_required: true;
  totp_token: string;
}

export type LoginResult = { user: User } | { totpToken: string };

// A non-secret marker that a session may exist, so that a page load tries the refresh
// cookie only then and a first visit sends no request that is bound to fail.
const SESSION_HINT = 'inframon.session';

export class ApiError extends Error {
  readonly status: number;
  // The response's Retry-After in seconds (429 and 503 carry it), or null without one.
  readonly retryAfterSeconds: number | null;

  constructor(status: number, message: string, retryAfterSeconds: number | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

// Parses a Retry-After value, delay-seconds or an HTTP date, into whole seconds from now.
// Returns null when the header is missing or invalid.
export function parseRetryAfter(value: string | null, nowMs = Date.now()): number | null {
  if (value === null || value.trim() === '') {
    return null;
  }
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) {
    return Number(trimmed);
  }
  // An HTTP date always names the weekday and month, and Date.parse alone would also
  // read a bare number such as "-3" as a year.
  const date = /[A-Za-z]/.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (Number.isNaN(date)) {
    return null;
  }
  return Math.max(0, Math.ceil((date - nowMs) / 1000));
}

// Builds the error for a response with an error status and its parsed body.
function errorOf(response: Response, body: unknown): ApiError {
  return new ApiError(response.status, errorMessage(response.status, body), parseRetryAfter(response.headers.get('Retry-After')));
}

type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

const API_ROOT = '/api/v1';

// Turns an error body into one readable line. FastAPI-style 422 bodies carry a list of
// {loc, msg}; every other error carries a string detail.
export function errorMessage(status: number, body: unknown): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === 'string' && detail) {
    return detail;
  }
  if (Array.isArray(detail)) {
    const lines = detail.map((item: { loc?: unknown[]; msg?: string }) => {
      const field = Array.isArray(item.loc) ? item.loc[item.loc.length - 1] : undefined;
      return field ? `${String(field)}: ${item.msg ?? 'invalid'}` : (item.msg ?? 'invalid');
    });
    return lines.join('; ');
  }
  if (status === 0) {
    return 'the server did not answer: check that InfraMon is running';
  }
  return `request failed with HTTP ${status}`;
}

export class ApiClient {
  private accessToken: string | null = null;
  private refreshing: Promise<boolean> | null = null;
  // The error of the latest refresh when the refresh token may still be valid: a 429, a
  // 503 or no response at all. Null after a success or a rejection of the token.
  private refreshDeferred: ApiError | null = null;
  private readonly fetchFn: FetchFn;
  // Called once when a session ends without the user logging out (refresh failed).
  onSessionEnd: () => void = () => {};
  // Called with the user after every successful login or refresh.
  onUser: (user: User) => void = () => {};

  constructor(fetchFn?: FetchFn) {
    this.fetchFn = fetchFn ?? ((input, init) => fetch(input, init));
  }

  get authenticated(): boolean {
    return this.accessToken !== null;
  }

  private async send(method: string, path: string, body?: unknown, signal?: AbortSignal, accept = 'application/json'): Promise<Response> {
    const headers: Record<string, string> = { Accept: accept };
    if (this.accessToken) {
      headers.Authorization = `Bearer ${this.accessToken}`;
    }
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
    }
    try {
      return await this.fetchFn(API_ROOT + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        signal,
      });
    } catch (err) {
      if (signal?.aborted) {
        throw err;
      }
      throw new ApiError(0, errorMessage(0, null));
    }
  }

  private accept(pair: TokenPair): User {
    this.accessToken = pair.access_token;
    localStorage.setItem(SESSION_HINT, '1');
    this.onUser(pair.user);
    return pair.user;
  }

  // The first login step: a user, or a challenge for the second factor.
  async login(username: string, password: string): Promise<LoginResult> {
    const response = await this.send('POST', '/auth/login', { username, password });
    const body = await readJson(response);
    if (!response.ok) {
      throw errorOf(response, body);
    }
    if ((body as TotpChallenge).totp_required) {
      return { totpToken: (body as TotpChallenge).totp_token };
    }
    return { user: this.accept(body as TokenPair) };
  }

  // The second login step: a TOTP code or a recovery code.
  async loginTotp(totpToken: string, code: string): Promise<User> {
    const response = await this.send('POST', '/auth/login/totp', { totp_token: totpToken, code });
    const body = await readJson(response);
    if (!response.ok) {
      throw errorOf(response, body);
    }
    return this.accept(body as TokenPair);
  }

  // Restores a session from the refresh cookie when an earlier page load had one.
  async resume(): Promise<boolean> {
    if (!localStorage.getItem(SESSION_HINT)) {
      return false;
    }
    const ok = await this.refresh();
    if (!ok && !this.refreshDeferred) {
      localStorage.removeItem(SESSION_HINT);
    }
    return ok;
  }

  // Gets a new token pair. Concurrent callers share one request, because the server
  // rotates the refresh token on every use.
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    this.refreshDeferred = null;
    let response: Response;
    try {
      response = await this.fetchFn(`${API_ROOT}/auth/refresh`, {
        method: 'POST',
        headers: {
          Accept: 'application/json',
          'Content-Type': 'application/json',
          'X-Requested-With': 'fetch',
        },
        // An empty object makes the server read the HttpOnly cookie. The header shows
        // that a script of this origin sent the request, which a cross-site form cannot.
        body: '{}',
        credentials: 'same-origin',
      });
    } catch {
      this.refreshDeferred = new ApiError(0, errorMessage(0, null));
      return false;
    }
    if (!response.ok) {
      if (response.status === 429 || response.status === 503) {
        this.refreshDeferred = errorOf(response, await readJson(response));
      }
      return false;
    }
    const body = await readJson(response);
    if (!body || typeof (body as TokenPair).access_token !== 'string') {
      return false;
    }
    this.accept(body as TokenPair);
    return true;
  }

  private endSession(): void {
    const hadSession = this.accessToken !== null;
    this.accessToken = null;
    localStorage.removeItem(SESSION_HINT);
    if (hadSession) {
      this.onSessionEnd();
    }
  }

  // Refreshes the token pair after a 401 and sends the request again. The session ends
  // when the server rejects the refresh token or the new token, but not when the refresh
  // got a 429, a 503 or no response. That error is thrown instead, and a later call tries
  // again with the same refresh cookie.
  private async retryAfterRefresh(unauthorized: Response, resend: () => Promise<Response>): Promise<Response> {
    let response = unauthorized;
    if (await this.refresh()) {
      response = await resend();
    } else if (this.refreshDeferred) {
      throw this.refreshDeferred;
    }
    if (response.status === 401) {
      this.endSession();
    }
    return response;
  }

  // Sends a request and returns the parsed JSON body (undefined for 204). Throws ApiError
  // with the server's message on any error status.
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response = await this.send(method, path, body);
    if (response.status === 401) {
      response = await this.retryAfterRefresh(response, () => this.send(method, path, body));
    }
    const parsed = await readJson(response);
    if (!response.ok) {
      throw errorOf(response, parsed);
    }
    return parsed as T;
  }

  // Sends a request whose body the caller reads itself (a log stream or a download), with
  // the same refresh-and-retry rule as request(). A POST sends an empty JSON object and
  // sets Accept to accept, such as text/event-stream. Throws ApiError on an error status.
  async raw(path: string, signal?: AbortSignal, method: 'GET' | 'POST' = 'GET', accept?: string): Promise<Response> {
    const body = method === 'POST' ? {} : undefined;
    let response = await this.send(method, path, body, signal, accept);
    if (response.status === 401) {
      response = await this.retryAfterRefresh(response, () => this.send(method, path, body, signal, accept));
    }
    if (!response.ok) {
      throw errorOf(response, await readJson(response));
    }
    return response;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body ?? {});
  }

  // Ends the session on the server, which revokes the refresh token and clears its cookie.
  // The access token is dropped even when the server cannot be reached.
  async logout(): Promise<void> {
    if (this.accessToken) {
      try {
        await this.send('POST', '/auth/logout', {});
      } catch {
        // Nothing more to do: the token is dropped below.
      }
    }
    this.accessToken = null;
    localStorage.removeItem(SESSION_HINT);
  }
}

async function readJson(response: Response): Promise<unknown> {
  if (response.status === 204) {
    return undefined;
  }
  const text = await response.text();
  if (!text) {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    return { detail: `unexpected answer (HTTP ${response.status}): ${text.slice(0, 200)}` };
  }
}

export const api = new ApiClient();
