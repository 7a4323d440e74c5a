import type { HoldStatus } from '../../fleet/hold.ts';
import type { NudgeStatus } from '../../fleet/nudge.ts';
import type { ServingStatus } from '../../fleet/serving.ts';
import type { MaintenanceConfig } from '../../config/parse.ts';
import type { MaintenanceState } from '../../maintenance/state.ts';
import { effectiveMode, type MaintenanceCause } from '../../maintenance/policy.ts';
import type { FleetTracker, FleetView } from '../../fleet/tracker.ts';

export interface EffectiveState {
  /** Whether users are in maintenance right now: the switch, or inside the window. */
  active: boolean;
  /** Whether read-only is in effect right now: reads pass, writes get the page. */
  readOnly: boolean;
  mode: 'off' | 'on' | 'read-only';
  cause: MaintenanceCause | null;
  /** The next window edge, when the state will change by itself. */
  nextChangeAt: string | null;
}

/** What the admin tier shows live: the effective state and, in a cluster, the fleet following it. */
export interface LiveState {
  effective(): EffectiveState;
  /** The config this pod applies now: the last good one, which the user pods keep too when the stored one is rejected. */
  applied(): MaintenanceConfig | null;
  fleet(): FleetView | null;
  /** Whether pods are nudged after a change, and those that did not follow; null where nothing nudges. */
  nudge(): NudgeStatus | null;
  /** The sidecar-free mode's serving conditions; null in the sidecar mode. */
  serving(): ServingStatus | null;
  /** Whether the app's autoscalers are held while maintenance is on; null where nothing holds them. */
  autoscaling(): HoldStatus | null;
  /** Called whenever either changes, saying which: the stored config need only be read again for `state`. */
  onChange(listener: (what: 'state' | 'fleet') => void): () => void;
}

/**
 * The live view from this pod's own state and fleet tracker: a rejected config is news too,
 * since the stored config the panel shows changed although the state did not.
 */
export function liveState(
  state: MaintenanceState,
  tracker: FleetTracker | null,
  extras: {
    nudge?: () => NudgeStatus | null;
    serving?: () => ServingStatus | null;
    autoscaling?: { status: () => HoldStatus; onChange: (listener: () => void) => () => void } | null;
  } = {},
): LiveState {
  return {
    effective: () => {
      const view = state.current;
      return {
        active: view.active,
        readOnly: view.readOnly,
        mode: effectiveMode(view),
        cause: view.cause,
        nextChangeAt: view.nextChangeAt === null ? null : new Date(view.nextChangeAt).toISOString(),
      };
    },
    applied: () => state.current.config,
    fleet: () => tracker?.view ?? null,
    nudge: extras.nudge ?? (() => null),
    serving: extras.serving ?? (() => null),
    autoscaling: () => extras.autoscaling?.status() ?? null,
    onChange: (listener) => {
      const unsubscribeState = state.onChange(() => listener('state'));
      const unsubscribeRejected = state.onConfig((event) => {
        if (event.type !== 'applied') listener('state');
      });
      const unsubscribeFleet = tracker?.onChange(() => listener('fleet'));
      const unsubscribeHold = extras.autoscaling?.onChange(() => listener('fleet'));
      return () => {
        unsubscribeState();
        unsubscribeRejected();
        unsubscribeFleet?.();
        unsubscribeHold?.();
      };
    },
  };
}
