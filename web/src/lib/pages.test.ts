import { describe, expect, it } from 'vitest';
import { auditQuery, EMPTY_AUDIT_FILTER, localToRfc3339, pageCount } from './audit';
import { applyPullEvent, EMPTY_PULL, pullProgressText } from './compose';
import { containerListPath, groupFromSearch, membersPayload } from './groups';
import { addEvents, eventDetail, eventTone, type EngineEvent } from './events';
import { colourIndex, idsFromSearch, insertByTime, MERGE_MAX, mergedQuery, TAG_COLOURS, timeKey } from './mergedlogs';
import { settingSection } from './settings';
import { tokenState, type ApiToken } from './tokens';

describe('auditQuery', () => {
  it('sends only paging for an empty filter', () => {
    expect(auditQuery(EMPTY_AUDIT_FILTER, 1)).toBe('page=1&page_size=50');
  });
  it('maps every filter to the server parameter', () => {
    const query = new URLSearchParams(
      auditQuery({ userId: '3', action: ' container.stop ', target: 'abc123', since: '', until: '', result: 'failure' }, 2, 25),
    );
    expect(query.get('user_id')).toBe('3');
    expect(query.get('action')).toBe('container.stop');
    expect(query.get('container_id')).toBe('abc123');
    expect(query.get('success')).toBe('false');
    expect(query.get('page')).toBe('2');
    expect(query.get('page_size')).toBe('25');
  });
  it('asks for CSV without paging when page is null', () => {
    const query = new URLSearchParams(auditQuery({ ...EMPTY_AUDIT_FILTER, result: 'success' }, null));
    expect(query.get('format')).toBe('csv');
    expect(query.get('success')).toBe('true');
    expect(query.has('page')).toBe(false);
  });
  it('converts local times to RFC 3339 in UTC', () => {
    const local = '2026-12-04T10:20:30';
    expect(localToRfc3339(local)).toBe(new Date(local).toISOString().replace('.000Z', 'Z'));
    expect(localToRfc3339('')).toBe('');
    expect(localToRfc3339('not a date')).toBe('');
  });
  it('counts at least one page', () => {
    expect(pageCount(0, 50)).toBe(1);
    expect(pageCount(50, 50)).toBe(1);
    expect(pageCount(51, 50)).toBe(2);
  });
});

describe('tokenState', () => {
  const base: ApiToken = { id: 1, name: 'ci', prefix: 'imt_abcd', created_at: '2026-01-01T00:00:00Z', expires_at: '2026-02-01T00:00:00Z', last_used_at: null, revoked_at: null };
  const now = new Date('2026-01-15T00:00:00Z');
  it('is active before expiry', () => {
    expect(tokenState(base, now)).toBe('active');
  });
  it('is expired at and after expiry', () => {
    expect(tokenState(base, new Date('2026-02-01T00:00:00Z'))).toBe('expired');
  });
  it('is revoked whatever the expiry', () => {
    expect(tokenState({ ...base, revoked_at: '2026-01-10T00:00:00Z' }, now)).toBe('revoked');
  });
});

function event(action: string, timeNano: number, extra: Partial<EngineEvent> = {}): EngineEvent {
  return { type: 'container', action, container_id: 'c1', name: 'web', image: 'busybox', exit_code: null, time: '2026-12-04T10:00:00Z', time_nano: timeNano, ...extra };
}

describe('engine events', () => {
  it('puts the newest first and drops duplicates', () => {
    const list = addEvents([], [event('create', 1), event('start', 2)], 10);
    expect(list.map((e) => e.action)).toEqual(['start', 'create']);
    const again = addEvents(list, [event('start', 2), event('die', 3)], 10);
    expect(again.map((e) => e.action)).toEqual(['die', 'start', 'create']);
  });
  it('keeps at most max events', () => {
    const list = addEvents([], [event('a', 1), event('b', 2), event('c', 3)], 2);
    expect(list.map((e) => e.action)).toEqual(['c', 'b']);
  });
  it('describes exit codes and health', () => {
    expect(eventDetail(event('die', 1, { exit_code: 137 }))).toBe('exit code 137');
    expect(eventDetail(event('health_status', 1, { health: 'unhealthy' }))).toBe('unhealthy');
    expect(eventDetail(event('start', 1))).toBe('');
  });
  it('marks failures and starts', () => {
    expect(eventTone(event('die', 1, { exit_code: 1 }))).toBe('bad');
    expect(eventTone(event('die', 1, { exit_code: 0 }))).toBe('neutral');
    expect(eventTone(event('oom', 1))).toBe('bad');
    expect(eventTone(event('start', 1))).toBe('ok');
    expect(eventTone(event('health_status', 1, { health: 'healthy' }))).toBe('ok');
  });
});

describe('merged logs', () => {
  it('builds the query with the ids comma-separated', () => {
    const query = new URLSearchParams(mergedQuery(['a', 'b'], '100', true));
    expect(query.get('container_ids')).toBe('a,b');
    expect(query.get('tail')).toBe('100');
    expect(query.get('follow')).toBe('true');
    expect(new URLSearchParams(mergedQuery(['a'], 'all', false)).has('follow')).toBe(false);
  });
  it('gives each selected container its own colour, cycling after the last', () => {
    const ids = Array.from({ length: TAG_COLOURS + 1 }, (_, i) => `c${i}`);
    expect(colourIndex(ids, 'c1')).toBe(1);
    expect(colourIndex(ids, `c${TAG_COLOURS}`)).toBe(0);
    expect(colourIndex(ids, 'unknown')).toBe(0);
    expect(colourIndex(ids, undefined)).toBe(0);
  });
  it('reads the selection from the address', () => {
    expect(idsFromSearch('?containers=a,%20b,,c')).toEqual(['a', 'b', 'c']);
    expect(idsFromSearch('')).toEqual([]);
    const many = Array.from({ length: MERGE_MAX + 5 }, (_, i) => `c${i}`).join(',');
    expect(idsFromSearch(`?containers=${many}`)).toHaveLength(MERGE_MAX);
  });
});

describe('settingSection', () => {
  it('sorts settings by name', () => {
    expect(settingSection('HOST')).toBe('Server');
    expect(settingSection('HOST_PROC')).toBe('Host paths');
    expect(settingSection('SECRET_KEY_PREVIOUS')).toBe('Security');
    expect(settingSection('DOCKER_HOST')).toBe('Engine');
    expect(settingSection('AUDIT_RETENTION_DAYS')).toBe('Collection and retention');
    expect(settingSection('BACKUP_KEEP')).toBe('Backups');
    expect(settingSection('SOMETHING_NEW')).toBe('Other');
  });
});

describe('merged log order', () => {
  it('orders trimmed fractions by time', () => {
    const a = timeKey('2026-12-04T10:00:00.1Z')!;
    const b = timeKey('2026-12-04T10:00:00.12Z')!;
    const c = timeKey('2026-12-04T10:00:01Z')!;
    expect(a < b).toBe(true);
    expect(b < c).toBe(true);
    expect(timeKey('2026-12-04T11:00:00.5+01:00')).toBe(timeKey('2026-12-04T10:00:00.5Z'));
    expect(timeKey(null)).toBeNull();
    expect(timeKey('yesterday')).toBeNull();
  });
  it('interleaves a block of one container into the other by time', () => {
    const line = (name: string, second: number) => ({ name, timestamp: `2026-12-04T10:00:0${second}.5Z` });
    let list = insertByTime([], [line('web', 1), line('web', 3), line('web', 5)], 100);
    list = insertByTime(list, [line('worker', 2), line('worker', 4), line('worker', 6)], 100);
    expect(list.map((k) => `${k.line.name}${k.line.timestamp.slice(18, 19)}`)).toEqual(['web1', 'worker2', 'web3', 'worker4', 'web5', 'worker6']);
  });
  it('keeps arrival order for equal times and places untimed lines after the last', () => {
    type Row = { n: number; timestamp: string | null };
    let list = insertByTime<Row>([], [{ n: 1, timestamp: '2026-12-04T10:00:01Z' }, { n: 2, timestamp: '2026-12-04T10:00:01Z' }], 100);
    list = insertByTime(list, [{ n: 3, timestamp: null }], 100);
    expect(list.map((k) => k.line.n)).toEqual([1, 2, 3]);
  });
  it('keeps the newest max lines', () => {
    const batch = [1, 2, 3, 4].map((s) => ({ timestamp: `2026-12-04T10:00:0${s}Z` }));
    expect(insertByTime([], batch, 2).map((k) => k.line.timestamp)).toEqual(['2026-12-04T10:00:03Z', '2026-12-04T10:00:04Z']);
  });
});

describe('groups', () => {
  it('sends members sorted and without repeats', () => {
    expect(membersPayload(['web', 'db', 'web'])).toEqual({ container_ids: ['db', 'web'] });
    expect(membersPayload([])).toEqual({ container_ids: [] });
  });
  it('narrows the container list to a group', () => {
    expect(containerListPath(null)).toBe('/containers?all_containers=true');
    expect(containerListPath(4)).toBe('/containers?all_containers=true&group_id=4');
  });
  it('reads the group of a link and ignores invalid ones', () => {
    expect(groupFromSearch('?group=3')).toBe(3);
    expect(groupFromSearch('?group=0')).toBeNull();
    expect(groupFromSearch('?group=abc')).toBeNull();
    expect(groupFromSearch('')).toBeNull();
  });
});

describe('compose pull stream', () => {
  const sse = (event: string, data: unknown) => ({ event, data: JSON.stringify(data), id: null });
  it('follows progress, results and the summary', () => {
    let state = applyPullEvent(EMPTY_PULL, sse('progress', { status: 'Downloading', layer: 'abcdef0123456789', current: 10, total: 20, image_current: 1536, image_total: 3072, error: null }));
    expect(pullProgressText(state.progress!)).toBe('Downloading abcdef012345: 1.5 KiB of 3.0 KiB');
    state = applyPullEvent(state, sse('result', { image: 'web:1', success: true, message: 'pulled' }));
    expect(state.progress).toBeNull();
    expect(state.results).toEqual([{ image: 'web:1', success: true, message: 'pulled' }]);
    state = applyPullEvent(state, sse('summary', { success: false, project: 'p', action: 'pull', total: 2, failed: 1, results: [] }));
    expect(state.summary).toEqual({ success: false, total: 2, failed: 1 });
  });
  it('records errors and dropped progress', () => {
    expect(applyPullEvent(EMPTY_PULL, sse('error', { message: 'cannot start the pull' })).error).toBe('cannot start the pull');
    expect(applyPullEvent(EMPTY_PULL, sse('dropped', { dropped: 3 })).dropped).toBe(3);
    expect(applyPullEvent(EMPTY_PULL, sse('other', {}))).toBe(EMPTY_PULL);
  });
  it('describes progress without sizes', () => {
    expect(pullProgressText({ status: 'Pulling fs layer', layer: null, current: null, total: null, image_current: 0, image_total: 0, error: null })).toBe('Pulling fs layer');
  });
});
