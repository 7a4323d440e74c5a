import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { SessionView } from '../api-types.ts';
import type { CachedAuth } from '../auth.ts';
import { fail, RateLimitedError } from '../errors.ts';
import type { RateLimiter } from '../rate-limit.ts';
import { SESSION_COOKIE, type AdminEnv, type Guards } from '../guards.ts';
import { SESSION_SECONDS, type SessionStore } from '../sessions.ts';

const signIn = z.strictObject({
  token: z.string({ error: 'a non-empty string is required' }).trim().min(1, 'a non-empty string is required'),
});

/** The panel trades a bearer token for a short-lived session cookie with a CSRF token. */
export function sessionRoutes(deps: {
  auth: CachedAuth;
  sessions: SessionStore;
  /** Sign-ins per identity: each opens a session, and a loop of them would churn the store. */
  signIns: RateLimiter;
  guards: Guards;
  target: string;
  log: Logger;
}): Hono<AdminEnv> {
  const { auth, sessions, signIns, guards, log } = deps;
  return new Hono<AdminEnv>()
    .get('/', async (c) => {
      const session = sessions.find(getCookie(c, SESSION_COOKIE));
      if (session !== null) return c.json({ user: session.identity.user, csrfToken: session.csrf, mode: auth.mode } satisfies SessionView);
      if (auth.mode === 'none') return c.json({ user: 'local', csrfToken: null, mode: auth.mode } satisfies SessionView);
      return fail(c, 401, { error: 'unauthorized', message: 'not signed in' });
    })
    .post('/', guards.sameOrigin, guards.jsonBody(signIn), async (c) => {
      const { token } = c.req.valid('json');
      const identity = await guards.authenticate(c, token);
      if (identity === null) return fail(c, 401, { error: 'unauthorized', message: 'the token was not accepted' });
      if (!(await auth.authorize(identity, 'get'))) {
        return fail(c, 403, { error: 'forbidden', message: `${identity.user} may not read ${deps.target}` });
      }
      const allowed = signIns.take(identity.user);
      if (!allowed.ok) throw new RateLimitedError('sign_ins', allowed.retryAfterSeconds);
      const session = sessions.open(token, identity);
      setCookie(c, SESSION_COOKIE, session.id, {
        path: '/admin',
        httpOnly: true,
        sameSite: 'Strict',
        secure: new URL(c.req.url).protocol === 'https:' || guards.forwarded(c, 'X-Forwarded-Proto') === 'https',
        maxAge: SESSION_SECONDS,
      });
      log.info({ actor: identity.user }, 'admin signed in');
      return c.json({ user: identity.user, csrfToken: session.csrf, mode: auth.mode } satisfies SessionView);
    })
    .delete('/', async (c) => {
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
}
