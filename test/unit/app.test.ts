import { describe, expect, it } from 'vitest';
import { ConfigStore } from '../../src/config/store.ts';
import type { RawConfig } from '../../src/config/parse.ts';
import type { Role } from '../../src/role-names.ts';
import { createApp, type Surface } from '../../src/http/app.ts';
import { loadEnv } from '../../src/env.ts';
import { userSurface } from '../../src/roles/user.ts';
import { adminSurface } from '../../src/roles/admin.ts';
import { pageSurface } from '../../src/roles/page.ts';
import { gateSurface } from '../../src/roles/gate.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { MaintenanceState } from '../../src/maintenance/state.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import type { FallbackReadiness } from '../../src/fleet/fallback.ts';

interface RoleExtras {
  readyGraceMs?: number;
  fallback?: FallbackReadiness;
  readyInMaintenance?: boolean;
}

/** The whole HTTP surface of one role, called through app.request(): no socket, no file. */
function appFor(role: Role, config: RawConfig | null, extra: RoleExtras = {}) {
  const clock = new FakeClock('2026-11-28T10:00:00Z');
  const store = new ConfigStore(() => new Date(clock.now()));
  if (config !== null) store.apply(config);
  const state = new MaintenanceState(store, clock);
  const lifecycle = { shuttingDown: false };
  const env = loadEnv({ ROLE: role, HOST: '127.0.0.1', MAINTENANCE_READY_GRACE_SECONDS: String((extra.readyGraceMs ?? 0) / 1000) });
  const surfaces: Record<Role, () => Surface> = {
    user: () => userSurface({ state, podName: 'pod-1', readyGraceMs: extra.readyGraceMs ?? 0 }),
    admin: () => adminSurface({}),
    page: () =>
      pageSurface({
        state,
        ...(extra.fallback ? { fallback: extra.fallback } : {}),
        ...(extra.readyInMaintenance ? { readyInMaintenance: true } : {}),
      }),
    gate: () => gateSurface({ state, env }, {}),
  };
  const app = createApp({
    role,
    podName: 'pod-1',
    state,
    metrics: createMetrics(state),
    lifecycle,
    sourceStatus: () => ({ source: 'volume', volume: { watch: 'watching', waitingFor: null } }),
    surface: surfaces[role](),
  });
  const get = (path: string, accept?: string) => app.request(path, accept ? { headers: { Accept: accept } } : {});
  return { app, get, store, lifecycle, clock };
}

const json = async (response: Response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> });

describe('createApp: the user role', () => {
  it('serves the app and is ready while maintenance is off', async () => {
    const { get } = appFor('user', { MAINTENANCE_MODE: 'false' });
    expect(await json(await get('/readyz'))).toEqual({ status: 200, body: { status: 'ready' } });
    expect(await json(await get('/ready'))).toEqual({ status: 200, body: { status: 'ready' } });
    expect(await json(await get('/livez'))).toEqual({ status: 200, body: { status: 'alive' } });
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('pod-1');
    expect((await get('/nothing-here')).status).toBe(404);
  });

  it('is not ready before any config, and while shutting down', async () => {
    const { get, lifecycle } = appFor('user', null);
    expect(await json(await get('/readyz'))).toEqual({ status: 503, body: { status: 'not_ready', reason: 'starting' } });
    lifecycle.shuttingDown = true;
    expect(await json(await get('/readyz'))).toEqual({ status: 503, body: { status: 'not_ready', reason: 'shutting_down' } });
  });

  it('gates every path but the probes, /status, /metrics and the allowed prefixes during maintenance', async () => {
    const { get } = appFor('user', { MAINTENANCE_MODE: 'true', MAINTENANCE_ALLOW_PATHS: '/api/health' });
    expect(await json(await get('/readyz'))).toEqual({ status: 503, body: { status: 'not_ready', reason: 'maintenance' } });
    for (const path of ['/', '/shop', '/api/healthz']) expect((await get(path)).status, path).toBe(503);
    expect((await get('/api/health')).status).toBe(404);
    expect((await get('/api/health/deep')).status).toBe(404);
    for (const path of ['/livez', '/health', '/status', '/metrics']) expect((await get(path)).status, path).toBe(200);
  });

  it('answers the 503 in HTML or JSON, as Accept prefers', async () => {
    const { get } = appFor('user', { MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'Back soon', MAINTENANCE_RETRY_AFTER: '90' });
    const html = await get('/', 'text/html');
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html.headers.get('retry-after')).toBe('90');
    // The page reloads itself, at Retry-After or up to a fifth of it later.
    expect(Number(html.headers.get('refresh'))).toBeGreaterThanOrEqual(90);
    expect(Number(html.headers.get('refresh'))).toBeLessThan(108);
    expect(html.headers.get('x-robots-tag')).toBe('noindex');
    expect(await html.text()).toContain('Back soon');
    const data = await get('/', 'application/json');
    expect(data.headers.get('content-type')).toMatch(/^application\/json/);
    expect(data.headers.get('refresh')).toBeNull();
    expect(await json(data)).toEqual({ status: 503, body: { status: 'maintenance', message: 'Back soon', retryAfterSeconds: 90 } });
  });

  it('answers 404 for /admin and below', async () => {
    const { get } = appFor('user', { MAINTENANCE_MODE: 'false' });
    for (const path of ['/admin', '/admin/', '/admin/api/maintenance']) {
      expect(await json(await get(path)), path).toMatchObject({ status: 404, body: { error: 'not_found' } });
    }
  });

  it('reports the decision, its cause and the source in /status', async () => {
    const { get } = appFor('user', { MAINTENANCE_START: '2026-11-28T09:00:00Z', MAINTENANCE_END: '2026-11-28T12:00:00Z' });
    expect(await json(await get('/status'))).toMatchObject({
      status: 200,
      body: {
        role: 'user',
        pod: 'pod-1',
        ready: false,
        notReadyReason: 'maintenance',
        maintenance: true,
        maintenanceCause: 'window',
        nextChangeAt: '2026-11-28T12:00:00.000Z',
        retryAfterSeconds: 7200,
        source: 'volume',
        volume: { watch: 'watching' },
      },
    });
  });
});

describe('createApp: the admin and page roles', () => {
  it('the admin role is ready whatever the config says, and sends / and /admin/ to the panel', async () => {
    const { get } = appFor('admin', { MAINTENANCE_MODE: 'true' });
    expect((await get('/readyz')).status).toBe(200);
    for (const path of ['/', '/admin/']) {
      const response = await get(path);
      expect(response.status, path).toBe(302);
      expect(response.headers.get('location'), path).toBe('/admin');
    }
    expect(await json(await get('/shop'))).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await (await get('/')).text()).not.toContain('Serving');
  });

  it('the page role is ready only during maintenance, and answers every path with the 503 page', async () => {
    const off = appFor('page', { MAINTENANCE_MODE: 'false' });
    expect(await json(await off.get('/readyz'))).toEqual({ status: 503, body: { status: 'not_ready', reason: 'not_in_maintenance' } });
    const on = appFor('page', { MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'Upgrading' });
    expect((await on.get('/readyz')).status).toBe(200);
    for (const path of ['/', '/any/path']) {
      const response = await on.get(path);
      expect(response.status, path).toBe(503);
      expect(await response.text()).toContain('Upgrading');
    }
    expect((await on.get('/admin')).status).toBe(404);
  });
});

describe('readiness around a page tier', () => {
  it('keeps a user pod Ready for the grace after maintenance starts, answering the 503 page already', async () => {
    const { get, store, clock } = appFor('user', { MAINTENANCE_MODE: 'false' }, { readyGraceMs: 6000 });
    store.apply({ MAINTENANCE_MODE: 'true' });
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/')).status).toBe(503);
    clock.advanceTo('2026-11-28T10:00:05.999Z');
    expect((await get('/readyz')).status).toBe(200);
    clock.advanceTo('2026-11-28T10:00:06Z');
    expect(await json(await get('/readyz'))).toEqual({ status: 503, body: { status: 'not_ready', reason: 'maintenance' } });
    // Back off and on again: a new grace.
    store.apply({ MAINTENANCE_MODE: 'false' });
    store.apply({ MAINTENANCE_MODE: 'true' });
    expect((await get('/readyz')).status).toBe(200);
  });

  it('gives no grace to a pod that starts in maintenance', async () => {
    const { get } = appFor('user', { MAINTENANCE_MODE: 'true' }, { readyGraceMs: 6000 });
    expect((await get('/readyz')).status).toBe(503);
  });

  it('makes the page tier Ready exactly while no user endpoint serves the application, once the EndpointSlices are known', async () => {
    let view = { serving: 2, servingApp: 2, synced: true };
    const fallback = {
      get view() {
        return view;
      },
      get ready() {
        return view.synced && view.servingApp === 0;
      },
    } as unknown as FallbackReadiness;
    const { get } = appFor('page', { MAINTENANCE_MODE: 'false' }, { fallback });
    expect(await json(await get('/readyz'))).toEqual({ status: 503, body: { status: 'not_ready', reason: 'users_serving' } });
    view = { serving: 2, servingApp: 0, synced: true }; // both in their grace, answering the 503 page
    expect((await get('/readyz')).status).toBe(200);
    view = { serving: 0, servingApp: 0, synced: true }; // a crash loop, maintenance off
    expect((await get('/readyz')).status).toBe(200);
    expect((await json(await get('/status'))).body.fleet).toEqual(view);
    // Before the slices are listed, the switch decides, as without API access.
    view = { serving: 0, servingApp: 0, synced: false };
    expect(await json(await get('/readyz'))).toEqual({ status: 503, body: { status: 'not_ready', reason: 'not_in_maintenance' } });
  });

  it('with readiness gates, makes the page tier Ready as soon as the switch says maintenance, while your pods still serve', async () => {
    const view = { serving: 2, servingApp: 2, synced: true };
    const fallback = { view, ready: false } as unknown as FallbackReadiness;
    const gated = appFor('page', { MAINTENANCE_MODE: 'false' }, { fallback, readyInMaintenance: true });
    expect(await json(await gated.get('/readyz'))).toEqual({ status: 503, body: { status: 'not_ready', reason: 'users_serving' } });
    // The admin takes the pods out only once this tier is Ready: it must not wait for them.
    gated.store.apply({ MAINTENANCE_MODE: 'true' });
    expect((await gated.get('/readyz')).status).toBe(200);
    // With the sidecar, the same fleet keeps the page tier out: the gates say when they are in maintenance.
    const sidecar = appFor('page', { MAINTENANCE_MODE: 'true' }, { fallback });
    expect((await sidecar.get('/readyz')).status).toBe(503);
  });
});
