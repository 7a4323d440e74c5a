import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import { validator } from 'hono/validator';
import type { z } from 'zod';
import { clientKey } from '../../cidr.ts';
import type { TrustedProxies } from '../client-address.ts';
import type { Access, CachedAuth, Identity } from './auth.ts';
import { fail, RateLimitedError } from './errors.ts';
import type { RateLimiter } from './rate-limit.ts';
import { parseBody } from './requests.ts';
import type { Session, SessionStore } from './sessions.ts';

export const SESSION_COOKIE = 'maintenance_session';

export type Caller = { identity: Identity; session: Session | null };
/** What every admin route module shares: who is calling, once `identify` ran. */
export type AdminEnv = { Variables: { caller: Caller } };

export interface GuardDeps {
  auth: CachedAuth;
  sessions: SessionStore;
  /** Fresh authentication attempts, per client address. */
  attempts: RateLimiter;
  trustedProxies: TrustedProxies;
  /** What callers act on, for the 403 messages: "ConfigMap ns/app-config". */
  target: string;
}

export type Guards = ReturnType<typeof createGuards>;

/** The checks a route stacks before its handler: who calls, from where, with what right and body. */
export function createGuards({ auth, sessions, attempts, trustedProxies, target }: GuardDeps) {
  const peer = (c: Context) => (c.env?.incoming ? getConnInfo(c).remote.address : undefined);
  /** A forwarding header, believed only from a trusted proxy. */
  const forwarded = (c: Context, name: string) => trustedProxies.forwarded(peer(c), c.req.header(name));
  const requestHost = (c: Context) => forwarded(c, 'X-Forwarded-Host') ?? c.req.header('Host') ?? '';

  /**
   * Checks a bearer token. Attempts whose answer is not cached cost a TokenReview (or a file
   * read), so they are rate-limited per client (an IPv6 client by its /64).
   */
  const authenticate = async (c: Context, token: string): Promise<Identity | null> => {
    if (!auth.knows(token)) {
      const client = trustedProxies.clientAddress(peer(c), c.req.header(trustedProxies.header));
      const allowed = attempts.take(clientKey(client));
      if (!allowed.ok) throw new RateLimitedError('client', allowed.retryAfterSeconds);
    }
    return auth.authenticate(token);
  };

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
      const current = await auth.authenticate(session.token);
      if (current === null) {
        sessions.end(session.id);
        return fail(c, 401, { error: 'unauthorized', message: 'the session has ended: its token is no longer accepted; sign in again' });
      }
      // The identity as reviewed now, with its rights as they are now.
      c.set('caller', { identity: current, session });
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
      return fail(c, 403, { error: 'forbidden', message: `${identity.user} may not ${verb} ${target}` });
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

  return { authenticate, forwarded, requestHost, identify, sameOrigin, csrf, authorize, jsonBody };
}
