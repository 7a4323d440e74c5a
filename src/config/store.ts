import { parseConfig, sameConfig, type MaintenanceConfig, type RawConfig } from './parse.ts';
import type { SourceEvent } from './source.ts';

export type StoreEvent =
  | { type: 'applied'; config: MaintenanceConfig }
  /** `invalid`: the payload failed validation; `source`: the source reported a problem (and logged it). */
  | { type: 'rejected'; cause: 'invalid' | 'source'; error: string; detail: string };

export interface StoreSnapshot {
  /** The last good config, or null before the first valid snapshot. */
  config: MaintenanceConfig | null;
  lastLoadedAt: Date | null;
  lastError: string | null;
  lastErrorAt: Date | null;
}

/**
 * Keeps the last good config. A rejected snapshot, or a problem the source reports,
 * leaves the config in force and is recorded as `lastError` until the next good load.
 */
export class ConfigStore {
  #snapshot: StoreSnapshot = { config: null, lastLoadedAt: null, lastError: null, lastErrorAt: null };
  #lastRaw: RawConfig | null = null;
  readonly #listeners = new Set<(event: StoreEvent) => void>();
  readonly #now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  /** The store as a source's observer: `source.observe(store.observer)`. */
  readonly observer = (event: SourceEvent): void => {
    if (event.type === 'payload') this.apply(event.data);
    else this.reportError(event.error);
  };

  get snapshot(): Readonly<StoreSnapshot> {
    return this.#snapshot;
  }

  get config(): MaintenanceConfig | null {
    return this.#snapshot.config;
  }

  /** Offers a whole payload. Identical consecutive payloads are skipped. */
  apply(raw: RawConfig): 'applied' | 'unchanged' | 'rejected' {
    if (this.#lastRaw !== null && sameConfig(this.#lastRaw, raw)) return 'unchanged';
    this.#lastRaw = { ...raw };
    const result = parseConfig(raw);
    if (!result.ok) {
      this.#reject({ cause: 'invalid', error: result.error, detail: result.detail });
      return 'rejected';
    }
    this.#snapshot = { config: result.config, lastLoadedAt: this.#now(), lastError: null, lastErrorAt: null };
    this.#emit({ type: 'applied', config: result.config });
    return 'applied';
  }

  /** A source-level problem (the ConfigMap was deleted, the directory vanished): keep the last good state. */
  reportError(error: string): void {
    this.#lastRaw = null;
    this.#reject({ cause: 'source', error, detail: error });
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #reject(rejection: Omit<Extract<StoreEvent, { type: 'rejected' }>, 'type'>): void {
    this.#snapshot = { ...this.#snapshot, lastError: rejection.error, lastErrorAt: this.#now() };
    this.#emit({ type: 'rejected', ...rejection });
  }

  #emit(event: StoreEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}
