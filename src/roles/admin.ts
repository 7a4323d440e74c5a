import type { Env } from '../env.ts';
import { join } from 'node:path';
import { BYPASS_KEY_NAME, BYPASS_MIN_KEY_BYTES, type BypassKey } from '../config/bypass-key.ts';
import type { FleetWatch } from '../fleet/fleet-watch.ts';
import { FleetTracker } from '../fleet/tracker.ts';
import type { Context } from 'hono';
import { noAdminHere, notReady, READY, type Surface } from '../http/app.ts';
import { liveState, type LiveState } from '../http/admin/live.ts';
import type { Admin, AdminSettings } from '../http/admin/setup.ts';
import { fleetMetrics } from '../http/metrics.ts';
import { fleetWatchFor, type Core } from './core.ts';
import { onStop, part } from './parts.ts';
import type { RoleSetup } from './role.ts';

/**
 * The admin role serves the panel and its API at /admin, and stays Ready whatever the switch
 * says, so the panel can always be reached to turn maintenance off. In a cluster it follows
 * the user Service's EndpointSlices, to show the fleet following the switch.
 */
export const admin: RoleSetup = async (core) => {
  const watch = await fleetWatchFor(core);
  const tracker = watch ? fleetTracker(core, watch) : null;
  // Loaded by the admin role only: user pods do not carry the panel's code in memory.
  const { createAdmin } = await import('../http/admin/setup.ts');
  const panel = await createAdmin(
    adminSettings(core.env, core.bypassKey, liveState(core.state, tracker?.tracker ?? null, core.store)),
    core.log,
    core.metrics.registry,
  );
  return {
    parts: [...(watch && tracker ? [tracker.follow, watch] : []), onStop(() => panel.close())],
    surface: adminSurface({ admin: panel }),
  };
};

export function adminSurface({ admin }: { admin?: Admin }): Surface {
  return {
    readiness: () => (admin?.problem() ? notReady('admin_unavailable') : READY),
    ...(admin ? { status: () => ({ adminProblem: admin.problem() }) } : {}),
    routes(app) {
      // The panel is the admin pod's only page: in an incident, whoever port-forwards to it and
      // opens / must land there, never on a page that says the application is serving.
      const toPanel = (c: Context) => c.redirect('/admin', 302);
      app.get('/', toPanel);
      app.get('/admin/', toPanel);
      if (admin) app.route('/admin', admin.app);
      else noAdminHere(app);
      app.notFound((c) =>
        c.json({ error: 'not_found', message: `the admin role serves its panel at /admin, not ${c.req.path.slice(0, 200)}` }, 404),
      );
    },
  };
}

/** The fleet beside the effective state; `follow` feeds it from the switch and the watch, so it starts before the watch. */
function fleetTracker(core: Core, watch: FleetWatch) {
  const observeConvergence = fleetMetrics(core.metrics.registry, () => tracker.view);
  const tracker: FleetTracker = new FleetTracker({
    clock: core.clock,
    status: () => watch.status,
    synced: () => watch.synced,
    onConverged: observeConvergence,
    warnAfterSeconds: core.env.FLEET_WARN_SECONDS,
  });
  const unsubscribe: (() => void)[] = [];
  const follow = part(
    () => {
      tracker.setActive(core.state.current.active);
      unsubscribe.push(core.state.onChange((view) => tracker.setActive(view.active)));
      unsubscribe.push(watch.onChange((endpoints) => tracker.setEndpoints(endpoints)));
    },
    () => {
      for (const done of unsubscribe.splice(0)) done();
    },
  );
  return { tracker, follow };
}

function adminSettings(env: Env, bypassKey: BypassKey, live: LiveState): AdminSettings {
  return {
    auth: env.ADMIN_AUTH === 'token' ? { mode: 'token', file: env.ADMIN_TOKEN_FILE! } : { mode: env.ADMIN_AUTH },
    writer: env.CONFIG_WRITER === 'directory' ? { to: 'directory', dir: env.CONFIG_DIR } : { to: 'configmap' },
    namespace: env.POD_NAMESPACE,
    configMapName: env.CONFIGMAP_NAME,
    podName: env.POD_NAME,
    trustedProxyCidrs: env.TRUSTED_PROXY_CIDRS,
    trustedProxyHeader: env.TRUSTED_PROXY_HEADER,
    maxBodyBytes: env.ADMIN_MAX_BODY_BYTES,
    authAttemptsPerMinute: env.ADMIN_AUTH_ATTEMPTS_PER_MINUTE,
    bypassLinks: {
      key: () => bypassKey.current,
      problem: () => (bypassKey.status.state === 'loaded' ? null : bypassKey.status.problem),
      enable:
        env.CONFIG_WRITER === 'directory'
          ? `write a random key of ${BYPASS_MIN_KEY_BYTES} bytes or more to ${join(bypassKey.dir, BYPASS_KEY_NAME)}, such as: openssl rand -base64 32 > ${join(bypassKey.dir, BYPASS_KEY_NAME)}`
          : `kubectl create secret generic ${env.BYPASS_KEY_SECRET} -n ${env.POD_NAMESPACE} --from-literal=key="$(openssl rand -base64 32)"`,
      ...(env.PUBLIC_URL ? { publicUrl: env.PUBLIC_URL } : {}),
    },
    live,
  };
}
