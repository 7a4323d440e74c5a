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
  const fallback = watch
    ? new FallbackReadiness({
        clock: core.clock,
        endpoints: () => watch.endpoints,
        synced: () => watch.synced,
        ...(core.env.FLEET_STATUS_PORT !== undefined ? { statusPort: core.env.FLEET_STATUS_PORT } : {}),
      })
    : undefined;
  return {
    parts: watch && fallback ? [subscriptions(() => [watch.onChange(() => void fallback.poll())]), watch, fallback] : [],
    surface: pageSurface({ state: core.state, bypass: bypassFor(core), ...(fallback ? { fallback } : {}) }),
  };
};

export function pageSurface(deps: { state: MaintenanceState; bypass?: Bypass; fallback?: FallbackReadiness }): Surface {
  const { state, fallback } = deps;
  return {
    // Without the EndpointSlices (not listed yet, or no API access), the switch decides.
    readiness() {
      if (fallback?.view.synced) return fallback.ready ? READY : notReady('users_serving');
      if (state.current.config === null) return notReady('starting');
      return state.current.active ? READY : notReady('not_in_maintenance');
    },
    ...(fallback ? { status: () => ({ fleet: fallback.view }) } : {}),
    routes(app) {
      noAdminHere(app);
      if (deps.bypass) bypassLanding(app, deps.bypass);
      maintenancePageEverywhere(app, state);
    },
  };
}
