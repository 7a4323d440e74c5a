import { existsSync } from 'node:fs';
import { hasKubernetesCredentials } from '../k8s/client.ts';
import type { WatchStatus } from '../k8s/supervised-watch.ts';
import type { RawConfig } from './parse.ts';

export type SourceName = 'volume' | 'api';

/** What a source tells its observers: a whole payload, or a problem that keeps the last good state. */
export type SourceEvent = { type: 'payload'; data: RawConfig } | { type: 'problem'; error: string };
export type SourceObserver = (event: SourceEvent) => void;

export interface VolumeStatus {
  watch: 'waiting' | 'watching';
  /** Why it is waiting, while it is. */
  waitingFor: string | null;
}

export interface ApiStatus extends WatchStatus {
  namespace: string;
  name: string;
  found: boolean;
  resourceVersion: string | null;
}

/** A source's own state, as /status shows it. */
export type SourceStatus = { source: 'volume'; volume: VolumeStatus } | { source: 'api'; api: ApiStatus };

/**
 * Where the config comes from. A source watches one place and tells its observers each whole
 * payload it reads there; it keeps no config of its own, and knows nothing of who listens.
 */
export interface ConfigSource {
  readonly name: SourceName;
  observe(observer: SourceObserver): () => void;
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): SourceStatus;
}

/** The observers of one source; each source owns one. */
export class Observers {
  readonly #observers = new Set<SourceObserver>();
  #hasPayload = false;

  add(observer: SourceObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /** Whether a payload was ever emitted: a problem after one means a last good state is kept. */
  get hasPayload(): boolean {
    return this.#hasPayload;
  }

  emit(event: SourceEvent): void {
    if (event.type === 'payload') this.#hasPayload = true;
    for (const observer of this.#observers) observer(event);
  }
}

/**
 * `auto` follows the mounted volume when CONFIG_DIR exists, and the API otherwise. With no
 * credentials either, it waits for the directory, not-ready, saying so: that is a local run
 * whose directory has not been written yet.
 */
export function chooseSource(
  env: { CONFIG_SOURCE: 'auto' | SourceName; CONFIG_DIR: string },
  credentials = hasKubernetesCredentials(),
): SourceName {
  if (env.CONFIG_SOURCE !== 'auto') return env.CONFIG_SOURCE;
  return existsSync(env.CONFIG_DIR) || !credentials ? 'volume' : 'api';
}
