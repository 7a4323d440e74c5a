import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { EndpointSliceInformer } from '../k8s/endpointslices.ts';
import type { WatchStatus } from '../k8s/supervised-watch.ts';
import { WatchedObjects } from '../k8s/watched-objects.ts';
import { endpointsFromSlices, type FleetEndpoint, type SliceLike } from './fleet.ts';

export interface FleetWatchStatus extends WatchStatus {
  service: string;
}

export interface FleetWatchOptions {
  service: string;
  /** The informer for the Service's EndpointSlices; called once, at construction. */
  informer: () => EndpointSliceInformer;
  clock: Clock;
  /** [0, 1), for the restart jitter. */
  random?: () => number;
}

/**
 * Follows the EndpointSlices of the user Service, through a supervised watch, and reports its
 * endpoints whenever they change: the first list as one whole, never slice by slice. While
 * the watch is down the last known endpoints stand, and the status says so. `start()`
 * resolves once the first list is known, or the first attempt has failed.
 */
export class FleetWatch {
  readonly service: string;
  readonly #listeners = new Set<(endpoints: FleetEndpoint[]) => void>();
  readonly #slices: WatchedObjects<SliceLike>;
  #endpoints: FleetEndpoint[] = [];
  #published = false;

  constructor(options: FleetWatchOptions, log: Logger) {
    this.service = options.service;
    this.#slices = new WatchedObjects<SliceLike>(
      { ...options, what: `the EndpointSlices of Service ${options.service}`, informer: options.informer() },
      (slice) => slice,
      log.child({ fleet: options.service }),
    );
    this.#slices.onChange(() => this.#publish());
  }

  get endpoints(): readonly FleetEndpoint[] {
    return this.#endpoints;
  }

  /** Whether the endpoints were listed at least once: before that, "no endpoint" means "not known yet". */
  get synced(): boolean {
    return this.#slices.synced;
  }

  get status(): FleetWatchStatus {
    return { service: this.service, ...this.#slices.status };
  }

  onChange(listener: (endpoints: FleetEndpoint[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): Promise<void> {
    return this.#slices.start();
  }

  stop(): Promise<void> {
    return this.#slices.stop();
  }

  /** Called once the first list is whole, and after every change from then on. */
  #publish(): void {
    const next = endpointsFromSlices(this.#slices.objects);
    // The first whole list is news even when empty: "none" is then known, not assumed.
    if (this.#published && JSON.stringify(next) === JSON.stringify(this.#endpoints)) return;
    this.#published = true;
    this.#endpoints = next;
    for (const listener of this.#listeners) listener(next);
  }
}
