import { Hono, type Context } from 'hono';
import { accepts } from 'hono/accepts';
import type { Role } from '../env.ts';
import type { ConfigStore } from '../config/store.ts';
import { describeConfig, isoOrNull, type MaintenanceConfig } from '../config/parse.ts';
import type { MaintenanceState } from '../maintenance/state.ts';
import { isPathAllowed, retryAfterSeconds } from '../maintenance/window.ts';
import type { Metrics } from './metrics.ts';
import { demoPage, maintenancePage } from './pages.ts';

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
  sourceStatus: () => Record<string, unknown>;
}

type Readiness = { ready: true } | { ready: false; reason: 'starting' | 'maintenance' | 'shutting_down' };

/** The one place that builds the HTTP surface; production and tests both use it. */
export function createApp(deps: AppDeps): Hono {
  const { role, store, state, lifecycle } = deps;
  const app = new Hono();

  const readiness = (): Readiness => {
    if (lifecycle.shuttingDown) return { ready: false, reason: 'shutting_down' };
    if (role === 'admin') return { ready: true };
    if (store.config === null) return { ready: false, reason: 'starting' };
    if (state.current.active) return { ready: false, reason: 'maintenance' };
    return { ready: true };
  };

  app.use(deps.metrics.middleware);
  app.use(async (c, next) => {
    await next();
    // While draining, tell keep-alive clients to reconnect, so they move to other pods.
    if (lifecycle.shuttingDown) c.res.headers.set('Connection', 'close');
  });

  // Registered before the maintenance gate, so they answer during maintenance too.
  const live = (c: Context) => c.json({ status: 'alive' });
  const ready = (c: Context) => {
    const result = readiness();
    c.header('Cache-Control', 'no-store');
    return result.ready
      ? c.json({ status: 'ready' })
      : c.json({ status: 'not_ready', reason: result.reason }, 503);
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
      maintenance: view.active,
      maintenanceCause: view.cause,
      nextChangeAt: isoOrNull(view.nextChangeAt),
      retryAfterSeconds: view.config === null ? null : retryAfterSeconds(view.config, now),
      source: store.source,
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

  if (role === 'user') {
    app.use(async (c, next) => {
      const view = state.current;
      if (!view.active || view.config === null || isPathAllowed(view.config.allowPaths, c.req.path)) {
        return next();
      }
      return maintenanceResponse(c, view.config, state.clock.now());
    });
  }

  app.get('/', (c) => c.html(demoPage(deps.podName, role)));
  return app;
}

function maintenanceResponse(c: Context, config: MaintenanceConfig, now: number) {
  const retryAfter = retryAfterSeconds(config, now);
  c.header('Retry-After', String(retryAfter));
  c.header('Cache-Control', 'no-store');
  const type = accepts(c, {
    header: 'Accept',
    supports: ['text/html', 'application/json'],
    default: 'text/html',
  });
  if (type === 'application/json') {
    return c.json({ status: 'maintenance', message: config.message, retryAfterSeconds: retryAfter }, 503);
  }
  return c.html(maintenancePage(config.message, retryAfter), 503);
}
