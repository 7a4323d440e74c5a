import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { apiMessage, apiStatus, type Informer } from './client.ts';

const BACKOFF_START_MS = 1_000;
export const BACKOFF_MAX_MS = 30_000;
/** client-node reconnects a quiet watch about every 30 s; three missed rounds means it is stuck. */
const WATCHDOG_SILENCE_MS = 90_000;
const WATCHDOG_INTERVAL_MS = 15_000;

export type WatchConnection = 'connecting' | 'watching' | 'backing_off' | 'stopped';

/** One vocabulary for every watch, as /status and the admin API show it. */
export interface WatchStatus {
  connection: WatchConnection;
  /** The latest failure, with its HTTP status when the API server answered; null after a success. */
  lastError: string | null;
}

export interface WatchHandlers<T> {
  add(object: T): void;
  update(object: T): void;
  delete(object: T): void;
  /** The first list has reached the handlers: what they hold from now on is the whole state. */
  listed?(): void;
}

export interface SupervisedWatchOptions<T> {
  /** What is watched, as the logs' `watch` field: "ConfigMap ns/app-config". */
  what: string;
  /** Started again after each failure; client-node keeps its cache and resource version across a restart. */
  informer: Informer<T>;
  clock: Clock;
  /** [0, 1), for the restart jitter. */
  random?: () => number;
  watchdogSilenceMs?: number;
  watchdogIntervalMs?: number;
}

/**
 * An informer kept running. client-node leaves an informer stopped after any error but a
 * 410 (which it relists by itself), so this starts it again with capped, jittered exponential
 * back-off; a watchdog restarts a watch that has gone silent, which is not a failure. Its own
 * stops (a restart, shutdown) are never failures either.
 *
 * `start()` resolves once the first list has reached the handlers, or the first attempt has
 * failed; either way the watch goes on by itself until `stop()`.
 */
export class SupervisedWatch<T> {
  readonly #options: SupervisedWatchOptions<T>;
  readonly #informer: Informer<T>;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #handlers: WatchHandlers<T>;
  readonly #log: Logger;
  #connection: WatchConnection = 'connecting';
  #lastError: string | null = null;
  #lastActivity: number;
  #backoffMs = 0;
  #synced = false;
  #attemptFailed = false;
  #cancelRestart: (() => void) | null = null;
  #cancelWatchdog: (() => void) | null = null;
  #stopped = false;

  constructor(options: SupervisedWatchOptions<T>, handlers: WatchHandlers<T>, log: Logger) {
    this.#options = options;
    this.#informer = options.informer;
    this.#clock = options.clock;
    this.#random = options.random ?? Math.random;
    this.#handlers = handlers;
    this.#log = log.child({ watch: options.what });
    this.#lastActivity = this.#clock.now();
    const seen = (handle: (object: T) => void) => (object: T) => {
      this.#succeeded();
      handle(object);
    };
    this.#informer.on(
      'add',
      seen((object) => handlers.add(object)),
    );
    this.#informer.on(
      'update',
      seen((object) => handlers.update(object)),
    );
    this.#informer.on(
      'delete',
      seen((object) => handlers.delete(object)),
    );
    // client-node says connect before each list and each watch request, and a quiet watch reconnects.
    this.#informer.on('connect', () => {
      this.#lastActivity = this.#clock.now();
      if (this.#connection !== 'watching') this.#log.info('watching');
      this.#connection = 'watching';
    });
    this.#informer.on('error', (error) => this.#failed(error));
  }

  get status(): WatchStatus {
    return { connection: this.#connection, lastError: this.#lastError };
  }

  /** Whether the first list has reached the handlers: before that, "nothing" means "not known yet". */
  get synced(): boolean {
    return this.#synced;
  }

  async start(): Promise<void> {
    this.#scheduleWatchdog();
    await this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#connection = 'stopped';
    this.#cancelRestart?.();
    this.#cancelWatchdog?.();
    await this.#informer.stop().catch(() => {});
  }

  async #run(): Promise<void> {
    if (this.#stopped) return;
    this.#connection = 'connecting';
    this.#lastActivity = this.#clock.now();
    this.#attemptFailed = false;
    try {
      // Resolves after the list (or a failed one, reported through 'error') and the watch request.
      await this.#informer.start();
    } catch (error) {
      this.#failed(error);
    }
    if (this.#attemptFailed || this.#stopped || this.#synced) return;
    this.#synced = true;
    this.#handlers.listed?.();
  }

  /** An object arrived: the watch works, and the next failure backs off from the start again. */
  #succeeded(): void {
    this.#lastActivity = this.#clock.now();
    this.#connection = 'watching';
    this.#backoffMs = 0;
    this.#lastError = null;
  }

  #failed(error: unknown): void {
    // Stopping the informer (on a restart or shutdown) aborts its request, and client-node
    // reports that abort as an error like any other: it is ours, not a failure.
    if (this.#stopped || (error instanceof Error && error.name === 'AbortError')) return;
    this.#attemptFailed = true;
    const status = apiStatus(error);
    this.#lastError = `${status ? `HTTP ${status}: ` : ''}${apiMessage(error)}`;
    this.#backoffMs = Math.min(this.#backoffMs === 0 ? BACKOFF_START_MS : this.#backoffMs * 2, BACKOFF_MAX_MS);
    this.#connection = 'backing_off';
    this.#log.error({ error: this.#lastError, retryInMs: this.#backoffMs }, 'watch failed; restarting');
    this.#scheduleRestart(this.#backoffMs);
  }

  #scheduleRestart(delayMs: number): void {
    this.#cancelRestart?.();
    // Jitter of ±20%, so many pods that lost the API server at once do not return in lockstep.
    const jittered = delayMs * (0.8 + this.#random() * 0.4);
    this.#cancelRestart = this.#clock.setTimer(() => {
      this.#cancelRestart = null;
      void this.#informer
        .stop()
        .catch(() => {})
        .then(() => this.#run());
    }, jittered);
  }

  #scheduleWatchdog(): void {
    this.#cancelWatchdog = this.#clock.setTimer(() => {
      this.#checkSilence();
      if (!this.#stopped) this.#scheduleWatchdog();
    }, this.#options.watchdogIntervalMs ?? WATCHDOG_INTERVAL_MS);
  }

  #checkSilence(): void {
    if (this.#connection !== 'watching') return;
    const silentFor = this.#clock.now() - this.#lastActivity;
    if (silentFor < (this.#options.watchdogSilenceMs ?? WATCHDOG_SILENCE_MS)) return;
    this.#log.warn({ silentForMs: silentFor }, 'watch went silent; restarting it');
    this.#connection = 'connecting';
    this.#scheduleRestart(0);
  }
}
