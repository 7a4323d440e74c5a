import { Hono, type Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { ConfigStore } from '../config/store.ts';
import type { SourceStatus } from '../config/source.ts';
import { describeConfig, isoOrNull, parseConfig, type MaintenanceConfig } from '../config/parse.ts';
import type { MaintenanceState } from '../maintenance/state.ts';
import { admit, isPathAllowed, retryAfterSeconds } from '../maintenance/policy.ts';
import type { Metrics } from './metrics.ts';
import type { Admin } from './admin/setup.ts';
import type { Role } from '../roles.ts';
import { demoPage } from './pages.ts';
import { bypassVisit, maintenanceResponse } from './maintenance-answer.ts';
import { BYPASS_CACHE_CONTROL, BYPASS_PATH, type Bypass } from './bypass.ts';
import type { UpstreamHealth } from './upstream-readiness.ts';
import type { BypassKeyStatus } from '../config/bypass-key.ts';
import type { FallbackReadiness } from '../fleet/fallback.ts';

export interface Lifecycle {
  shuttingDown: boolean;
}

export interface AppDeps {
  role: Role;
  podName: string;
  store: ConfigStore;
  state: MaintenanceState;
  metrics: Metrics;
  lifecycle: Lifecycle;
  /** What the config source reports about itself, shown in /status. */
  sourceStatus: () => SourceStatus;
  /** The admin panel and API, mounted at /admin on the admin role, and what keeps it from serving. */
  admin?: Admin;
  /** Who may see the application during maintenance (user role; the gate uses it on its proxy port). */
  bypass?: Bypass;
  bypassKey?: () => BypassKeyStatus;
  /** The gate's view of the application's own readiness, when `UPSTREAM_READY_PATH` is set. */
  upstreamHealth?: () => UpstreamHealth;
  /** The page role's readiness from the user Service's EndpointSlices, when it can watch them. */
  fallback?: FallbackReadiness;
  /** The gate in proxy mode: whether its proxy port can take one more connection; when it cannot, the gate is not ready. */
  proxyAccepting?: () => boolean;
  /** User and gate roles: how long to stay Ready after maintenance starts (answering the 503 page), so a page tier joins first. */
  readyGraceMs?: number;
}

type NotReadyReason =
  | 'starting'
  | 'maintenance'
  | 'shutting_down'
  | 'not_in_maintenance'
  | 'users_serving'
  | 'admin_unavailable'
  | 'upstream_not_ready'
  | 'proxy_full';
type Readiness = { ready: true } | { ready: false; reason: NotReadyReason };

/** The one place that builds the HTTP surface; production and tests both use it. */
export function createApp(deps: AppDeps): Hono {
  const { role, store, state, lifecycle } = deps;
  const app = new Hono();

  const graceMs = deps.readyGraceMs ?? 0;

  const readiness = (): Readiness => {
    if (lifecycle.shuttingDown) return { ready: false, reason: 'shutting_down' };
    if (role === 'admin') return deps.admin?.problem() ? { ready: false, reason: 'admin_unavailable' } : { ready: true };
    if (role === 'page') {
      // In the Service exactly while no user endpoint serves the application; without the
      // EndpointSlices (not listed yet, or no API access), while the switch says maintenance.
      const fallback = deps.fallback;
      if (fallback?.view.synced) return fallback.ready ? { ready: true } : { ready: false, reason: 'users_serving' };
      if (store.config === null) return { ready: false, reason: 'starting' };
      return state.current.active ? { ready: true } : { ready: false, reason: 'not_in_maintenance' };
    }
    if (store.config === null) return { ready: false, reason: 'starting' };
    if (state.current.active) {
      // Still Ready for the grace, already answering the 503 page: a page tier joins first.
      const since = state.activeSince;
      const inGrace = since !== null && state.clock.now() - since < graceMs;
      if (!inGrace) return { ready: false, reason: 'maintenance' };
    }
    if (deps.proxyAccepting?.() === false) return { ready: false, reason: 'proxy_full' };
    const upstream = deps.upstreamHealth?.();
    if (upstream !== undefined && upstream.state !== 'ready') return { ready: false, reason: 'upstream_not_ready' };
    return { ready: true };
  };

  // Registered before the maintenance gate, so they answer during maintenance too.
  const live = (c: Context) => c.json({ status: 'alive' });
  const ready = (c: Context) => {
    const result = readiness();
    c.header('Cache-Control', 'no-store');
    return result.ready ? c.json({ status: 'ready' }) : c.json({ status: 'not_ready', reason: result.reason }, 503);
  };
  app.get('/livez', live);
  app.get('/health', live);
  app.get('/readyz', ready);
  app.get('/ready', ready);

  app.get('/status', (c) => {
    const view = state.current;
    const snapshot = store.snapshot;
    const now = state.clock.now();
    const result = readiness();
    c.header('Cache-Control', 'no-store');
    return c.json({
      role,
      pod: deps.podName,
      ready: result.ready,
      notReadyReason: result.ready ? null : result.reason,
      ...(deps.admin ? { adminProblem: deps.admin.problem() } : {}),
      ...(deps.upstreamHealth ? { upstream: deps.upstreamHealth() } : {}),
      ...(deps.bypassKey ? { bypassKey: deps.bypassKey() } : {}),
      ...(deps.fallback ? { fleet: deps.fallback.view } : {}),
      maintenance: view.active,
      maintenanceCause: view.cause,
      nextChangeAt: isoOrNull(view.nextChangeAt),
      retryAfterSeconds: view.config === null ? null : retryAfterSeconds(view.config, now),
      ...deps.sourceStatus(),
      lastLoadedAt: snapshot.lastLoadedAt?.toISOString() ?? null,
      lastError: snapshot.lastError,
      lastErrorAt: snapshot.lastErrorAt?.toISOString() ?? null,
      config: view.config === null ? null : describeConfig(view.config),
    });
  });

  app.get('/metrics', async (c) => {
    c.header('Content-Type', deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });

  if (role === 'admin' && deps.admin) {
    app.route('/admin', deps.admin.app);
  } else {
    const noAdminHere = (c: Context) => c.json({ error: 'not_found', message: 'the admin panel is served by the admin role only' }, 404);
    app.all('/admin', noAdminHere);
    app.all('/admin/*', noAdminHere);
  }

  if (role === 'gate') {
    // The gate's own port carries probes, state and metrics only; the application is behind its proxy port.
    app.notFound((c) =>
      c.json(
        { error: 'not_found', message: 'the gate serves /livez, /readyz, /status and /metrics here; the application is on its proxy port' },
        404,
      ),
    );
    return app;
  }

  const { bypass } = deps;
  if (bypass) app.get(BYPASS_PATH, (c) => bypassVisit(c, bypass));

  // The user role's application routes sit behind the maintenance gate, and so does every
  // unknown path. The gate wraps each handler instead of being an app.use() middleware, which
  // would make every request asynchronous (see metrics.ts).
  const gated = (handler: (c: Context) => Response | Promise<Response>) =>
    role === 'admin'
      ? handler
      : (c: Context) => {
          const view = state.current;
          // The hot path while maintenance is off: nothing else is looked at, no closure is made.
          if (!view.active) return handler(c);
          const admission = admit(
            view,
            (allowPaths) => isPathAllowed(allowPaths, c.req.path),
            () => bypass?.admits(bypassRequest(c, bypass)) === true,
          );
          if (admission === 'pass') return handler(c);
          if (admission === 'private') return privately(handler(c));
          return maintenanceResponse(c, view.config!, state.clock.now(), view.cause);
        };

  if (role === 'page') {
    // Every path gets the maintenance page: this role only ever receives traffic as the fallback.
    const page = (c: Context) => maintenanceResponse(c, state.current.config ?? DEFAULT_CONFIG, state.clock.now(), state.current.cause);
    app.all('/', page);
    app.notFound(page);
    return app;
  }

  const demo = demoPage(deps.podName, role);
  // The demo page stands in for the application, which owns its headers; the security headers
  // go on this service's own 503 page. On `/` they cost about 5% of throughput (measured),
  // past the 2% the hot path may spend on them.
  const demoHeaders = { 'Content-Type': HTML };
  app.get(
    '/',
    gated(() => new Response(demo, { headers: demoHeaders })),
  );
  app.notFound(gated((c) => c.text('Not Found', 404)));
  return app;
}

const DEFAULT_CONFIG: MaintenanceConfig = (() => {
  const parsed = parseConfig({});
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.config;
})();

const HTML = 'text/html; charset=UTF-8';

function bypassRequest(c: Context, bypass: Bypass) {
  const peer = c.env?.incoming ? getConnInfo(c).remote.address : undefined;
  return { peer, cookie: c.req.header('Cookie'), forwardedFor: c.req.header(bypass.settings.proxies.header) };
}

async function privately(response: Response | Promise<Response>): Promise<Response> {
  const resolved = await response;
  resolved.headers.set('Cache-Control', BYPASS_CACHE_CONTROL);
  return resolved;
}
