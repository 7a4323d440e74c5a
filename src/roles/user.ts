import type { MaintenanceState } from '../maintenance/state.ts';
import type { Bypass } from '../http/bypass.ts';
import {
  bypassLanding,
  demoApplication,
  holdDuringMaintenance,
  noAdminHere,
  notReady,
  READY,
  type Readiness,
  type Surface,
} from '../http/app.ts';
import { bypassFor } from './core.ts';
import type { RoleSetup } from './role.ts';

/**
 * The user role serves the application (here, the demo page) and holds it during maintenance,
 * answering the 503 page; it leaves the Service while maintenance lasts, after the grace.
 */
export const user: RoleSetup = async (core) => ({
  parts: [],
  surface: userSurface({
    state: core.state,
    podName: core.env.POD_NAME,
    bypass: bypassFor(core),
    readyGraceMs: core.env.MAINTENANCE_READY_GRACE_SECONDS * 1000,
    graphqlMaxBytes: core.env.GRAPHQL_MAX_BODY_BYTES,
  }),
});

export interface UserSurfaceDeps {
  state: MaintenanceState;
  podName: string;
  bypass?: Bypass;
  readyGraceMs?: number;
  graphqlMaxBytes?: number;
}

export function userSurface(deps: UserSurfaceDeps): Surface {
  return {
    readiness: () => followsTheSwitch(deps.state, deps.readyGraceMs ?? 0),
    routes(app) {
      noAdminHere(app);
      if (deps.bypass) bypassLanding(app, deps.bypass);
      demoApplication(app, {
        podName: deps.podName,
        role: 'user',
        hold: holdDuringMaintenance(deps.state, deps.bypass, deps.graphqlMaxBytes),
      });
    },
  };
}

/**
 * The readiness of a pod that serves the application (user, gate): not before a config, and
 * not during maintenance once the grace is over. For the grace it stays Ready, already
 * answering the 503 page, so a page tier joins the Service first.
 */
export function followsTheSwitch(state: MaintenanceState, graceMs: number): Readiness {
  if (state.current.config === null) return notReady('starting');
  if (!state.current.active) return READY;
  const since = state.activeSince;
  const inGrace = since !== null && state.clock.now() - since < graceMs;
  return inGrace ? READY : notReady('maintenance');
}
