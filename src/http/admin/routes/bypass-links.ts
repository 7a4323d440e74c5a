import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import type { ConfigWriter } from '../../../config/writer.ts';
import { signBypassToken } from '../../../maintenance/bypass-token.ts';
import { BYPASS_PATH } from '../../bypass.ts';
import type { BypassLinkView } from '../api-types.ts';
import { fail } from '../errors.ts';
import type { AdminEnv, Guards } from '../guards.ts';
import { bypassLinkSchema } from '../requests.ts';
import { bypassLinksView, type BypassLinkSettings } from '../bypass-links.ts';

/** Signed links past maintenance; each is an Event on the ConfigMap first: no record, no link. */
export function bypassLinkRoutes(deps: {
  writer: ConfigWriter;
  guards: Guards;
  settings?: BypassLinkSettings;
  now: () => number;
  log: Logger;
}): Hono<AdminEnv> {
  const { writer, guards, settings, now, log } = deps;
  return new Hono<AdminEnv>().post(
    '/',
    guards.identify,
    guards.sameOrigin,
    guards.csrf,
    guards.authorize('patch'),
    guards.jsonBody(bypassLinkSchema),
    async (c) => {
      const { reason, expiresInSeconds } = c.req.valid('json');
      const { identity } = c.get('caller');
      const key = settings?.key() ?? null;
      if (key === null) {
        const { problem, enable } = bypassLinksView(settings);
        return fail(c, 503, { error: 'unavailable', message: `${problem}. To enable them: ${enable}` });
      }
      const id = randomBytes(8).toString('base64url');
      const expiresAt = new Date(Math.floor((now() + expiresInSeconds * 1000) / 1000) * 1000);
      const token = signBypassToken(key, expiresAt.getTime(), id);
      await writer.audit?.({
        action: 'CreateBypassLink',
        reason: 'BypassLinkCreated',
        actor: identity.user,
        note: `${identity.user} created bypass link ${id}, valid until ${expiresAt.toISOString()}: ${reason}`,
      });
      log.info({ actor: identity.user, reason, linkId: id, expiresAt: expiresAt.toISOString() }, 'bypass link created');
      const path = `${BYPASS_PATH}?token=${token}`;
      const url = settings?.publicUrl ? new URL(path, settings.publicUrl).href : behindProxy(c, guards, path);
      return c.json({ id, expiresAt: expiresAt.toISOString(), path, url, reason } satisfies BypassLinkView, 201);
    },
  );
}

/**
 * The link on the host a trusted proxy says the request came to, or null. Only a trusted
 * proxy's X-Forwarded-Host names where users reach the application; the admin's own Host does
 * not (locally, the panel is on another port than the application).
 */
function behindProxy(c: Context, guards: Guards, path: string): string | null {
  const host = guards.forwarded(c, 'X-Forwarded-Host');
  if (host === undefined || !/^[a-z0-9.-]+(:\d+)?$/i.test(host)) return null;
  const proto = guards.forwarded(c, 'X-Forwarded-Proto') === 'http' ? 'http' : 'https';
  return new URL(path, `${proto}://${host}`).href;
}
