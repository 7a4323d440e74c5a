import type { V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiMessage, apiStatus } from '../k8s/client.ts';
import type { ConfigMapInformer, ConfigMapRef } from '../k8s/configmaps.ts';
import type { Clock } from '../clock.ts';
import { Observers, type ApiStatus, type ConfigSource, type SourceObserver, type SourceStatus } from './source.ts';

export const BACKOFF_START_MS = 1_000;
export const BACKOFF_MAX_MS = 30_000;
/** client-node reconnects a quiet watch about every 30 s; three missed rounds means it is stuck. */
const WATCHDOG_SILENCE_MS = 90_000;
const WATCHDOG_INTERVAL_MS = 15_000;

export interface ApiSourceOptions extends ConfigMapRef {
  /** A new informer for the ConfigMap; called once, at start. */
  informer: () => ConfigMapInformer;
  clock: Clock;
  /** [0, 1), for the restart jitter. */
  random?: () => number;
  watchdogSilenceMs?: number;
  watchdogIntervalMs?: number;
}

/**
 * Follows one ConfigMap through the API with an informer. On an error the informer stays
 * stopped, so this restarts it with capped, jittered exponential backoff; a watchdog restarts
 * a watch that has gone silent. Its own stops (a restart, shutdown) are never failures.
 */
export class ApiSource implements ConfigSource {
  readonly name = 'api' as const;
  readonly #observers = new Observers();
  readonly #log: Logger;
  readonly #ref: ConfigMapRef;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #makeInformer: () => ConfigMapInformer;
  readonly #silenceMs: number;
  readonly #intervalMs: number;
  #informer: ConfigMapInformer | null = null;
  #connection: ApiStatus['connection'] = 'connecting';
  #found = false;
  #resourceVersion: string | null = null;
  #lastActivity: number;
  #lastError: string | null = null;
  #backoffMs = 0;
  #cancelRestart: (() => void) | null = null;
  #cancelWatchdog: (() => void) | null = null;
  #stopped = false;

  constructor(options: ApiSourceOptions, log: Logger) {
    this.#ref = { namespace: options.namespace, name: options.name };
    this.#clock = options.clock;
    this.#random = options.random ?? Math.random;
    this.#makeInformer = options.informer;
    this.#silenceMs = options.watchdogSilenceMs ?? WATCHDOG_SILENCE_MS;
    this.#intervalMs = options.watchdogIntervalMs ?? WATCHDOG_INTERVAL_MS;
    this.#lastActivity = this.#clock.now();
    this.#log = log.child({ source: 'api', namespace: options.namespace, configMap: options.name });
  }

  observe(observer: SourceObserver): () => void {
    return this.#observers.add(observer);
  }

  async start(): Promise<void> {
    const informer = this.#makeInformer();
    informer.on('add', (configMap) => this.#apply(configMap));
    informer.on('update', (configMap) => this.#apply(configMap));
    informer.on('delete', (configMap) => {
      this.#seen(configMap);
      this.#found = false;
      const message = `ConfigMap ${this.#ref.namespace}/${this.#ref.name} was deleted; keeping the last good state until it is created again`;
      this.#log.error(message);
      this.#observers.emit({ type: 'problem', error: message });
    });
    informer.on('connect', () => {
      this.#lastActivity = this.#clock.now();
      if (this.#connection !== 'watching') this.#log.info('watching');
      this.#connection = 'watching';
    });
    informer.on('error', (error) => this.#failed(error));
    this.#informer = informer;
    this.#scheduleWatchdog();
    this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#connection = 'stopped';
    this.#cancelRestart?.();
    this.#cancelWatchdog?.();
    await this.#informer?.stop();
  }

  status(): SourceStatus {
    return {
      source: 'api',
      api: {
        ...this.#ref,
        connection: this.#connection,
        found: this.#found,
        resourceVersion: this.#resourceVersion,
        lastError: this.#lastError,
      },
    };
  }

  #run(): void {
    if (this.#stopped || this.#informer === null) return;
    this.#connection = 'connecting';
    this.#lastActivity = this.#clock.now();
    this.#informer.start().catch((error: unknown) => this.#failed(error));
  }

  #apply(configMap: V1ConfigMap): void {
    this.#seen(configMap);
    this.#found = true;
    this.#backoffMs = 0;
    this.#lastError = null;
    this.#observers.emit({ type: 'payload', data: configMap.data ?? {} });
  }

  #seen(configMap: V1ConfigMap): void {
    this.#lastActivity = this.#clock.now();
    this.#connection = 'watching';
    this.#resourceVersion = configMap.metadata?.resourceVersion ?? this.#resourceVersion;
  }

  #failed(error: unknown): void {
    // Stopping the informer (on a restart or shutdown) aborts its request, and client-node
    // reports that abort as an error like any other: it is ours, not a failure.
    if (this.#stopped || (error instanceof Error && error.name === 'AbortError')) return;
    const status = apiStatus(error);
    this.#lastError = `${status ? `HTTP ${status}: ` : ''}${apiMessage(error)}`;
    this.#backoffMs = Math.min(this.#backoffMs === 0 ? BACKOFF_START_MS : this.#backoffMs * 2, BACKOFF_MAX_MS);
    this.#connection = 'backing_off';
    this.#log.error({ error: this.#lastError, retryInMs: this.#backoffMs }, 'ConfigMap watch failed; restarting');
    this.#scheduleRestart(this.#backoffMs);
  }

  #scheduleRestart(delayMs: number): void {
    this.#cancelRestart?.();
    // Jitter of ±20%, so many pods that lost the API server at once do not return in lockstep.
    const jittered = delayMs * (0.8 + this.#random() * 0.4);
    this.#cancelRestart = this.#clock.setTimer(() => {
      this.#cancelRestart = null;
      void this.#informer?.stop().then(() => this.#run());
    }, jittered);
  }

  #scheduleWatchdog(): void {
    this.#cancelWatchdog = this.#clock.setTimer(() => {
      this.#checkSilence();
      if (!this.#stopped) this.#scheduleWatchdog();
    }, this.#intervalMs);
  }

  #checkSilence(): void {
    if (this.#connection !== 'watching') return;
    const silentFor = this.#clock.now() - this.#lastActivity;
    if (silentFor < this.#silenceMs) return;
    this.#log.warn({ silentForMs: silentFor }, 'ConfigMap watch went silent; restarting it');
    this.#connection = 'connecting';
    this.#scheduleRestart(0);
  }
}
