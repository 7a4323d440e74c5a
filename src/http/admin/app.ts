import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { labelledCounter } from '../counters.ts';
import type { ConfigWriter } from '../../config/writer.ts';
import type { TrustedProxies } from '../client-address.ts';
import type { CachedAuth } from './auth.ts';
import { fail, RateLimitedError, toApiError, unexpectedError } from './errors.ts';
import { createGuards, type AdminEnv } from './guards.ts';
import { openApiDocument } from './contract.ts';
import type { LiveState } from './live.ts';
import { RateLimiter } from './rate-limit.ts';
import { SessionStore } from './sessions.ts';
import type { BypassLinkSettings } from './bypass-links.ts';
import { bypassLinkRoutes } from './routes/bypass-links.ts';
import { historyRoutes } from './routes/history.ts';
import { maintenanceRoutes } from './routes/maintenance.ts';
import { panelRoutes } from './routes/panel.ts';
import { sessionRoutes } from './routes/session.ts';
import { streamRoutes } from './routes/stream.ts';

export type { AdminEnv } from './guards.ts';
export { MAX_STREAMS, MAX_STREAMS_PER_IDENTITY } from './routes/stream.ts';

/** Sign-ins one identity may make a minute (and at once): a person signs in a few times a day. */
const SIGN_INS_PER_MINUTE = 10;

export interface AdminApp extends Hono<AdminEnv> {
  /** Ends every open event stream (shutdown). */
  closeStreams(): void;
}

export interface AdminDeps {
  auth: CachedAuth;
  writer: ConfigWriter;
  log: Logger;
  registry: Registry;
  trustedProxies: TrustedProxies;
  /** The largest request body accepted, in bytes; more gets 413 before anything is parsed. */
  maxBodyBytes: number;
  /** Authentication attempts that cost a fresh check, per client address and minute. */
  authAttemptsPerMinute: number;
  now?: () => number;
  /** The effective state and the fleet, for the API, the stream and the panel; absent in tests that need neither. */
  live?: LiveState;
  /** Open event streams allowed at once; more get 503. */
  maxStreams?: number;
  /** Open event streams one identity may hold; more get 429. */
  maxStreamsPerIdentity?: number;
  heartbeatMs?: number;
  bypassLinks?: BypassLinkSettings;
}

/**
 * The admin panel and its JSON API, mounted at /admin on the admin role only: the middleware
 * every request passes, then one route module per concern, and one mapping of errors to answers.
 * Callers authenticate with `Authorization: Bearer <token>`; the panel trades a token for a
 * short-lived session cookie, and every state-changing request made with that cookie must
 * carry its CSRF token in `X-CSRF-Token`.
 */
export function createAdminApp(deps: AdminDeps): AdminApp {
  const { auth, writer, log } = deps;
  const now = deps.now ?? Date.now;
  const sessions = new SessionStore(now);
  const attempts = new RateLimiter({ perMinute: deps.authAttemptsPerMinute, burst: deps.authAttemptsPerMinute, now });
  const signIns = new RateLimiter({ perMinute: SIGN_INS_PER_MINUTE, burst: SIGN_INS_PER_MINUTE, now });
  const guards = createGuards({ auth, sessions, attempts, trustedProxies: deps.trustedProxies, target: writer.target });
  const rateLimited = labelledCounter(deps.registry, {
    name: 'admin_auth_rate_limited_total',
    help: 'Admin authentication attempts refused with 429: per client address (client), per identity signing in (sign_ins) or for the whole pod (reviews)',
    label: 'scope',
    values: [],
  });
  const view = { ...(deps.live ? { live: deps.live } : {}), ...(deps.bypassLinks ? { bypassLinks: deps.bypassLinks } : {}) };
  const stream = streamRoutes({ ...deps, sessions, guards, now, view });

  const app = new Hono<AdminEnv>();
  // Before anything else reads a byte: the body limit is enforced while the body streams in.
  app.use(
    bodyLimit({
      maxSize: deps.maxBodyBytes,
      onError: (c) =>
        fail(c, 413, { error: 'payload_too_large', field: 'body', message: `body: at most ${deps.maxBodyBytes} bytes are accepted` }),
    }),
  );
  app.use(
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        connectSrc: ["'self'"],
        imgSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
      xFrameOptions: 'DENY',
      referrerPolicy: 'no-referrer',
    }),
  );
  app.use(async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
  });
  // Without authentication, only requests addressed to a loopback name are served, so a web
  // page cannot reach this port through a DNS name rebound to 127.0.0.1.
  if (auth.mode === 'none') {
    app.use(async (c, next) => {
      if (isLoopbackHost(guards.requestHost(c))) return next();
      return fail(c, 403, {
        error: 'forbidden',
        message: 'with ADMIN_AUTH=none only requests for localhost, 127.0.0.1 or [::1] are answered',
      });
    });
  }

  app.route('/', panelRoutes());
  app.route('/session', sessionRoutes({ auth, sessions, signIns, guards, target: writer.target, log }));
  app.route('/api/maintenance', maintenanceRoutes({ writer, guards, log, view }));
  app.route('/api/history', historyRoutes({ writer, guards }));
  app.route('/api/stream', stream.routes);
  // The contract, generated once: it names no secret and no state, so it needs no sign-in.
  const contract = openApiDocument();
  app.get('/api/openapi.json', (c) => c.json(contract));
  app.route(
    '/api/bypass-links',
    bypassLinkRoutes({ writer, guards, now, log, ...(deps.bypassLinks ? { settings: deps.bypassLinks } : {}) }),
  );

  app.notFound((c) => fail(c, 404, { error: 'not_found', message: `no admin route ${c.req.method} ${c.req.path.slice(0, 200)}` }));
  app.onError((error, c) => {
    if (error instanceof RateLimitedError) rateLimited.inc({ scope: error.scope });
    const known = toApiError(error);
    if (known) return fail(c, known.status, known.body, known.headers);
    // Anything else: the detail goes to the log under an id, and the caller gets only the id.
    const errorId = randomBytes(4).toString('hex');
    log.error({ err: error, errorId, method: c.req.method, path: c.req.path }, 'admin request failed');
    const answer = unexpectedError(error, errorId);
    return fail(c, answer.status, answer.body);
  });
  return Object.assign(app, { closeStreams: () => stream.close() });
}

/** `localhost`, `127.x.y.z` or `[::1]`, with or without a port. */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return name.toLowerCase() === 'localhost' || name === '[::1]' || /^127(\.\d{1,3}){3}$/.test(name);
}
