import type { Logger } from 'pino';
import { SupervisedWatch, type SupervisedWatchOptions, type WatchStatus } from './supervised-watch.ts';

/**
 * The objects a supervised watch follows, by name, each kept as `view` reads it. Its listeners
 * hear of every change once the first list is whole: until then a partial list is not news.
 */
export class WatchedObjects<T extends { metadata?: { name?: string } }, V = T> {
  readonly #objects = new Map<string, V>();
  readonly #listeners = new Set<() => void>();
  readonly #watch: SupervisedWatch<T>;

  constructor(options: SupervisedWatchOptions<T>, view: (object: T) => V, log: Logger) {
    const put = (object: T) => {
      this.#objects.set(object.metadata?.name ?? '', view(object));
      this.#publish();
    };
    this.#watch = new SupervisedWatch<T>(
      options,
      {
        add: put,
        update: put,
        delete: (object) => {
          this.#objects.delete(object.metadata?.name ?? '');
          this.#publish();
        },
        listed: () => this.#publish(),
      },
      log,
    );
  }

  get objects(): readonly V[] {
    return [...this.#objects.values()];
  }

  /** Whether the objects were listed at least once: before that, "none" means "not known yet". */
  get synced(): boolean {
    return this.#watch.synced;
  }

  get status(): WatchStatus {
    return this.#watch.status;
  }

  onChange(listener: () => void): () => void {
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
    if (!this.#watch.synced) return;
    for (const listener of this.#listeners) listener();
  }
}
