import { FallbackReadiness } from '../fleet/fallback.ts';
import type { MaintenanceState } from '../maintenance/state.ts';
import type { Bypass } from '../http/bypass.ts';
import { bypassLanding, maintenancePageEverywhere, noAdminHere, notReady, READY, type Surface } from '../http/app.ts';
import { bypassFor, fleetWatchFor } from './core.ts';
import { subscriptions } from './parts.ts';
import type { RoleSetup } from './role.ts';

/**
 * The page role answers the 503 page on every path, and is in the Service exactly while no
 * user pod serves the application, which it reads from the user Service's EndpointSlices.
 */
export const page: RoleSetup = async (core) => {
  const watch = await fleetWatchFor(core);
  // With readiness gates, no gate answers on your pods: a Ready pod serves your app.
  const readinessGates = core.env.GATE_MODE === 'readiness-gate';
  const fallback = watch
    ? new FallbackReadiness({
        clock: core.clock,
        endpoints: () => watch.endpoints,
        synced: () => watch.synced,
        ...(readinessGates ? { probe: async () => null } : {}),
        ...(core.env.FLEET_STATUS_PORT !== undefined ? { statusPort: core.env.FLEET_STATUS_PORT } : {}),
      })
    : undefined;
  return {
    parts: watch && fallback ? [subscriptions(() => [watch.onChange(() => void fallback.poll())]), watch, fallback] : [],
    surface: pageSurface({
      state: core.state,
      bypass: bypassFor(core),
      readyInMaintenance: readinessGates,
      ...(fallback ? { fallback } : {}),
    }),
  };
};

/**
 * `readyInMaintenance`: Ready whenever the switch says maintenance (read-only included, which it
 * holds as maintenance), whatever the fleet: with readiness gates the admin takes your pods out
 * of the public Service only once this tier is in it.
 */
export function pageSurface(deps: {
  state: MaintenanceState;
  bypass?: Bypass;
  fallback?: FallbackReadiness;
  readyInMaintenance?: boolean;
}): Surface {
  const { state, fallback } = deps;
  const surface: Surface = {
    // Without the EndpointSlices (not listed yet, or no API access), the switch decides.
    readiness() {
      if (deps.readyInMaintenance && state.current.active) return READY;
      if (fallback?.view.synced) return fallback.ready ? READY : notReady('users_serving');
      if (state.current.config === null) return notReady('starting');
      return state.current.active ? READY : notReady('not_in_maintenance');
    },
    ...(fallback ? { status: () => ({ fleet: fallback.view }) } : {}),
    routes(app) {
      // Out of the Service (the app serves), only a proxy's stale rule or a client's kept-alive
      // connection still brings a request here: each such connection is closed after its answer,
      // so the client's next request connects again and reaches the app, not this page.
      app.use('*', async (c, next) => {
        await next();
        if (!surface.readiness().ready) c.header('Connection', 'close');
      });
      noAdminHere(app);
      if (deps.bypass) bypassLanding(app, deps.bypass);
      maintenancePageEverywhere(app, state);
    },
  };
  return surface;
}
