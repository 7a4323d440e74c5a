import { Hono } from 'hono';
import type { Logger } from 'pino';
import { updateConfig, type ConfigWriter, type StoredConfig } from '../../../config/writer.ts';
import type { AdminEnv, Guards } from '../guards.ts';
import type { LiveState } from '../live.ts';
import { bypassLinksView, type BypassLinkSettings } from '../bypass-links.ts';
import { describeStored, toConfigChange, updateSchema } from '../requests.ts';
import type { MaintenanceView } from '../api-types.ts';

/** What the view is made of besides the stored config. */
export interface ViewSources {
  live?: LiveState;
  bypassLinks?: BypassLinkSettings;
}

/** The stored config with what users get now, how far the fleet follows it, and whether links can be made: the API's one view. */
export function describeAll(stored: StoredConfig, { live, bypassLinks }: ViewSources): MaintenanceView {
  return {
    ...describeStored(stored, live?.applied() ?? null),
    effective: live?.effective() ?? null,
    fleet: live?.fleet() ?? null,
    nudge: live?.nudge() ?? null,
    serving: live?.serving() ?? null,
    autoscaling: live?.autoscaling() ?? null,
    bypassLinks: bypassLinksView(bypassLinks),
  };
}

/** Read the switch, and toggle it (with the version read, so a stale write is refused). */
export function maintenanceRoutes(deps: { writer: ConfigWriter; guards: Guards; view: ViewSources; log: Logger }): Hono<AdminEnv> {
  const { writer, guards, view, log } = deps;
  return new Hono<AdminEnv>()
    .get('/', guards.identify, guards.authorize('get'), async (c) => c.json(describeAll(await writer.read(), view)))
    .put('/', guards.identify, guards.sameOrigin, guards.csrf, guards.authorize('patch'), guards.jsonBody(updateSchema), async (c) => {
      const update = c.req.valid('json');
      const { identity } = c.get('caller');
      const written = await updateConfig(writer, toConfigChange(update, identity.user));
      log.info(
        {
          actor: identity.user,
          mode: update.mode ?? (update.enabled === undefined ? 'unchanged' : update.enabled ? 'on' : 'off'),
          reason: update.reason,
          target: writer.target,
          version: written.version,
        },
        'maintenance toggled',
      );
      return c.json(describeAll(written, view));
    });
}
