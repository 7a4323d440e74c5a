import type { V1ConfigMap, ListWatch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiMessage, apiStatus, kubernetes } from '../k8s/client.ts';
import type { ConfigStore } from './store.ts';

export type ApiConnection = 'connecting' | 'watching' | 'backing_off' | 'stopped';

const BACKOFF_START_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
/** client-node reconnects a quiet watch about every 30 s; three missed rounds means it is stuck. */
const WATCHDOG_SILENCE_MS = 90_000;
const WATCHDOG_INTERVAL_MS = 15_000;

export interface ApiSourceOptions {
  namespace: string;
  name: string;
  watchdogSilenceMs?: number;
  watchdogIntervalMs?: number;
}

/**
 * Follows one ConfigMap through the API: list and watch with a field selector on its name,
 * so a Role limited by `resourceNames` is enough. client-node relists by itself on 410 Gone;
 * on any other error its informer stays stopped, so this restarts it with capped backoff,
 * and a watchdog restarts a watch that has gone silent.
 */
export class ApiSource {
  readonly name = 'api' as const;
  readonly #store: ConfigStore;
  readonly #log: Logger;
  readonly #options: Required<ApiSourceOptions>;
  #informer: ListWatch<V1ConfigMap> | null = null;
  #connection: ApiConnection = 'connecting';
  #resourceVersion: string | null = null;
  #lastActivity = Date.now();
  #lastError: string | null = null;
  #backoffMs = 0;
  #restartTimer: NodeJS.Timeout | null = null;
  #watchdog: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(options: ApiSourceOptions, store: ConfigStore, log: Logger) {
    this.#options = { watchdogSilenceMs: WATCHDOG_SILENCE_MS, watchdogIntervalMs: WATCHDOG_INTERVAL_MS, ...options };
    this.#store = store;
    this.#log = log.child({ source: 'api', namespace: options.namespace, configMap: options.name });
  }

  async start(): Promise<void> {
    const { core, watch, lib } = await kubernetes();
    const { namespace, name } = this.#options;
    const fieldSelector = `metadata.name=${name}`;
    const informer = new lib.ListWatch<V1ConfigMap>(
      `/api/v1/namespaces/${namespace}/configmaps`,
      watch,
      () => core.listNamespacedConfigMap({ namespace, fieldSelector }),
      false,
      undefined,
      fieldSelector,
    );
    informer.on('add', (configMap) => this.#apply(configMap));
    informer.on('update', (configMap) => this.#apply(configMap));
    informer.on('delete', (configMap) => {
      this.#seen(configMap);
      const message = `ConfigMap ${namespace}/${name} was deleted; keeping the last good state until it is created again`;
      this.#log.error(message);
      this.#store.reportError(message);
    });
    informer.on('connect', () => {
      this.#lastActivity = Date.now();
      if (this.#connection !== 'watching') this.#log.info('watching');
      this.#connection = 'watching';
    });
    informer.on('error', (error) => this.#failed(error));
    this.#informer = informer;
    this.#watchdog = setInterval(() => this.#checkSilence(), this.#options.watchdogIntervalMs);
    this.#watchdog.unref();
    this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#connection = 'stopped';
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    if (this.#watchdog) clearInterval(this.#watchdog);
    await this.#informer?.stop();
  }

  status() {
    const { namespace, name } = this.#options;
    return {
      api: {
        namespace,
        name,
        connection: this.#connection,
        found: this.#informer?.get(name, namespace) !== undefined,
        resourceVersion: this.#resourceVersion,
        lastError: this.#lastError,
      },
    };
  }

  #run(): void {
    if (this.#stopped || this.#informer === null) return;
    this.#connection = 'connecting';
    this.#lastActivity = Date.now();
    this.#informer.start().catch((error: unknown) => this.#failed(error));
  }

  #apply(configMap: V1ConfigMap): void {
    this.#seen(configMap);
    this.#backoffMs = 0;
    this.#lastError = null;
    this.#store.apply(configMap.data ?? {});
  }

  #seen(configMap: V1ConfigMap): void {
    this.#lastActivity = Date.now();
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
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    // Jitter, so many pods that lost the API server at once do not return in lockstep.
    const jittered = delayMs * (0.8 + Math.random() * 0.4);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      void this.#informer?.stop().then(() => this.#run());
    }, jittered);
    this.#restartTimer.unref();
  }

  #checkSilence(): void {
    if (this.#connection !== 'watching') return;
    const silentFor = Date.now() - this.#lastActivity;
    if (silentFor < this.#options.watchdogSilenceMs) return;
    this.#log.warn({ silentForMs: silentFor }, 'ConfigMap watch went silent; restarting it');
    this.#connection = 'connecting';
    this.#scheduleRestart(0);
  }
}
