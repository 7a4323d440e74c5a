import { Hono } from 'hono';
import type { Logger } from 'pino';
import { updateConfig, type ConfigWriter, type StoredConfig } from '../../../config/writer.ts';
import type { AdminEnv, Guards } from '../guards.ts';
import type { LiveState } from '../live.ts';
import { describeStored, toConfigChange, updateSchema } from '../requests.ts';

/** The stored config with what users get now and how far the fleet follows it: the API's one view. */
export function describeAll(stored: StoredConfig, live: LiveState | undefined) {
  return { ...describeStored(stored), effective: live?.effective() ?? null, fleet: live?.fleet() ?? null };
}

/** Read the switch, and toggle it (with the version read, so a stale write is refused). */
export function maintenanceRoutes(deps: { writer: ConfigWriter; guards: Guards; live?: LiveState; log: Logger }): Hono<AdminEnv> {
  const { writer, guards, live, log } = deps;
  return new Hono<AdminEnv>()
    .get('/', guards.identify, guards.authorize('get'), async (c) => c.json(describeAll(await writer.read(), live)))
    .put('/', guards.identify, guards.sameOrigin, guards.csrf, guards.authorize('patch'), guards.jsonBody(updateSchema), async (c) => {
      const update = c.req.valid('json');
      const { identity } = c.get('caller');
      const written = await updateConfig(writer, toConfigChange(update, identity.user));
      log.info(
        { actor: identity.user, enabled: update.enabled, reason: update.reason, target: writer.target, version: written.version },
        'maintenance toggled',
      );
      return c.json(describeAll(written, live));
    });
}
