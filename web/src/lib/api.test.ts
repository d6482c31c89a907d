import { beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, ApiError, errorMessage, parseRetryAfter } from './api';

// Node has no localStorage; the client keeps only a non-secret session marker there.
const storage = new Map<string, string>();
globalThis.localStorage = {
  getItem: (key: string) => storage.get(key) ?? null,
  setItem: (key: string, value: string) => void storage.set(key, value),
  removeItem: (key: string) => void storage.delete(key),
  clear: () => storage.clear(),
  key: () => null,
  length: 0,
} as Storage;

beforeEach(() => storage.clear());

interface Call {
  url: string;
  init: RequestInit;
}

// A recorded fetch: each call takes the next canned response. This stands in for the
// network only; the server's own behaviour is covered by the browser tests in tests/e2e.
function scripted(responses: Array<[number, unknown, Record<string, string>?]>) {
  const calls: Call[] = [];
  const fetchFn = async (url: string, init?: RequestInit) => {
    calls.push({ url, init: init ?? {} });
    const next = responses.shift();
    if (!next) {
      throw new Error(`unexpected request to ${url}`);
    }
    const [status, body, headers] = next;
    return new Response(body === undefined ? null : JSON.stringify(body), { status, headers });
  };
  return { calls, fetchFn };
}

const user = { id: 1, username: 'admin', role: 'admin' };
const pair = (n: number) => ({ access_token: `access-${n}`, refresh_token: `refresh-${n}`, user });

function header(call: Call, name: string): string | undefined {
  return (call.init.headers as Record<string, string>)[name];
}

describe('ApiClient', () => {
  it('sends the access token after login', async () => {
    const { calls, fetchFn } = scripted([[200, pair(1)], [200, { ok: true }]]);
    const client = new ApiClient(fetchFn);
    await client.login('admin', 'pw');
    await client.get('/stats/system');
    expect(calls[1].url).toBe('/api/v1/stats/system');
    expect(header(calls[1], 'Authorization')).toBe('Bearer access-1');
  });

  it('refreshes once on 401 and retries with the new token', async () => {
    const { calls, fetchFn } = scripted([
      [200, pair(1)],
      [401, { detail: 'Could not validate credentials' }],
      [200, pair(2)],
      [200, { value: 7 }],
    ]);
    const client = new ApiClient(fetchFn);
    await client.login('admin', 'pw');
    const body = await client.get<{ value: number }>('/containers');
    expect(body.value).toBe(7);
    expect(calls).toHaveLength(4);
    expect(calls[2].url).toBe('/api/v1/auth/refresh');
    // The refresh token travels only in the HttpOnly cookie, never in the body.
    expect(JSON.parse(String(calls[2].init.body))).toEqual({});
    expect(header(calls[2], 'X-Requested-With')).toBe('fetch');
    expect(calls[2].init.credentials).toBe('same-origin');
    expect(header(calls[3], 'Authorization')).toBe('Bearer access-2');
  });

  it('ends the session when the refresh fails', async () => {
    const { calls, fetchFn } = scripted([
      [200, pair(1)],
      [401, { detail: 'expired' }],
      [401, { detail: 'Invalid refresh token' }],
    ]);
    const client = new ApiClient(fetchFn);
    let ended = 0;
    client.onSessionEnd = () => ended++;
    await client.login('admin', 'pw');
    await expect(client.get('/containers')).rejects.toMatchObject({ status: 401 });
    expect(calls).toHaveLength(3);
    expect(ended).toBe(1);
    expect(client.authenticated).toBe(false);
  });

  it('does not refresh twice when the retry also gets 401', async () => {
    const { calls, fetchFn } = scripted([
      [200, pair(1)],
      [401, {}],
      [200, pair(2)],
      [401, {}],
    ]);
    const client = new ApiClient(fetchFn);
    await client.login('admin', 'pw');
    await expect(client.get('/containers')).rejects.toBeInstanceOf(ApiError);
    expect(calls).toHaveLength(4);
    expect(calls.filter((c) => c.url.endsWith('/auth/refresh'))).toHaveLength(1);
  });

  it('shares one refresh between concurrent 401s', async () => {
    const { calls, fetchFn } = scripted([
      [200, pair(1)],
      [401, {}],
      [401, {}],
      [200, pair(2)],
      [200, { a: 1 }],
      [200, { b: 2 }],
    ]);
    const client = new ApiClient(fetchFn);
    await client.login('admin', 'pw');
    await Promise.all([client.get('/a'), client.get('/b')]);
    expect(calls.filter((c) => c.url.endsWith('/auth/refresh'))).toHaveLength(1);
  });

  it('streams a POST with the requested media type and retries after a refresh', async () => {
    const { calls, fetchFn } = scripted([[200, pair(1)], [401, { detail: 'expired' }], [200, pair(2)], [200, {}]]);
    const client = new ApiClient(fetchFn);
    await client.login('admin', 'pw');
    const response = await client.raw('/compose/projects/shop/pull', undefined, 'POST', 'text/event-stream');
    expect(response.status).toBe(200);
    expect(calls[3].init.method).toBe('POST');
    expect(header(calls[3], 'Accept')).toBe('text/event-stream');
    expect(header(calls[3], 'Authorization')).toBe('Bearer access-2');
    expect(JSON.parse(String(calls[3].init.body))).toEqual({});
  });

  it('reports the server message on errors', async () => {
    const { fetchFn } = scripted([[401, { detail: 'Incorrect username or password' }]]);
    const client = new ApiClient(fetchFn);
    await expect(client.login('admin', 'bad')).rejects.toThrow('Incorrect username or password');
  });
});

describe('ApiClient sessions', () => {
  it('returns the second-factor challenge without a session', async () => {
    const { calls, fetchFn } = scripted([
      [200, { totp_required: true, totp_token: 'challenge', expires_in: 300 }],
      [200, pair(1)],
    ]);
    const client = new ApiClient(fetchFn);
    const first = await client.login('admin', 'pw');
    expect(first).toEqual({ totpToken: 'challenge' });
    expect(client.authenticated).toBe(false);
    const signedIn = await client.loginTotp('challenge', '123456');
    expect(signedIn.username).toBe('admin');
    expect(JSON.parse(String(calls[1].init.body))).toEqual({ totp_token: 'challenge', code: '123456' });
    expect(client.authenticated).toBe(true);
  });

  it('tries the refresh cookie on load only after an earlier login', async () => {
    const { calls, fetchFn } = scripted([[200, pair(1)]]);
    const client = new ApiClient(fetchFn);
    expect(await client.resume()).toBe(false);
    expect(calls).toHaveLength(0);
    localStorage.setItem('inframon.session', '1');
    expect(await client.resume()).toBe(true);
    expect(calls[0].url).toBe('/api/v1/auth/refresh');
  });

  it('forgets the session marker when the refresh fails', async () => {
    const { fetchFn } = scripted([[401, { detail: 'Invalid or expired refresh token' }]]);
    localStorage.setItem('inframon.session', '1');
    const client = new ApiClient(fetchFn);
    expect(await client.resume()).toBe(false);
    expect(localStorage.getItem('inframon.session')).toBeNull();
  });

  it('logs out on the server and drops the token', async () => {
    const { calls, fetchFn } = scripted([[200, pair(1)], [204, undefined]]);
    const client = new ApiClient(fetchFn);
    await client.login('admin', 'pw');
    await client.logout();
    expect(calls[1].url).toBe('/api/v1/auth/logout');
    expect(header(calls[1], 'Authorization')).toBe('Bearer access-1');
    expect(client.authenticated).toBe(false);
    expect(localStorage.getItem('inframon.session')).toBeNull();
  });
});

describe('errorMessage', () => {
  it('names the fields of a validation error', () => {
    const body = { detail: [{ loc: ['body', 'password'], msg: 'must be 8 to 128 characters' }] };
    expect(errorMessage(422, body)).toBe('password: must be 8 to 128 characters');
  });
  it('falls back to the status', () => {
    expect(errorMessage(500, null)).toBe('request failed with HTTP 500');
    expect(errorMessage(0, null)).toMatch(/did not answer/);
  });
});

describe('Retry-After', () => {
  it('parses seconds and HTTP dates', () => {
    const now = Date.parse('2026-12-05T01:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Sat, 05 Dec 2026 01:00:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Sat, 05 Dec 2026 00:59:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter('-3', now)).toBeNull();
  });

  it('is carried by the error of a 429', async () => {
    const { fetchFn } = scripted([
      [200, pair(1)],
      [429, { detail: 'Too many requests' }, { 'Retry-After': '12' }],
    ]);
    const client = new ApiClient(fetchFn);
    await client.login('admin', 'pw');
    const err = await client.get('/stats/system').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(429);
    expect((err as ApiError).retryAfterSeconds).toBe(12);
  });

  it('keeps the session when the refresh is rate limited', async () => {
    const { calls, fetchFn } = scripted([
      [200, pair(1)],
      [401, { detail: 'expired' }],
      [429, { detail: 'Too many requests' }, { 'Retry-After': '9' }],
      [401, { detail: 'expired' }],
      [200, pair(2)],
      [200, { value: 1 }],
    ]);
    const client = new ApiClient(fetchFn);
    let ended = 0;
    client.onSessionEnd = () => ended++;
    await client.login('admin', 'pw');
    await expect(client.get('/containers')).rejects.toMatchObject({ status: 429, retryAfterSeconds: 9 });
    expect(ended).toBe(0);
    expect(client.authenticated).toBe(true);
    expect(localStorage.getItem('inframon.session')).toBe('1');
    // The next call refreshes with the same cookie and goes through.
    expect(await client.get<{ value: number }>('/containers')).toEqual({ value: 1 });
    expect(calls.filter((c) => c.url.endsWith('/auth/refresh'))).toHaveLength(2);
  });

  it('keeps the session marker when the refresh on load is rate limited', async () => {
    const { fetchFn } = scripted([[429, { detail: 'Too many requests' }, { 'Retry-After': '5' }]]);
    localStorage.setItem('inframon.session', '1');
    const client = new ApiClient(fetchFn);
    expect(await client.resume()).toBe(false);
    expect(localStorage.getItem('inframon.session')).toBe('1');
  });
});
