import { effectiveMode } from '../maintenance/policy.ts';
import type { ServingStatus } from '../fleet/serving.ts';
import type { HoldStatus } from '../fleet/hold.ts';
import type { Hono } from 'hono';
import { getPath } from 'hono/utils/url';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { labelledCounter } from './counters.ts';
import type { FleetView } from '../fleet/tracker.ts';
import type { MaintenanceState } from '../maintenance/state.ts';
import { RequestDurations } from './request-durations.ts';

export type FetchHandler = Hono['fetch'];

export interface Metrics {
  registry: Registry;
  /**
   * Wraps the app's fetch to time every request. It sits at the adapter boundary, not in a
   * Hono middleware, because any async middleware takes every request off Hono's synchronous
   * fast path, which costs more than all the rest of this service's per-request work.
   */
  instrument(app: Hono): FetchHandler;
  close(): void;
}

export function createMetrics(state: MaintenanceState): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'maintenance_active',
    help: '1 while maintenance is in effect (switch on or inside the window), else 0',
    registers: [registry],
    collect() {
      this.set(state.current.active ? 1 : 0);
    },
  });
  new Gauge({
    name: 'maintenance_mode',
    help: 'What is in effect: 1 for the current mode (off, on, read-only), 0 for the others',
    labelNames: ['mode'] as const,
    registers: [registry],
    collect() {
      const now = effectiveMode(state.current);
      for (const mode of ['off', 'on', 'read-only'] as const) this.set({ mode }, mode === now ? 1 : 0);
    },
  });
  const reloads = labelledCounter(registry, {
    name: 'config_reloads_total',
    help: 'Config snapshots applied (success) or rejected, keeping the last good state (error)',
    label: 'result',
    values: ['success', 'error'],
  });
  const lastReload = new Gauge({
    name: 'config_last_reload_timestamp_seconds',
    help: 'Unix time of the last successfully applied config snapshot',
    registers: [registry],
  });
  new Gauge({
    name: 'config_last_reload_success',
    help: '1 if the latest config snapshot or source event was good, 0 if the last good state is kept despite an error',
    registers: [registry],
    collect() {
      this.set(state.loadStatus.lastError === null ? 1 : 0);
    },
  });
  const unsubscribe = state.onConfig((event) => {
    if (event.type === 'applied') {
      reloads.inc({ result: 'success' });
      lastReload.set(Date.now() / 1000);
    } else {
      reloads.inc({ result: 'error' });
    }
  });

  const durations = new RequestDurations(registry);
  const instrument = (app: Hono): FetchHandler => {
    // Only exact registered paths become label values; anything else is 'other', so
    // arbitrary request paths can never blow up the number of series.
    const routes = new Set(app.routes.map((route) => route.path).filter((path) => !/[*:]/.test(path)));
    const observe = (request: Request, response: Response, started: number) => {
      const path = getPath(request);
      durations.record(request.method, routes.has(path) ? path : 'other', response.status, (performance.now() - started) / 1000);
      return response;
    };
    // Named parameters, not `...rest`: a rest array would be one more allocation per request.
    return (request, env, executionContext) => {
      const started = performance.now();
      const response = app.fetch(request, env, executionContext);
      return response instanceof Promise
        ? response.then((resolved) => observe(request, resolved, started))
        : observe(request, response, started);
    };
  };

  return { registry, instrument, close: unsubscribe };
}

/**
 * The fleet's metrics on the admin role: its endpoints by state, and how long it took to follow
 * each flip. Returns the function that records one convergence.
 */
export function fleetMetrics(registry: Registry, view: () => FleetView): (seconds: number) => void {
  new Gauge({
    name: 'maintenance_fleet_endpoints',
    help: 'Endpoints of the user Service by state (serving, not_serving, terminating), from its EndpointSlices',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const { serving, notServing, terminating } = view();
      this.set({ state: 'serving' }, serving);
      this.set({ state: 'not_serving' }, notServing);
      this.set({ state: 'terminating' }, terminating);
    },
  });
  const convergence = new Histogram({
    name: 'maintenance_convergence_seconds',
    help: 'From a flip of the effective state to every user endpoint matching it',
    buckets: [0.5, 1, 2, 3, 5, 10, 20, 30, 60, 90, 120, 180, 300],
    registers: [registry],
  });
  return (seconds) => convergence.observe(seconds);
}

/** The nudge: pods nudged and retried, refusals, and whether the policy guards it (1) or not (0). */
export function nudgeMetrics(registry: Registry, guarded: () => boolean) {
  const nudges = new Counter({
    name: 'maintenance_nudges_total',
    help: 'Nudges of pods that mount the switch, by result (sent; refused by the API server; failed otherwise)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const retries = new Counter({
    name: 'maintenance_nudge_retries_total',
    help: 'Pods nudged again because they had not followed the switch yet',
    registers: [registry],
  });
  new Gauge({
    name: 'maintenance_nudge_guarded',
    help: '1 while the nudge policy is seen to refuse any other pod change by the admin (so it nudges), else 0',
    registers: [registry],
    collect() {
      this.set(guarded() ? 1 : 0);
    },
  });
  return {
    sent: () => nudges.inc({ result: 'sent' }),
    refused: () => nudges.inc({ result: 'refused' }),
    failed: () => nudges.inc({ result: 'failed' }),
    retried: (count: number) => retries.inc(count),
  };
}

/** The sidecar-free mode: the serving conditions the admin writes, and the pods still waiting for one. */
export function servingMetrics(registry: Registry, status: () => ServingStatus) {
  const writes = new Counter({
    name: 'maintenance_serving_writes_total',
    help: 'Writes of the condition maintenance-switch.dev/serving to pods, by result (written; conflict: the pod changed, written again from its newer version; refused by the API server; failed otherwise)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'maintenance_serving_pods_waiting',
    help: 'Pods that carry the readiness gate maintenance-switch.dev/serving but no condition yet (not Ready until the admin writes it)',
    registers: [registry],
    collect() {
      this.set(status().waiting.length);
    },
  });
  return {
    written: () => writes.inc({ result: 'written' }),
    conflict: () => writes.inc({ result: 'conflict' }),
    refused: () => writes.inc({ result: 'refused' }),
    failed: () => writes.inc({ result: 'failed' }),
  };
}

/** The autoscaling hold: how many of the app's autoscalers are held now, and the holds put back after a re-apply. */
export function holdMetrics(registry: Registry, status: () => HoldStatus) {
  new Gauge({
    name: 'maintenance_autoscaling_held',
    help: "The app's autoscalers (HPAs, KEDA ScaledObjects) held at their replicas while maintenance is on",
    registers: [registry],
    collect() {
      this.set(status().held.length);
    },
  });
  new Gauge({
    name: 'maintenance_autoscaling_hold_problems',
    help: 'Autoscalers the hold could not hold or release at its last look (1 for a listing that failed)',
    registers: [registry],
    collect() {
      this.set(status().problems.length);
    },
  });
  new Gauge({
    name: 'maintenance_autoscaling_hold_guarded',
    help: "1 while the cluster part's hold policy is seen to refuse any other autoscaler change by the admin, else 0",
    registers: [registry],
    collect() {
      this.set(status().guard.state === 'guarded' ? 1 : 0);
    },
  });
}
