import type { MaintenanceState } from '../../maintenance/state.ts';
import type { MaintenanceCause } from '../../maintenance/policy.ts';
import type { FleetTracker, FleetView } from '../../fleet/tracker.ts';

export interface EffectiveState {
  /** Whether users are in maintenance right now: the switch, or inside the window. */
  active: boolean;
  cause: MaintenanceCause | null;
  /** The next window edge, when the state will change by itself. */
  nextChangeAt: string | null;
}

/** What the admin tier shows live: the effective state and, in a cluster, the fleet following it. */
export interface LiveState {
  effective(): EffectiveState;
  fleet(): FleetView | null;
  /** Called whenever either changes, saying which: the stored config need only be read again for `state`. */
  onChange(listener: (what: 'state' | 'fleet') => void): () => void;
}

export function liveState(state: MaintenanceState, tracker: FleetTracker | null): LiveState {
  return {
    effective: () => {
      const view = state.current;
      return {
        active: view.active,
        cause: view.cause,
        nextChangeAt: view.nextChangeAt === null ? null : new Date(view.nextChangeAt).toISOString(),
      };
    },
    fleet: () => tracker?.view ?? null,
    onChange: (listener) => {
      const unsubscribeState = state.onChange(() => listener('state'));
      const unsubscribeFleet = tracker?.onChange(() => listener('fleet'));
      return () => {
        unsubscribeState();
        unsubscribeFleet?.();
      };
    },
  };
}
