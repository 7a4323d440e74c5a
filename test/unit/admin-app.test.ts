import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  VersionConflictError,
  type ConfigWrite,
  type ConfigWriter,
  type HistoryEntry,
  type StoredConfig,
} from '../../src/config/writer.ts';
import { TrustedProxies } from '../../src/http/client-address.ts';
import { createAdminApp, isLoopbackHost } from '../../src/http/admin/app.ts';
import { verifyBypassToken } from '../../src/maintenance/bypass-token.ts';
import { CachedAuth, noAuth, type AdminAuth } from '../../src/http/admin/auth.ts';
import type { LiveState } from '../../src/http/admin/live.ts';
import { parseConfig, type MaintenanceConfig } from '../../src/config/parse.ts';

/** A writer that keeps the config in memory, and can be told to fail or to be raced. */
class MemoryWriter implements ConfigWriter {
  readonly target = 'memory';
  data: Record<string, string> = { MAINTENANCE_MODE: 'false' };
  version = 1;
  writes = 0;
  audits: { action: string; reason: string; note: string; actor?: string }[] = [];
  async audit(entry: { action: string; reason: string; note: string; actor?: string }): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.audits.push(entry);
  }
  failWith: Error | null = null;
  /** Called between the read and the write of an update: someone else writing in between. */
  beforeWrite: (() => void) | null = null;
  isWellFormedVersion = (version: string) => /^\d+$/.test(version);
  changes: HistoryEntry[] = [];
  /** As on a switch without the read-only annotation when set: the install does not enforce read-only. */
  readOnlyRefused: string | null = null;
  async history(): Promise<HistoryEntry[]> {
    return this.changes;
  }
  async read(): Promise<StoredConfig> {
    if (this.failWith) throw this.failWith;
    return {
      data: { ...this.data },
      version: String(this.version),
      audit: { changedBy: null, changedAt: null, reason: null },
      readOnlyRefused: this.readOnlyRefused,
    };
  }
  async write(change: ConfigWrite): Promise<StoredConfig> {
    this.beforeWrite?.();
    if (change.expectedVersion !== undefined && change.expectedVersion !== String(this.version)) throw new VersionConflictError('stale');
    for (const [key, value] of Object.entries(change.data)) {
      if (value === null) delete this.data[key];
      else this.data[key] = value;
    }
    this.version++;
    this.writes++;
    return this.read();
  }
}

/** Each bearer token is its own identity, allowed everything. */
const tokenIsIdentity: AdminAuth = {
  mode: 'token',
  authenticate: async (token) => ({ user: token, groups: [] }),
  authorize: async () => true,
  problem: () => null,
  close: () => {},
};

function adminApp(
  writer: ConfigWriter,
  auth: AdminAuth = noAuth(),
  bypassKey: Buffer | null = null,
  extra: { maxStreamsPerIdentity?: number; live?: LiveState; heartbeatMs?: number; now?: () => number } = {},
) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const app = createAdminApp({
    auth: new CachedAuth(auth, extra.now),
    writer,
    log,
    registry: new Registry(),
    trustedProxies: new TrustedProxies([]),
    maxBodyBytes: 16 * 1024,
    authAttemptsPerMinute: 30,
    bypassLinks: {
      key: () => bypassKey,
      problem: () => (bypassKey ? null : 'no key "key" in the bypass key Secret: bypass links are off'),
      enable: 'kubectl create secret generic maintenance-bypass-key -n shop --from-literal=key="$(openssl rand -base64 32)"',
      publicUrl: new URL('https://shop.example.com'),
    },
    ...extra,
  });
  const put = (body: unknown) =>
    app.request('/api/maintenance', {
      method: 'PUT',
      headers: { Host: 'localhost', 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  return { app, put, lines };
}

describe('panel sign-ins', () => {
  it('are limited per identity: a loop of sign-ins gets 429 with Retry-After, and another identity still signs in', async () => {
    const { app } = adminApp(new MemoryWriter(), tokenIsIdentity);
    const signIn = (token: string) =>
      app.request('/session', {
        method: 'POST',
        headers: { Host: 'admin.test', 'Content-Type': 'application/json' },
        body: JSON.stringify({ token }),
      });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let index = 0; index < 25; index++) {
      const response = await signIn('reader');
      statuses.push(response.status);
      if (response.status === 429) retryAfter ??= response.headers.get('retry-after');
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(statuses.slice(-10)).toEqual(Array(10).fill(429));
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect((await signIn('operator')).status).toBe(200);
  });
});

describe('the admin API when the stored config is rejected', () => {
  const applied = (raw: Record<string, string>) => {
    const parsed = parseConfig(raw);
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.config;
  };
  const live = (config: MaintenanceConfig | null): LiveState => ({
    effective: () => ({
      active: config?.enabled ?? false,
      readOnly: config?.readOnly ?? false,
      mode: config?.enabled ? 'on' : config?.readOnly ? 'read-only' : 'off',
      cause: config?.enabled || config?.readOnly ? 'switch' : null,
      nextChangeAt: null,
    }),
    applied: () => config,
    fleet: () => null,
    nudge: () => null,
    serving: () => null,
    autoscaling: () => null,
    onChange: () => () => {},
  });
  const get = async (writer: MemoryWriter, config: MaintenanceConfig | null) =>
    (await (
      await adminApp(writer, noAuth(), null, { live: live(config) }).app.request('/api/maintenance', { headers: { Host: 'localhost' } })
    ).json()) as Record<string, unknown>;

  it('shows what users get (the last good state) apart from what is stored and why it is rejected', async () => {
    const writer = new MemoryWriter();
    // A kubectl edit typo: the switch on, an end no parser reads, a message never applied.
    writer.data = { MAINTENANCE_MODE: 'true', MAINTENANCE_END: 'next tuesday', MAINTENANCE_MESSAGE: 'half-applied?' };
    const view = await get(writer, applied({ MAINTENANCE_MODE: 'false', MAINTENANCE_MESSAGE: 'Back soon' }));
    expect(view).toMatchObject({ enabled: false, message: 'Back soon', end: null, shows: 'last_good' });
    expect(view.rejected).toEqual({
      error: expect.stringContaining('MAINTENANCE_END'),
      keys: [
        { key: 'MAINTENANCE_MODE', value: 'true', problem: null },
        { key: 'MAINTENANCE_MESSAGE', value: 'half-applied?', problem: null },
        { key: 'MAINTENANCE_END', value: 'next tuesday', problem: expect.any(String) },
      ],
    });

    // The mirror case: maintenance on, and a switch edited into nonsense.
    writer.data = { MAINTENANCE_MODE: 'maybe' };
    expect(await get(writer, applied({ MAINTENANCE_MODE: 'true' }))).toMatchObject({ enabled: true, shows: 'last_good' });
    // With no good config ever applied, it says so instead of inventing one.
    expect(await get(writer, null)).toMatchObject({ enabled: false, shows: 'nothing_valid' });
  });

  it('stores a valid config again over the rejected one, in one PUT', async () => {
    const writer = new MemoryWriter();
    writer.data = { MAINTENANCE_MODE: 'true', MAINTENANCE_END: 'next tuesday' };
    const { app } = adminApp(writer, noAuth(), null, { live: live(applied({ MAINTENANCE_MODE: 'false' })) });
    const response = await app.request('/api/maintenance', {
      method: 'PUT',
      headers: { Host: 'localhost', 'Content-Type': 'application/json' },
      body: JSON.stringify({ enabled: false, start: null, end: null, retryAfterSeconds: null, reason: 'undo a typo' }),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { rejected: unknown; shows: string }).rejected).toBeNull();
    expect(writer.data).toMatchObject({ MAINTENANCE_MODE: 'false' });
    expect(writer.data.MAINTENANCE_END).toBeUndefined();
  });
});

describe('the history API', () => {
  it('answers the writer history, newest first, to a caller who may read', async () => {
    const writer = new MemoryWriter();
    writer.changes = [
      {
        at: '2026-12-01T10:00:00.000Z',
        by: 'kubectl-edit',
        reason: null,
        what: 'changed the maintenance keys outside the panel and plugin',
        outside: true,
      },
      { at: '2026-12-01T09:00:00.000Z', by: 'ops', reason: 'db upgrade', what: 'switch on', outside: false },
    ];
    const response = await adminApp(writer).app.request('/api/history', { headers: { Host: 'localhost' } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ changes: writer.changes });
  });
});

describe('the admin app (app.request, no socket)', () => {
  it('answers an unexpected error with a generic 500 and an id, and logs the detail under that id', async () => {
    const writer = new MemoryWriter();
    writer.failWith = new Error('EACCES: permission denied, open /secret/path/app-config');
    const { app, lines } = adminApp(writer);
    const response = await app.request('/api/maintenance', { headers: { Host: 'localhost' } });
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: string; message: string };
    expect(body.error).toBe('internal');
    expect(JSON.stringify(body)).not.toContain('/secret/path');
    const errorId = /error ([0-9a-f]{8})/.exec(body.message)?.[1];
    const logged = lines.find((line) => line.errorId === errorId);
    expect(JSON.stringify(logged)).toContain('/secret/path');
  });

  it('merges again and validates again when someone else wrote in between, instead of storing an invalid merge', async () => {
    const writer = new MemoryWriter();
    const { put } = adminApp(writer);
    // Between this change's read and its write, someone stores a start after the end it brings.
    let raced = false;
    writer.beforeWrite = () => {
      if (raced) return;
      raced = true;
      writer.data.MAINTENANCE_START = '2030-01-02T00:00:00Z';
      writer.version++;
    };
    const response = await put({ enabled: false, reason: 'set an end', end: '2030-01-01T00:00:00Z' });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ field: 'end' });
    expect(writer.data.MAINTENANCE_END).toBeUndefined();
    expect(writer.writes).toBe(0);
  });

  it('retries a change that named no version after a conflict, and gives a change that named one its 409', async () => {
    const writer = new MemoryWriter();
    const { put } = adminApp(writer);
    let conflicts = 2;
    writer.beforeWrite = () => {
      if (conflicts-- > 0) writer.version++;
    };
    expect((await put({ enabled: true, reason: 'retried' })).status).toBe(200);
    expect(writer.data.MAINTENANCE_MODE).toBe('true');
    writer.beforeWrite = () => writer.version++;
    expect((await put({ enabled: false, reason: 'pinned', resourceVersion: String(writer.version) })).status).toBe(409);
    expect(writer.data.MAINTENANCE_MODE).toBe('true');
  });

  it('answers malformed JSON, a wrong type and an unknown field with 400 naming the field', async () => {
    const { app, put } = adminApp(new MemoryWriter());
    const malformed = await app.request('/api/maintenance', {
      method: 'PUT',
      headers: { Host: 'localhost', 'Content-Type': 'application/json' },
      body: '{"enabled": tru',
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ field: 'body' });
    expect(await (await put({ enabled: 'yes', reason: 'x' })).json()).toMatchObject({ field: 'enabled' });
    expect(await (await put({ enabled: true, reason: 'x', colour: 'red' })).json()).toMatchObject({ field: 'colour' });
    const text = await app.request('/api/maintenance', {
      method: 'PUT',
      headers: { Host: 'localhost', 'Content-Type': 'text/plain' },
      body: 'x',
    });
    expect(text.status).toBe(415);
  });
});

describe('read-only mode through the admin API', () => {
  it('sets the mode by name, keeps enabled meaningful for old clients, and names the field of a request that is unclear', async () => {
    const writer = new MemoryWriter();
    const { put } = adminApp(writer);
    const readOnly = await put({ mode: 'read-only', reason: 'migration' });
    expect(readOnly.status).toBe(200);
    expect(await readOnly.json()).toMatchObject({ mode: 'read-only', enabled: false, readOnlyRefused: null });
    expect(writer.data.MAINTENANCE_MODE).toBe('read-only');
    expect(await (await put({ enabled: true, reason: 'old client' })).json()).toMatchObject({ mode: 'on', enabled: true });
    expect(writer.data.MAINTENANCE_MODE).toBe('true');
    expect(await (await put({ mode: 'off', enabled: false, reason: 'both, agreeing' })).json()).toMatchObject({ mode: 'off' });
    // A window alone leaves the switch as it is.
    await put({ mode: 'on', reason: 'on' });
    expect(await (await put({ start: '2099-01-01T00:00:00Z', reason: 'plan' })).json()).toMatchObject({
      mode: 'on',
      start: '2099-01-01T00:00:00.000Z',
    });
    const version = writer.version;
    for (const [body, field] of [
      [{ mode: 'read-only', enabled: true, reason: 'x' }, 'enabled'],
      [{ reason: 'x' }, 'mode'],
      [{ mode: 'readonly', reason: 'x' }, 'mode'],
    ] as const) {
      const answer = await put(body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(await answer.json()).toMatchObject({ error: 'invalid_request', field });
    }
    expect(writer.version, 'nothing written').toBe(version);
  });

  it('refuses read-only on an install that would not enforce it, naming the component, and writes nothing', async () => {
    const writer = new MemoryWriter();
    writer.readOnlyRefused = 'read-only mode is not enforced by this install: ... kustomize/components/gate-proxy ...';
    const { put, app } = adminApp(writer);
    const version = writer.version;
    const answer = await put({ mode: 'read-only', reason: 'migration' });
    expect(answer.status).toBe(409);
    expect(await answer.json()).toMatchObject({
      error: 'read_only_not_enforced',
      field: 'mode',
      message: expect.stringContaining('gate-proxy'),
    });
    expect(writer.version).toBe(version);
    expect(await (await app.request('/api/maintenance', { headers: { Host: 'localhost' } })).json()).toMatchObject({
      readOnlyRefused: expect.stringContaining('gate-proxy'),
    });
    expect((await put({ mode: 'on', reason: 'the whole way, then' })).status).toBe(200);
  });
});

describe('the event stream under one greedy caller', () => {
  it('caps the streams one identity holds, leaves others theirs, and frees a slot when a stream ends', async () => {
    const { app } = adminApp(new MemoryWriter(), tokenIsIdentity, null, { maxStreamsPerIdentity: 2 });
    const open = (user: string) => app.request('/api/stream', { headers: { Host: 'localhost', Authorization: `Bearer ${user}` } });
    const first = await open('reader');
    const second = await open('reader');
    expect([first.status, second.status]).toEqual([200, 200]);
    const third = await open('reader');
    expect(third.status).toBe(429);
    expect(((await third.json()) as { message: string }).message).toMatch(
      /reader already has 2 open streams, the most one identity may hold \(2\)/,
    );
    const other = await open('another-admin');
    expect(other.status).toBe(200);
    await first.body!.cancel();
    const again = await (async () => {
      for (let attempt = 0; attempt < 200; attempt++) {
        const response = await open('reader');
        if (response.status === 200) return response;
        await response.text();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return null;
    })();
    expect(again?.status).toBe(200);
    for (const response of [second, other, again]) await response?.body?.cancel();
  });
});

describe('the event stream after a revocation', () => {
  it('ends at the next heartbeat once the caller may no longer read the switch, though its token is still good', async () => {
    let now = 1_000_000;
    let mayRead = true;
    const auth: AdminAuth = { ...tokenIsIdentity, authorize: async () => mayRead };
    const { app } = adminApp(new MemoryWriter(), auth, null, { heartbeatMs: 20, now: () => now });
    const response = await app.request('/api/stream', { headers: { Host: 'localhost', Authorization: 'Bearer viewer' } });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let seen = '';
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(seen)) {
        const { value, done } = await reader.read();
        if (done) return 'ended';
        seen += decoder.decode(value);
      }
      return 'seen';
    };
    expect(await readUntil(/event: heartbeat/)).toBe('seen');
    // The RoleBinding is deleted; past the auth cache, the next heartbeat asks again.
    mayRead = false;
    now += 11_000;
    seen = '';
    const tooLong = new Promise((resolve) => setTimeout(() => resolve('still open after 10 s'), 10_000).unref());
    expect(await Promise.race([readUntil(/event: state/), tooLong])).toBe('ended');
  });
});

describe('isLoopbackHost', () => {
  it.each([
    ['localhost', true],
    ['localhost:8081', true],
    ['127.0.0.1', true],
    ['127.1.2.3:80', true],
    ['[::1]:8081', true],
    ['[::1]', true],
    ['rebind.example', false],
    ['rebind.example:8081', false],
    ['127.0.0.1.nip.io', false],
    ['localhost.evil.example', false],
    ['', false],
  ])('%j → %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe('bypass links from the admin API', () => {
  const KEY = Buffer.from('k'.repeat(32));
  const post = (app: ReturnType<typeof adminApp>['app'], body: unknown) =>
    app.request('/api/bypass-links', {
      method: 'POST',
      headers: { Host: 'localhost', 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('signs a link that the pods accept, records who, why and until when, and never logs the token', async () => {
    const writer = new MemoryWriter();
    const { app, lines } = adminApp(writer, noAuth(), KEY);
    const before = Date.now();
    const response = await post(app, { reason: 'QA checks release 42', expiresInSeconds: 3600 });
    expect(response.status).toBe(201);
    const link = (await response.json()) as { id: string; expiresAt: string; path: string; url: string };
    const token = new URL(link.url).searchParams.get('token')!;
    expect(link.url).toBe(`https://shop.example.com${link.path}`);
    const verdict = verifyBypassToken(KEY, token, Date.now());
    expect(verdict).toMatchObject({ ok: true, id: link.id });
    expect(Date.parse(link.expiresAt) - before).toBeGreaterThan(3590_000);
    expect(writer.audits).toEqual([
      {
        action: 'CreateBypassLink',
        reason: 'BypassLinkCreated',
        actor: 'local',
        note: `local created bypass link ${link.id}, valid until ${link.expiresAt}: QA checks release 42`,
      },
    ]);
    expect(JSON.stringify(lines)).not.toContain(token.split('.')[3]);
    expect(lines.some((line) => line.linkId === link.id)).toBe(true);
  });

  it.each([
    [{}, 'reason'],
    [{ reason: ' ' }, 'reason'],
    [{ reason: 'x', expiresInSeconds: 604801 }, 'expiresInSeconds'],
    [{ reason: 'x', expiresInSeconds: 30 }, 'expiresInSeconds'],
    [{ reason: 'x', expiresInSeconds: '8h' }, 'expiresInSeconds'],
    [{ reason: 'x', token: 'mine' }, 'token'],
  ])('refuses %j with 400 naming %s, and records nothing', async (body, field) => {
    const writer = new MemoryWriter();
    const response = await post(adminApp(writer, noAuth(), KEY).app, body);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { field: string }).field).toBe(field);
    expect(writer.audits).toEqual([]);
  });

  it('says how to create the key when there is none, and makes no link', async () => {
    const writer = new MemoryWriter();
    const response = await post(adminApp(writer).app, { reason: 'QA' });
    expect(response.status).toBe(503);
    // The reason once, then the one line that enables links here.
    expect(((await response.json()) as { message: string }).message).toBe(
      'no key "key" in the bypass key Secret: bypass links are off. To enable them: kubectl create secret generic maintenance-bypass-key -n shop --from-literal=key="$(openssl rand -base64 32)"',
    );
    expect(writer.audits).toEqual([]);
    const view = (await (await adminApp(writer).app.request('/api/maintenance', { headers: { Host: 'localhost' } })).json()) as {
      bypassLinks: unknown;
    };
    expect(view.bypassLinks).toEqual({
      available: false,
      problem: 'no key "key" in the bypass key Secret: bypass links are off',
      enable: 'kubectl create secret generic maintenance-bypass-key -n shop --from-literal=key="$(openssl rand -base64 32)"',
    });
  });

  it('makes no link when the Event cannot be recorded', async () => {
    const writer = new MemoryWriter();
    writer.failWith = new Error('events is forbidden');
    const response = await post(adminApp(writer, noAuth(), KEY).app, { reason: 'QA' });
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain('token');
  });
});
