import type { V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ConfigMapInformer, ConfigMapRef } from '../k8s/configmaps.ts';
import { SupervisedWatch } from '../k8s/supervised-watch.ts';
import type { Clock } from '../clock.ts';
import { Observers, type ConfigSource, type SourceObserver, type SourceStatus } from './source.ts';

export interface ApiSourceOptions extends ConfigMapRef {
  /** The informer for the ConfigMap; called once, at construction. */
  informer: () => ConfigMapInformer;
  clock: Clock;
  /** [0, 1), for the restart jitter. */
  random?: () => number;
  watchdogSilenceMs?: number;
  watchdogIntervalMs?: number;
}

/**
 * Follows one ConfigMap through the API, through a supervised watch (restarts with back-off,
 * a watchdog). `start()` resolves once the first list has reached the observers, or the first
 * attempt has failed, as the volume source's resolves after its first read.
 */
export class ApiSource implements ConfigSource {
  readonly name = 'api' as const;
  readonly #observers = new Observers();
  readonly #ref: ConfigMapRef;
  readonly #watch: SupervisedWatch<V1ConfigMap>;
  #found = false;
  #resourceVersion: string | null = null;

  constructor(options: ApiSourceOptions, log: Logger) {
    this.#ref = { namespace: options.namespace, name: options.name };
    const child = log.child({ source: 'api', namespace: options.namespace, configMap: options.name });
    const what = `ConfigMap ${options.namespace}/${options.name}`;
    const apply = (configMap: V1ConfigMap) => {
      this.#seen(configMap);
      this.#found = true;
      this.#observers.emit({ type: 'payload', data: configMap.data ?? {} });
    };
    this.#watch = new SupervisedWatch(
      { ...options, what, informer: options.informer() },
      {
        add: apply,
        update: apply,
        delete: (configMap) => {
          this.#seen(configMap);
          this.#found = false;
          const message = `${what} was deleted; keeping the last good state until it is created again`;
          child.error(message);
          this.#observers.emit({ type: 'problem', error: message });
        },
      },
      child,
    );
  }

  observe(observer: SourceObserver): () => void {
    return this.#observers.add(observer);
  }

  start(): Promise<void> {
    return this.#watch.start();
  }

  stop(): Promise<void> {
    return this.#watch.stop();
  }

  status(): SourceStatus {
    return {
      source: 'api',
      api: { ...this.#ref, ...this.#watch.status, found: this.#found, resourceVersion: this.#resourceVersion },
    };
  }

  #seen(configMap: V1ConfigMap): void {
    this.#resourceVersion = configMap.metadata?.resourceVersion ?? this.#resourceVersion;
  }
}
