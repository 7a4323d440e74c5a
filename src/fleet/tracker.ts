import type { Clock } from '../clock.ts';
import { countByState, isConverged, laggingPods, ungatedPods, ungatedProblem, type EndpointState, type FleetEndpoint } from './fleet.ts';
import type { FleetWatchStatus } from './fleet-watch.ts';

export interface FleetPod {
  name: string;
  state: EndpointState;
  /** When the pod entered this state, as far as this process has seen (ISO 8601). */
  since: string;
}

/** The `fleet` object of the admin API and stream. */
export interface FleetView {
  service: string;
  /** False until the EndpointSlices were listed once; counts are then unknown, not zero. */
  synced: boolean;
  watch: FleetWatchStatus;
  serving: number;
  notServing: number;
  terminating: number;
  pods: FleetPod[];
  /** Every user endpoint matches the effective state. */
  converged: boolean;
  /** Pods that keep it from converging. */
  lagging: string[];
  /** The last flip of the effective state, as this process saw it. */
  changedAt: string | null;
  /** When the fleet matched it after that flip; null while it does not yet. */
  convergedAt: string | null;
  convergenceSeconds: number | null;
  /** After this long without converging, the panel warns (FLEET_WARN_SECONDS). */
  warnAfterSeconds: number;
  /** Pods behind the Service that carry no gate, and what to do; empty and null while unknown. */
  ungated: string[];
  gateProblem: string | null;
}

/** The pods whose endpoint is out of service, as the view shows them; none without a view. */
export function podsNotServing(view: FleetView | undefined): string[] {
  return (view?.pods ?? []).filter((pod) => pod.state === 'not_serving').map((pod) => pod.name);
}

/**
 * Puts the effective state and the fleet side by side: whether every user endpoint matches,
 * since when each pod is in its state, and how long the fleet took to follow the last flip
 * (reported once per flip to `onConverged`, for the histogram).
 */
export class FleetTracker {
  readonly #clock: Clock;
  readonly #status: () => FleetWatchStatus;
  readonly #synced: () => boolean;
  readonly #onConverged: (seconds: number) => void;
  readonly #warnAfterSeconds: number;
  readonly #listeners = new Set<() => void>();
  #active: boolean | null = null;
  #endpoints: readonly FleetEndpoint[] = [];
  /** The pods that mount the switch; null while not known. */
  #gated: readonly FleetEndpoint[] | null = null;
  #since = new Map<string, { state: EndpointState; at: number }>();
  #changedAt: number | null = null;
  #convergedAt: number | null = null;

  constructor(options: {
    clock: Clock;
    status: () => FleetWatchStatus;
    synced: () => boolean;
    onConverged: (seconds: number) => void;
    warnAfterSeconds?: number;
  }) {
    this.#clock = options.clock;
    this.#warnAfterSeconds = options.warnAfterSeconds ?? 120;
    this.#status = options.status;
    this.#synced = options.synced;
    this.#onConverged = options.onConverged;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The effective maintenance state (switch or window), whenever it is known or flips. */
  setActive(active: boolean): void {
    if (active === this.#active) return;
    const first = this.#active === null;
    this.#active = active;
    if (!first) {
      this.#changedAt = this.#clock.now();
      this.#convergedAt = null;
    }
    this.#update();
  }

  setEndpoints(endpoints: readonly FleetEndpoint[]): void {
    const now = this.#clock.now();
    const since = new Map<string, { state: EndpointState; at: number }>();
    for (const endpoint of endpoints) {
      const previous = this.#since.get(endpoint.pod);
      since.set(endpoint.pod, previous?.state === endpoint.state ? previous : { state: endpoint.state, at: now });
    }
    this.#since = since;
    this.#endpoints = endpoints;
    this.#update();
  }

  /** The pods that mount the switch (the EndpointSlices of `<app>-maintenance-pods`), once listed. */
  setGated(endpoints: readonly FleetEndpoint[]): void {
    this.#gated = endpoints;
    this.#update();
  }

  get view(): FleetView {
    const active = this.#active ?? false;
    const converged = this.#isConverged();
    const convergedAt = this.#convergedAt;
    const changedAt = this.#changedAt;
    const ungated = this.#gated === null || !this.#synced() ? [] : ungatedPods(this.#endpoints, this.#gated);
    return {
      service: this.#status().service,
      synced: this.#synced(),
      watch: this.#status(),
      ...countByState(this.#endpoints),
      pods: this.#endpoints.map((endpoint) => ({
        name: endpoint.pod,
        state: endpoint.state,
        since: new Date(this.#since.get(endpoint.pod)?.at ?? this.#clock.now()).toISOString(),
      })),
      converged,
      lagging: laggingPods(active, this.#endpoints),
      changedAt: changedAt === null ? null : new Date(changedAt).toISOString(),
      convergedAt: convergedAt === null ? null : new Date(convergedAt).toISOString(),
      convergenceSeconds: convergedAt !== null && changedAt !== null ? Math.round(convergedAt - changedAt) / 1000 : null,
      warnAfterSeconds: this.#warnAfterSeconds,
      ungated,
      gateProblem: ungatedProblem(this.#status().service, this.#endpoints.filter((endpoint) => endpoint.servicePod).length, ungated),
    };
  }

  #isConverged(): boolean {
    return this.#active !== null && this.#synced() && isConverged(this.#active, this.#endpoints);
  }

  #update(): void {
    if (this.#changedAt !== null && this.#convergedAt === null && this.#isConverged()) {
      this.#convergedAt = this.#clock.now();
      this.#onConverged((this.#convergedAt - this.#changedAt) / 1000);
    }
    for (const listener of this.#listeners) listener();
  }
}
