import { randomBytes } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import { validator } from 'hono/validator';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { labelledCounter } from '../counters.ts';
import { z } from 'zod';
import {
  ConfigNotFoundError,
  InvalidConfigChangeError,
  MalformedVersionError,
  VersionConflictError,
  updateConfig,
  type ConfigWriter,
} from '../../config/writer.ts';
import { KubernetesApiError } from '../../k8s/client.ts';
import type { TrustedProxies } from '../client-address.ts';
import type { Access, CachedAuth, Identity } from './auth.ts';
import { AdminUnavailableError, RateLimitedError } from './errors.ts';
import { loadPanelAssets, panelPage } from './panel.ts';
import { RateLimiter } from './rate-limit.ts';
import {
  bypassLinkSchema,
  configErrorToApiError,
  describeStored,
  parseBody,
  toConfigChange,
  updateSchema,
  type ApiError,
} from './requests.ts';
import { signBypassToken } from '../../maintenance/bypass-token.ts';
import { BYPASS_PATH } from '../bypass.ts';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { LiveState } from './live.ts';
import { SESSION_SECONDS, SessionStore, type Session } from './sessions.ts';

/** Each open panel holds one stream; a bound keeps forgotten tabs and stale clients from piling up. */
export const MAX_STREAMS = 100;
/** One identity's share of them: a single caller (a script, a tab left in a loop) cannot hold them all. */
export const MAX_STREAMS_PER_IDENTITY = 5;
const HEARTBEAT_MS = 15_000;

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
  /** Signing bypass links: the key (null while there is none) and why there is none. */
  bypassLinks?: { key: () => Buffer | null; problem: () => string | null; publicUrl?: URL };
}

const SESSION_COOKIE = 'maintenance_session';

type Caller = { identity: Identity; session: Session | null };
export type AdminEnv = { Variables: { caller: Caller } };

/**
 * The admin panel and its JSON API, mounted at /admin on the admin role only.
 * Callers authenticate with `Authorization: Bearer <token>`; the panel trades a token for a
 * short-lived session cookie, and every state-changing request made with that cookie must
 * carry its CSRF token in `X-CSRF-Token`.
 */
export function createAdminApp(deps: AdminDeps): AdminApp {
  const { auth, writer, log, trustedProxies } = deps;
  const now = deps.now ?? Date.now;
  const app = new Hono<AdminEnv>();
  const sessions = new SessionStore(now);
  const attempts = new RateLimiter({ perMinute: deps.authAttemptsPerMinute, burst: deps.authAttemptsPerMinute, now });
  const rateLimited = labelledCounter(deps.registry, {
    name: 'admin_auth_rate_limited_total',
    help: 'Admin authentication attempts refused with 429: per client address (client) or for the whole pod (reviews)',
    label: 'scope',
    values: [],
  });
  const assets = loadPanelAssets();

  const fail = (c: Context, status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 500 | 503, body: ApiError) => {
    if (status === 401) c.header('WWW-Authenticate', 'Bearer realm="maintenance-switch"');
    return c.json(body, status);
  };

  const peer = (c: Context) => (c.env?.incoming ? getConnInfo(c).remote.address : undefined);
  /** A forwarding header, believed only from a trusted proxy. */
  const forwarded = (c: Context, name: string) => trustedProxies.forwarded(peer(c), c.req.header(name));
  const requestHost = (c: Context) => forwarded(c, 'X-Forwarded-Host') ?? c.req.header('Host') ?? '';

  /**
   * Checks a bearer token. Attempts whose answer is not cached cost a TokenReview (or a file
   * read), so they are rate-limited per client address.
   */
  const authenticate = async (c: Context, token: string): Promise<Identity | null> => {
    if (!auth.knows(token)) {
      const client = trustedProxies.clientAddress(peer(c), c.req.header(trustedProxies.header));
      const allowed = attempts.take(client);
      if (!allowed.ok) throw new RateLimitedError('client', allowed.retryAfterSeconds);
    }
    return auth.authenticate(token);
  };

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
      if (isLoopbackHost(requestHost(c))) return next();
      return fail(c, 403, {
        error: 'forbidden',
        message: 'with ADMIN_AUTH=none only requests for localhost, 127.0.0.1 or [::1] are answered',
      });
    });
  }

  /** Who is calling: a bearer token wins over a session cookie; `none` needs neither. */
  const identify = createMiddleware<AdminEnv>(async (c, next) => {
    const header = c.req.header('Authorization');
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) return fail(c, 401, { error: 'unauthorized', message: 'the Authorization header must be "Bearer <token>"' });
      const identity = await authenticate(c, match[1]!);
      if (identity === null) return fail(c, 401, { error: 'unauthorized', message: 'the token was not accepted' });
      c.set('caller', { identity, session: null });
      return next();
    }
    const session = sessions.find(getCookie(c, SESSION_COOKIE));
    if (session !== null) {
      // The session's token is checked again, through the cache, so a revoked token or a
      // deleted ServiceAccount ends the session within AUTH_CACHE_MS.
      if ((await auth.authenticate(session.token)) === null) {
        sessions.end(session.id);
        return fail(c, 401, { error: 'unauthorized', message: 'the session has ended: its token is no longer accepted; sign in again' });
      }
      c.set('caller', { identity: session.identity, session });
      return next();
    }
    if (auth.mode === 'none') {
      c.set('caller', { identity: { user: 'local', groups: [] }, session: null });
      return next();
    }
    return fail(c, 401, { error: 'unauthorized', message: 'sign in with a bearer token' });
  });

  /**
   * A browser names the page that sent a request in `Origin`. Only the host is compared: behind
   * a TLS-terminating proxy the browser says https while this server sees http.
   */
  const sameOrigin = createMiddleware<AdminEnv>(async (c, next) => {
    const origin = c.req.header('Origin');
    if (origin === undefined) return next();
    let originHost: string | null = null;
    try {
      originHost = new URL(origin).host;
    } catch {
      // "null" or garbage: not our page
    }
    if (originHost !== null && originHost === requestHost(c)) return next();
    return fail(c, 403, { error: 'forbidden', message: `cross-origin request from ${origin.slice(0, 200)} refused` });
  });

  /** A browser request riding on the session cookie must prove it came from the panel. */
  const csrf = createMiddleware<AdminEnv>(async (c, next) => {
    const { session } = c.get('caller');
    if (session !== null && c.req.header('X-CSRF-Token') !== session.csrf) {
      return fail(c, 403, { error: 'forbidden', message: 'missing or wrong X-CSRF-Token header' });
    }
    return next();
  });

  const authorize = (access: Access) =>
    createMiddleware<AdminEnv>(async (c, next) => {
      const { identity } = c.get('caller');
      if (await auth.authorize(identity, access)) return next();
      const verb = access === 'patch' ? 'change' : 'read';
      return fail(c, 403, { error: 'forbidden', message: `${identity.user} may not ${verb} ${writer.target}` });
    });

  /** A JSON body checked against a zod schema; 415 for another type, 400 naming the field. */
  const jsonBody = <T extends z.ZodType>(schema: T) =>
    validator('json', (value, c): z.output<T> | Response => {
      if (!/^application\/json\s*(;|$)/i.test(c.req.header('Content-Type') ?? '')) {
        return fail(c, 415, { error: 'invalid_request', field: 'body', message: 'body: send JSON with Content-Type: application/json' });
      }
      const result = parseBody(schema, value);
      return result.ok ? result.value : fail(c, 400, result.error);
    });

  app.get('/', (c) => c.html(panelPage()));
  app.get('/assets/panel.js', (c) => c.body(assets.script, 200, { 'Content-Type': 'text/javascript; charset=utf-8' }));
  app.get('/assets/panel.css', (c) => c.body(assets.styles, 200, { 'Content-Type': 'text/css; charset=utf-8' }));
  app.get('/assets/favicon.svg', (c) => c.body(assets.icon, 200, { 'Content-Type': 'image/svg+xml' }));

  app.get('/session', async (c) => {
    const session = sessions.find(getCookie(c, SESSION_COOKIE));
    if (session !== null) return c.json({ user: session.identity.user, csrfToken: session.csrf, mode: auth.mode });
    if (auth.mode === 'none') return c.json({ user: 'local', csrfToken: null, mode: auth.mode });
    return fail(c, 401, { error: 'unauthorized', message: 'not signed in' });
  });

  app.post(
    '/session',
    sameOrigin,
    jsonBody(
      z.strictObject({ token: z.string({ error: 'a non-empty string is required' }).trim().min(1, 'a non-empty string is required') }),
    ),
    async (c) => {
      const { token } = c.req.valid('json');
      const identity = await authenticate(c, token);
      if (identity === null) return fail(c, 401, { error: 'unauthorized', message: 'the token was not accepted' });
      if (!(await auth.authorize(identity, 'get'))) {
        return fail(c, 403, { error: 'forbidden', message: `${identity.user} may not read ${writer.target}` });
      }
      const session = sessions.open(token, identity);
      setCookie(c, SESSION_COOKIE, session.id, {
        path: '/admin',
        httpOnly: true,
        sameSite: 'Strict',
        secure: new URL(c.req.url).protocol === 'https:' || forwarded(c, 'X-Forwarded-Proto') === 'https',
        maxAge: SESSION_SECONDS,
      });
      log.info({ actor: identity.user }, 'admin signed in');
      return c.json({ user: identity.user, csrfToken: session.csrf, mode: auth.mode });
    },
  );

  app.delete('/session', async (c) => {
    const session = sessions.find(getCookie(c, SESSION_COOKIE));
    if (session !== null) {
      if (c.req.header('X-CSRF-Token') !== session.csrf)
        return fail(c, 403, { error: 'forbidden', message: 'missing or wrong X-CSRF-Token header' });
      sessions.end(session.id);
      log.info({ actor: session.identity.user }, 'admin signed out');
    }
    deleteCookie(c, SESSION_COOKIE, { path: '/admin' });
    return c.body(null, 204);
  });

  /** The stored config with what users get now and how far the fleet follows it. */
  const describeAll = (stored: Parameters<typeof describeStored>[0]) => ({
    ...describeStored(stored),
    effective: deps.live?.effective() ?? null,
    fleet: deps.live?.fleet() ?? null,
  });

  app.get('/api/maintenance', identify, authorize('get'), async (c) => c.json(describeAll(await writer.read())));

  const streams = new Set<SSEStreamingApi>();
  const streamsByUser = new Map<string, number>();
  app.get('/api/stream', identify, authorize('get'), async (c) => {
    const { identity, session } = c.get('caller');
    const perIdentity = deps.maxStreamsPerIdentity ?? MAX_STREAMS_PER_IDENTITY;
    const held = streamsByUser.get(identity.user) ?? 0;
    if (held >= perIdentity) {
      c.header('Retry-After', '30');
      return fail(c, 429, {
        error: 'rate_limited',
        message: `${identity.user} already has ${held} open streams, the most one identity may hold (${perIdentity}); close other panels`,
      });
    }
    if (streams.size >= (deps.maxStreams ?? MAX_STREAMS)) {
      return fail(c, 503, {
        error: 'unavailable',
        message: `too many open streams (${streams.size}); close other panels, or reload later`,
      });
    }
    streamsByUser.set(identity.user, held + 1);
    const release = () => {
      const left = (streamsByUser.get(identity.user) ?? 1) - 1;
      if (left <= 0) streamsByUser.delete(identity.user);
      else streamsByUser.set(identity.user, left);
    };
    const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header('Authorization') ?? '')?.[1] ?? null;
    return streamSSE(c, async (stream) => {
      streams.add(stream);
      let changed = true;
      // The stored config is read again only when the state changed, not for every endpoint that moves.
      let stored: Parameters<typeof describeStored>[0] | null = null;
      let wake: (() => void) | null = null;
      const unsubscribe = deps.live?.onChange((what) => {
        changed = true;
        if (what === 'state') stored = null;
        wake?.();
      });
      stream.onAbort(() => wake?.());
      try {
        let id = 0;
        while (!stream.aborted) {
          if (changed) {
            changed = false;
            stored ??= await writer.read();
            await stream.writeSSE({ event: 'state', id: String(++id), data: JSON.stringify(describeAll(stored)) });
          } else {
            // A heartbeat, and the same revocation check as any request: a revoked token or an
            // ended session ends the stream within the auth cache's bound.
            const token = bearer ?? session?.token ?? null;
            const still = token === null ? identity : await auth.authenticate(token);
            if (still === null || (session !== null && !sessions.find(session.id))) break;
            await stream.writeSSE({ event: 'heartbeat', data: new Date(now()).toISOString() });
          }
          if (!changed && !stream.aborted) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, deps.heartbeatMs ?? HEARTBEAT_MS);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            wake = null;
          }
        }
      } finally {
        unsubscribe?.();
        streams.delete(stream);
        release();
      }
    });
  });

  app.put('/api/maintenance', identify, sameOrigin, csrf, authorize('patch'), jsonBody(updateSchema), async (c) => {
    const update = c.req.valid('json');
    const { identity } = c.get('caller');
    const written = await updateConfig(writer, toConfigChange(update, identity.user));
    log.info(
      { actor: identity.user, enabled: update.enabled, reason: update.reason, target: writer.target, version: written.version },
      'maintenance toggled',
    );
    return c.json(describeAll(written));
  });

  app.post('/api/bypass-links', identify, sameOrigin, csrf, authorize('patch'), jsonBody(bypassLinkSchema), async (c) => {
    const { reason, expiresInSeconds } = c.req.valid('json');
    const { identity } = c.get('caller');
    const key = deps.bypassLinks?.key() ?? null;
    if (key === null) {
      const why = deps.bypassLinks?.problem() ?? 'no bypass key is configured';
      return fail(c, 503, { error: 'unavailable', message: `bypass links are off: ${why}. Create the Secret: ${BYPASS_KEY_COMMAND}` });
    }
    const id = randomBytes(8).toString('base64url');
    const expiresAt = new Date(Math.floor((now() + expiresInSeconds * 1000) / 1000) * 1000);
    const token = signBypassToken(key, expiresAt.getTime(), id);
    // The Event is the audit record: no record, no link.
    await writer.audit?.({
      action: 'CreateBypassLink',
      reason: 'BypassLinkCreated',
      note: `${identity.user} created bypass link ${id}, valid until ${expiresAt.toISOString()}: ${reason}`,
    });
    log.info({ actor: identity.user, reason, linkId: id, expiresAt: expiresAt.toISOString() }, 'bypass link created');
    const path = `${BYPASS_PATH}?token=${token}`;
    const url = deps.bypassLinks?.publicUrl ? new URL(path, deps.bypassLinks.publicUrl).href : null;
    return c.json({ id, expiresAt: expiresAt.toISOString(), path, url, reason }, 201);
  });

  app.notFound((c) => fail(c, 404, { error: 'not_found', message: `no admin route ${c.req.method} ${c.req.path.slice(0, 200)}` }));

  app.onError((error, c) => {
    if (error instanceof HTTPException && error.status === 400) {
      return fail(c, 400, { error: 'invalid_request', field: 'body', message: 'body: malformed JSON' });
    }
    if (error instanceof InvalidConfigChangeError) return fail(c, 400, configErrorToApiError(error.issues));
    if (error instanceof MalformedVersionError) {
      return fail(c, 400, { error: 'invalid_request', field: 'resourceVersion', message: `resourceVersion: ${error.message}` });
    }
    if (error instanceof VersionConflictError) {
      return fail(c, 409, {
        error: 'conflict',
        message: 'the maintenance config was changed by someone else since you loaded it; reload and try again',
      });
    }
    if (error instanceof ConfigNotFoundError) return fail(c, 404, { error: 'not_found', message: error.message });
    if (error instanceof RateLimitedError) {
      rateLimited.inc({ scope: error.scope });
      c.header('Retry-After', String(error.retryAfterSeconds));
      return fail(c, 429, { error: 'rate_limited', message: `${error.message}; try again in ${error.retryAfterSeconds} s` });
    }
    if (error instanceof AdminUnavailableError) return fail(c, 503, { error: 'unavailable', message: error.message });
    // Anything else: the detail goes to the log under an id, and the caller gets only the id.
    const errorId = randomBytes(4).toString('hex');
    log.error({ err: error, errorId, method: c.req.method, path: c.req.path }, 'admin request failed');
    if (error instanceof KubernetesApiError) {
      return fail(c, 503, {
        error: 'unavailable',
        message: `the Kubernetes API did not answer as expected; see the admin pod's log (error ${errorId})`,
      });
    }
    return fail(c, 500, { error: 'internal', message: `internal error; see the admin pod's log (error ${errorId})` });
  });
  return Object.assign(app, {
    closeStreams: () => {
      for (const stream of streams) stream.abort();
    },
  });
}

export const BYPASS_KEY_COMMAND = 'kubectl create secret generic maintenance-bypass-key --from-literal=key="$(openssl rand -base64 32)"';

/** `localhost`, `127.x.y.z` or `[::1]`, with or without a port. */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return name.toLowerCase() === 'localhost' || name === '[::1]' || /^127(\.\d{1,3}){3}$/.test(name);
}
