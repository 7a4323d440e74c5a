import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { deleteCookie, getSignedCookie, setSignedCookie } from 'hono/cookie';
import { secureHeaders } from 'hono/secure-headers';
import type { Logger } from 'pino';
import { parseConfig } from '../../config/parse.ts';
import { ConfigNotFoundError, VersionConflictError, applyChange, type ConfigWriter } from '../../config/writer.ts';
import type { AdminAuth, Access, Identity } from './auth.ts';
import { loadPanelAssets, panelPage } from './panel.ts';
import { configErrorToApiError, describeStored, toConfigChange, validateUpdate, type ApiError } from './requests.ts';

export interface AdminDeps {
  auth: AdminAuth;
  writer: ConfigWriter;
  log: Logger;
}

const SESSION_COOKIE = 'maintenance_session';
const SESSION_SECONDS = 15 * 60;

interface Session extends Identity {
  csrf: string;
  expiresAt: number;
}

type Caller = { identity: Identity; session: Session | null };

/**
 * The admin panel and its JSON API, mounted at /admin on the admin role only.
 * Callers authenticate with `Authorization: Bearer <token>`; the panel trades a token for a
 * short-lived signed session cookie, and every state-changing request made with that cookie
 * must carry its CSRF token in `X-CSRF-Token`.
 */
export function createAdminApp({ auth, writer, log }: AdminDeps): Hono {
  const app = new Hono();
  // Sessions are signed with a key that lives and dies with this process.
  const sessionKey = randomBytes(32);
  const assets = loadPanelAssets();

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
      referrerPolicy: 'no-referrer',
    }),
  );
  app.use(async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
  });

  const fail = (c: Context, status: 400 | 401 | 403 | 404 | 409 | 415 | 503, body: ApiError) => {
    if (status === 401) c.header('WWW-Authenticate', 'Bearer realm="maintenance-switch"');
    return c.json(body, status);
  };

  const readSession = async (c: Context): Promise<Session | null> => {
    const raw = await getSignedCookie(c, sessionKey, SESSION_COOKIE);
    if (!raw) return null;
    try {
      const session = JSON.parse(raw) as Session;
      return session.expiresAt > Date.now() ? session : null;
    } catch {
      return null;
    }
  };

  /** Who is calling: a bearer token wins over a session cookie; `none` needs neither. */
  const identify = async (c: Context): Promise<Caller | Response> => {
    const header = c.req.header('Authorization');
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) return fail(c, 401, { error: 'unauthorized', message: 'the Authorization header must be "Bearer <token>"' });
      const identity = await auth.authenticate(match[1]!);
      if (identity === null) return fail(c, 401, { error: 'unauthorized', message: 'the token was not accepted' });
      return { identity, session: null };
    }
    const session = await readSession(c);
    if (session !== null) return { identity: { user: session.user, groups: session.groups }, session };
    if (auth.mode === 'none') return { identity: { user: 'local', groups: [] }, session: null };
    return fail(c, 401, { error: 'unauthorized', message: 'sign in with a bearer token' });
  };

  /**
   * A browser names the page that sent a request in `Origin`. Only the host is compared: behind
   * a TLS-terminating proxy the browser says https while this server sees http.
   */
  const refuseCrossOrigin = (c: Context): Response | null => {
    const origin = c.req.header('Origin');
    if (origin === undefined) return null;
    const host = c.req.header('X-Forwarded-Host') ?? c.req.header('Host');
    let originHost: string | null = null;
    try {
      originHost = new URL(origin).host;
    } catch {
      // "null" or garbage: not our page
    }
    if (originHost !== null && originHost === host) return null;
    return fail(c, 403, { error: 'forbidden', message: `cross-origin request from ${origin} refused` });
  };

  /** A browser request riding on the session cookie must prove it came from the panel. */
  const checkCsrf = (c: Context, caller: Caller): Response | null => {
    const crossOrigin = refuseCrossOrigin(c);
    if (crossOrigin) return crossOrigin;
    if (caller.session !== null && c.req.header('X-CSRF-Token') !== caller.session.csrf) {
      return fail(c, 403, { error: 'forbidden', message: 'missing or wrong X-CSRF-Token header' });
    }
    return null;
  };

  const allowed = async (c: Context, caller: Caller, access: Access): Promise<Response | null> => {
    if (await auth.authorize(caller.identity, access)) return null;
    const verb = access === 'patch' ? 'change' : 'read';
    return fail(c, 403, { error: 'forbidden', message: `${caller.identity.user} may not ${verb} ${writer.target}` });
  };

  const guarded = (access: Access, handler: (c: Context, caller: Caller) => Promise<Response>) => async (c: Context) => {
    try {
      const caller = await identify(c);
      if (caller instanceof Response) return caller;
      if (access === 'patch') {
        const csrf = checkCsrf(c, caller);
        if (csrf) return csrf;
      }
      const denied = await allowed(c, caller, access);
      if (denied) return denied;
      return await handler(c, caller);
    } catch (error) {
      return failure(c, error);
    }
  };

  const failure = (c: Context, error: unknown) => {
    if (error instanceof VersionConflictError) {
      return fail(c, 409, {
        error: 'conflict',
        message: `the maintenance config was changed by someone else since you loaded it (${error.message}); reload and try again`,
      });
    }
    if (error instanceof ConfigNotFoundError) return fail(c, 404, { error: 'not_found', message: error.message });
    log.error({ err: error }, 'admin request failed');
    return fail(c, 503, { error: 'unavailable', message: (error as Error).message });
  };

  app.get('/', (c) => c.html(panelPage()));
  app.get('/assets/panel.js', (c) => c.body(assets.script, 200, { 'Content-Type': 'text/javascript; charset=utf-8' }));
  app.get('/assets/panel.css', (c) => c.body(assets.styles, 200, { 'Content-Type': 'text/css; charset=utf-8' }));

  app.get('/session', async (c) => {
    const session = await readSession(c);
    if (session !== null) return c.json({ user: session.user, csrfToken: session.csrf, mode: auth.mode });
    if (auth.mode === 'none') return c.json({ user: 'local', csrfToken: null, mode: auth.mode });
    return fail(c, 401, { error: 'unauthorized', message: 'not signed in' });
  });

  app.post('/session', async (c) => {
    try {
      const crossOrigin = refuseCrossOrigin(c);
      if (crossOrigin) return crossOrigin;
      const body = await c.req.json<unknown>().catch(() => null);
      const token = typeof body === 'object' && body !== null ? (body as { token?: unknown }).token : undefined;
      if (typeof token !== 'string' || token.trim() === '') {
        return fail(c, 400, { error: 'invalid_request', field: 'token', message: 'token: a non-empty string is required' });
      }
      const identity = await auth.authenticate(token.trim());
      if (identity === null) return fail(c, 401, { error: 'unauthorized', message: 'the token was not accepted' });
      const denied = await allowed(c, { identity, session: null }, 'get');
      if (denied) return denied;
      const session: Session = { ...identity, csrf: randomBytes(24).toString('base64url'), expiresAt: Date.now() + SESSION_SECONDS * 1000 };
      await setSignedCookie(c, SESSION_COOKIE, JSON.stringify(session), sessionKey, {
        path: '/admin',
        httpOnly: true,
        sameSite: 'Strict',
        secure: new URL(c.req.url).protocol === 'https:' || c.req.header('X-Forwarded-Proto') === 'https',
        maxAge: SESSION_SECONDS,
      });
      log.info({ actor: identity.user }, 'admin signed in');
      return c.json({ user: identity.user, csrfToken: session.csrf, mode: auth.mode });
    } catch (error) {
      return failure(c, error);
    }
  });

  app.delete('/session', async (c) => {
    const session = await readSession(c);
    if (session !== null && c.req.header('X-CSRF-Token') !== session.csrf) {
      return fail(c, 403, { error: 'forbidden', message: 'missing or wrong X-CSRF-Token header' });
    }
    deleteCookie(c, SESSION_COOKIE, { path: '/admin' });
    return c.body(null, 204);
  });

  app.get(
    '/api/maintenance',
    guarded('get', async (c) => c.json(describeStored(await writer.read()))),
  );

  app.put(
    '/api/maintenance',
    guarded('patch', async (c, caller) => {
      if (!(c.req.header('Content-Type') ?? '').toLowerCase().startsWith('application/json')) {
        return fail(c, 415, { error: 'invalid_request', field: 'body', message: 'body: send JSON with Content-Type: application/json' });
      }
      const text = await c.req.text();
      const update = validateUpdate(text);
      if (!update.ok) return fail(c, 400, update.error);

      const change = toConfigChange(update.value, caller.identity.user);
      // Validate the whole resulting snapshot before writing, so an invalid config is never stored.
      const current = await writer.read();
      const result = parseConfig(applyChange(current.data, change.data));
      if (!result.ok) return fail(c, 400, configErrorToApiError(result.issues));

      const written = await writer.write(change);
      log.info(
        { actor: caller.identity.user, enabled: update.value.enabled, reason: update.value.reason, target: writer.target, version: written.version },
        'maintenance toggled',
      );
      return c.json(describeStored(written));
    }),
  );

  app.notFound((c) => fail(c, 404, { error: 'not_found', message: `no admin route ${c.req.method} ${c.req.path}` }));
  return app;
}
