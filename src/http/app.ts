import { Hono, type Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { SourceStatus } from '../config/source.ts';
import { describeConfig, isoOrNull, parseConfig, type MaintenanceConfig } from '../config/parse.ts';
import type { MaintenanceState } from '../maintenance/state.ts';
import { admit, effectiveMode, isPathAllowed, retryAfterSeconds } from '../maintenance/policy.ts';
import type { Metrics } from './metrics.ts';
import type { Role } from '../role-names.ts';
import { demoPage } from './pages.ts';
import { bypassMethodNotAllowed, bypassVisit, maintenanceResponse } from './maintenance-answer.ts';
import { BYPASS_CACHE_CONTROL, BYPASS_PATH, type Bypass } from './bypass.ts';
import { isCacheDirective } from './forwarded-head.ts';
import { BodyTooLargeError, DEFAULT_GRAPHQL_MAX_BYTES, markReadOnly, readBodyUpTo } from './read-only.ts';
import type { BypassKeyStatus } from '../config/bypass-key.ts';

export interface Lifecycle {
  shuttingDown: boolean;
}

export type NotReadyReason =
  | 'starting'
  | 'maintenance'
  | 'shutting_down'
  | 'not_in_maintenance'
  | 'users_serving'
  | 'admin_unavailable'
  | 'upstream_not_ready'
  | 'proxy_full';
export type Readiness = { ready: true } | { ready: false; reason: NotReadyReason };

export const READY: Readiness = { ready: true };
export const notReady = (reason: NotReadyReason): Readiness => ({ ready: false, reason });

/** What a role shows over HTTP: its readiness, what it adds to /status, and its routes. */
export interface Surface {
  /** The role's own readiness; shutting down is checked before it, for every role. */
  readiness(): Readiness;
  status?(): Record<string, unknown>;
  /** Mounted after the probes, /status and /metrics, which answer in maintenance too. */
  routes(app: Hono): void;
}

export interface AppDeps {
  role: Role;
  podName: string;
  state: MaintenanceState;
  metrics: Metrics;
  lifecycle: Lifecycle;
  /** What the config source reports about itself, shown in /status. */
  sourceStatus: () => SourceStatus;
  bypassKey?: () => BypassKeyStatus;
  surface: Surface;
}

/** The HTTP surface every role shares (probes, /status, /metrics), with the role's own mounted on it. */
export function createApp(deps: AppDeps): Hono {
  const { state, lifecycle, surface } = deps;
  const app = new Hono();
  const readiness = (): Readiness => (lifecycle.shuttingDown ? notReady('shutting_down') : surface.readiness());

  const live = (c: Context) => c.json({ status: 'alive' });
  const ready = (c: Context) => {
    const result = readiness();
    // The kubelet asks every 2 s, and load balancers too: the answer while ready is one fixed
    // string, the same shape as the demo page, so it costs what a bare handler costs.
    if (result.ready) return new Response(READY_BODY, { headers: PROBE_HEADERS });
    c.header('Cache-Control', 'no-store');
    return c.json({ status: 'not_ready', reason: result.reason }, 503);
  };
  app.get('/livez', live);
  app.get('/health', live);
  app.get('/readyz', ready);
  app.get('/ready', ready);

  app.get('/status', (c) => {
    const view = state.current;
    const loaded = state.loadStatus;
    const now = state.clock.now();
    const result = readiness();
    c.header('Cache-Control', 'no-store');
    return c.json({
      role: deps.role,
      pod: deps.podName,
      ready: result.ready,
      notReadyReason: result.ready ? null : result.reason,
      ...surface.status?.(),
      ...(deps.bypassKey ? { bypassKey: deps.bypassKey() } : {}),
      maintenance: view.active,
      mode: effectiveMode(view),
      maintenanceCause: view.cause,
      failedClosed: view.failedClosed ? FAILED_CLOSED : null,
      nextChangeAt: isoOrNull(view.nextChangeAt),
      retryAfterSeconds: view.config === null ? null : retryAfterSeconds(view.config, now),
      ...deps.sourceStatus(),
      lastLoadedAt: loaded.lastLoadedAt?.toISOString() ?? null,
      lastError: loaded.lastError,
      lastErrorAt: loaded.lastErrorAt?.toISOString() ?? null,
      config: view.config === null ? null : describeConfig(view.config),
    });
  });

  app.get('/metrics', async (c) => {
    c.header('Content-Type', deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });

  surface.routes(app);
  return app;
}

/** Every role but the admin answers /admin with a 404 that says where the panel is. */
export function noAdminHere(app: Hono): void {
  const answer = (c: Context) => c.json({ error: 'not_found', message: 'the admin panel is served by the admin role only' }, 404);
  app.all('/admin', answer);
  app.all('/admin/*', answer);
}

type Handler = (c: Context) => Response | Promise<Response>;

/**
 * The application's routes behind the maintenance gate. The gate wraps each handler instead
 * of being an app.use() middleware, which would make every request asynchronous (see metrics.ts).
 * In read-only mode every answer carries the read-only header; a GraphQL request's body is read
 * (up to `graphqlMaxBytes`) and judged first, and kept for the handler (`c.req.text()`, `json()`).
 */
export function holdDuringMaintenance(
  state: MaintenanceState,
  bypass: Bypass | undefined,
  graphqlMaxBytes = DEFAULT_GRAPHQL_MAX_BYTES,
): (handler: Handler) => Handler {
  return (handler) => (c) => {
    const view = state.current;
    // The hot path while nothing is on: nothing else is looked at, no closure is made.
    if (!view.active && !view.readOnly) return handler(c);
    const admission = admit(view, {
      method: c.req.method,
      matches: (prefixes) => isPathAllowed(prefixes, c.req.path),
      isBypassed: () => bypass?.admits(bypassRequest(c, bypass)) === true,
    });
    if (!view.readOnly) {
      if (admission === 'pass') return handler(c);
      if (admission === 'private') return privately(handler(c));
      return maintenanceResponse(c, view.config!, state.clock.now(), view.cause);
    }
    const refuse = () => maintenanceResponse(c, view.config!, state.clock.now(), view.cause, 'read-only');
    if (admission === 'pass') return marked(handler(c));
    if (admission === 'private') return marked(privately(handler(c)));
    if (admission === 'hold') return refuse();
    return judged(c, graphqlMaxBytes).then((read) => (read ? marked(handler(c)) : refuse()));
  };
}

/** Whether a GraphQL request only reads; its body, once read, is left where Hono's body readers find it. */
async function judged(c: Context, maxBytes: number): Promise<boolean> {
  let body = '';
  if (c.req.method === 'POST') {
    try {
      body = (await readBodyUpTo(c.req.raw.body, maxBytes, c.req.header('Content-Length'))).toString('utf8');
    } catch (error) {
      if (error instanceof BodyTooLargeError) return false;
      throw error;
    }
    // Hono keeps promises in bodyCache (its type says the value): c.req.text() and json() read this one.
    (c.req.bodyCache as Record<string, Promise<string>>).text = Promise.resolve(body);
  }
  const url = new URL(c.req.url);
  // Loaded on the first GraphQL request judged: the graphql package weighs on no other process.
  const { judgeGraphql } = await import('../maintenance/graphql.ts');
  return judgeGraphql({ method: c.req.method, contentType: c.req.header('Content-Type'), search: url.searchParams, body }).read;
}

function marked(response: Response | Promise<Response>): Response | Promise<Response> {
  return response instanceof Promise ? response.then(markReadOnly) : markReadOnly(response);
}

/**
 * The stand-in application: the demo page at `/`, and 404 for every other path, each through
 * `hold` (the maintenance gate on the user role).
 */
export function demoApplication(app: Hono, options: { podName: string; role: Role; hold?: (handler: Handler) => Handler }): void {
  const hold = options.hold ?? ((handler: Handler) => handler);
  const demo = demoPage(options.podName, options.role);
  // The demo page stands in for the application, which owns its headers; the security headers
  // go on this service's own 503 page. On `/` they cost about 5% of throughput (measured),
  // past the 2% the hot path may spend on them.
  const demoHeaders = { 'Content-Type': HTML };
  app.get(
    '/',
    hold(() => new Response(demo, { headers: demoHeaders })),
  );
  app.notFound(hold((c) => c.text('Not Found', 404)));
}

/** The bypass link's landing path, on the roles that verify bypass links. */
export function bypassLanding(app: Hono, bypass: Bypass): void {
  app.get(BYPASS_PATH, (c) => bypassVisit(c, bypass));
  app.all(BYPASS_PATH, bypassMethodNotAllowed);
}

/** The page role's answer on every path: it only ever receives traffic as the fallback. */
export function maintenancePageEverywhere(app: Hono, state: MaintenanceState): void {
  const page = (c: Context) => maintenanceResponse(c, state.current.config ?? DEFAULT_CONFIG, state.clock.now(), state.current.cause);
  app.all('/', page);
  app.notFound(page);
}

const DEFAULT_CONFIG: MaintenanceConfig = (() => {
  const parsed = parseConfig({});
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.config;
})();

const FAILED_CLOSED =
  'the switch asks for read-only, but users do not pass through this gate (GATE_TRAFFIC=bypass), so it cannot refuse their writes: it holds maintenance on instead, and users get the page; kustomize/components/gate-proxy sends users through the gate';

const HTML = 'text/html; charset=UTF-8';
const READY_BODY = JSON.stringify({ status: 'ready' });
const PROBE_HEADERS = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };

function bypassRequest(c: Context, bypass: Bypass) {
  const peer = c.env?.incoming ? getConnInfo(c).remote.address : undefined;
  return { peer, cookie: c.req.header('Cookie'), forwardedFor: c.req.header(bypass.settings.proxies.header) };
}

async function privately(response: Response | Promise<Response>): Promise<Response> {
  const resolved = await response;
  for (const name of [...resolved.headers.keys()]) if (isCacheDirective(name)) resolved.headers.delete(name);
  resolved.headers.set('Cache-Control', BYPASS_CACHE_CONTROL);
  return resolved;
}
