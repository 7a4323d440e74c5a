import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { EndpointSliceInformer } from '../k8s/endpointslices.ts';
import { SupervisedWatch, type WatchStatus } from '../k8s/supervised-watch.ts';
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
  readonly #slices = new Map<string, SliceLike>();
  readonly #watch: SupervisedWatch<SliceLike>;
  #endpoints: FleetEndpoint[] = [];
  #published = false;

  constructor(options: FleetWatchOptions, log: Logger) {
    this.service = options.service;
    const put = (slice: SliceLike) => {
      this.#slices.set(slice.metadata?.name ?? '', slice);
      this.#publish();
    };
    this.#watch = new SupervisedWatch<SliceLike>(
      { ...options, what: `the EndpointSlices of Service ${options.service}`, informer: options.informer() },
      {
        add: put,
        update: put,
        delete: (slice) => {
          this.#slices.delete(slice.metadata?.name ?? '');
          this.#publish();
        },
        listed: () => this.#publish(),
      },
      log.child({ fleet: options.service }),
    );
  }

  get endpoints(): readonly FleetEndpoint[] {
    return this.#endpoints;
  }

  /** Whether the endpoints were listed at least once: before that, "no endpoint" means "not known yet". */
  get synced(): boolean {
    return this.#watch.synced;
  }

  get status(): FleetWatchStatus {
    return { service: this.service, ...this.#watch.status };
  }

  onChange(listener: (endpoints: FleetEndpoint[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): Promise<void> {
    return this.#watch.start();
  }

  stop(): Promise<void> {
    return this.#watch.stop();
  }

  #publish(): void {
    // Until the first list is whole, a partial one is not news.
    if (!this.#watch.synced) return;
    const next = endpointsFromSlices(this.#slices.values());
    // The first whole list is news even when empty: "none" is then known, not assumed.
    if (this.#published && JSON.stringify(next) === JSON.stringify(this.#endpoints)) return;
    this.#published = true;
    this.#endpoints = next;
    for (const listener of this.#listeners) listener(next);
  }
}
