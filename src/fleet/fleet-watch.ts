import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { EndpointSliceInformer } from '../k8s/endpointslices.ts';
import { apiMessage } from '../k8s/client.ts';
import { endpointsFromSlices, type FleetEndpoint, type SliceLike } from './fleet.ts';

const RESTART_START_MS = 1_000;
const RESTART_MAX_MS = 30_000;

export interface FleetWatchStatus {
  service: string;
  connection: 'connecting' | 'watching' | 'error';
  lastError: string | null;
}

/**
 * Follows the EndpointSlices of the user Service and reports its endpoints whenever they
 * change. An informer stopped by an error is started again after a capped, doubling delay;
 * until then the last known endpoints stand, and the status says the watch is down.
 */
export class FleetWatch {
  readonly service: string;
  readonly #makeInformer: () => EndpointSliceInformer;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #listeners = new Set<(endpoints: FleetEndpoint[]) => void>();
  readonly #slices = new Map<string, SliceLike>();
  #informer: EndpointSliceInformer | null = null;
  #endpoints: FleetEndpoint[] = [];
  #synced = false;
  /** While a (re)list is in progress, partial lists are not reported. */
  #listing = false;
  #status: FleetWatchStatus;
  #delayMs = 0;
  #cancelRestart: (() => void) | null = null;
  #stopped = false;

  constructor(options: { service: string; informer: () => EndpointSliceInformer; clock: Clock }, log: Logger) {
    this.service = options.service;
    this.#makeInformer = options.informer;
    this.#clock = options.clock;
    this.#log = log.child({ fleet: options.service });
    this.#status = { service: options.service, connection: 'connecting', lastError: null };
  }

  get endpoints(): readonly FleetEndpoint[] {
    return this.#endpoints;
  }

  /** Whether the endpoints were listed at least once: before that, "no endpoint" means "not known yet". */
  get synced(): boolean {
    return this.#synced;
  }

  get status(): FleetWatchStatus {
    return this.#status;
  }

  onChange(listener: (endpoints: FleetEndpoint[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async start(): Promise<void> {
    if (this.#stopped) return;
    const informer = this.#makeInformer();
    this.#informer = informer;
    const put = (slice: SliceLike) => {
      this.#slices.set(slice.metadata?.name ?? '', slice);
      this.#publish();
    };
    informer.on('add', put);
    informer.on('update', put);
    informer.on('delete', (slice) => {
      this.#slices.delete(slice.metadata?.name ?? '');
      this.#publish();
    });
    informer.on('connect', () => {
      if (this.#status.connection !== 'watching') this.#log.info('watching the EndpointSlices');
      this.#status = { ...this.#status, connection: 'watching' };
      this.#delayMs = 0;
    });
    informer.on('error', (error) => this.#failed(error));
    this.#slices.clear();
    this.#listing = true;
    try {
      await informer.start();
      this.#synced = true;
    } catch (error) {
      this.#failed(error);
    } finally {
      this.#listing = false;
    }
    if (this.#synced) this.#publish();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelRestart?.();
    await this.#informer?.stop().catch(() => {});
  }

  #publish(): void {
    if (this.#listing) return;
    const next = endpointsFromSlices(this.#slices.values());
    if (JSON.stringify(next) === JSON.stringify(this.#endpoints)) return;
    this.#endpoints = next;
    for (const listener of this.#listeners) listener(next);
  }

  #failed(error: unknown): void {
    if (this.#stopped) return;
    const message = apiMessage(error);
    this.#delayMs = Math.min(this.#delayMs === 0 ? RESTART_START_MS : this.#delayMs * 2, RESTART_MAX_MS);
    this.#status = { ...this.#status, connection: 'error', lastError: message };
    this.#log.warn({ error: message, retryInMs: this.#delayMs }, 'the EndpointSlice watch stopped; keeping the last known endpoints');
    this.#cancelRestart?.();
    this.#cancelRestart = this.#clock.setTimer(() => {
      void this.#informer?.stop().catch(() => {});
      void this.start();
    }, this.#delayMs);
  }
}
