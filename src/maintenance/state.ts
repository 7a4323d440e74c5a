import { systemClock, type Clock } from '../clock.ts';
import type { ConfigStore, StoreEvent, StoreSnapshot } from '../config/store.ts';
import type { MaintenanceConfig } from '../config/parse.ts';
import { decide, type Decision } from './policy.ts';

export interface MaintenanceView extends Decision {
  config: MaintenanceConfig | null;
  /**
   * The switch asks for read-only, which this pod cannot enforce (a gate that only answers
   * readiness: user traffic does not pass through it), so it holds maintenance on instead:
   * users get the page, never unguarded writes.
   */
  failedClosed: boolean;
}

/** Whether this pod sees every request of the app (it can enforce read-only), or fails closed. */
export type ReadOnlyEnforcement = 'enforced' | 'fail-closed';

/** How loading the config stands: the last good load, and the last rejection that kept the last good state. */
export type LoadStatus = Omit<StoreSnapshot, 'config'>;

/**
 * The effective decision, kept current: recomputed when the store applies a new config
 * and, from a timer, at each window edge, so a window opens and closes on time
 * rather than on the next request. The one reader of the store: everything else reads this.
 */
export class MaintenanceState {
  readonly clock: Clock;
  readonly #store: ConfigStore;
  readonly #readOnlyEnforcement: ReadOnlyEnforcement;
  #view: MaintenanceView = { config: null, active: false, readOnly: false, cause: null, nextChangeAt: null, failedClosed: false };
  #activeSince: number | null = null;
  #cancelTimer: (() => void) | null = null;
  readonly #listeners = new Set<(view: MaintenanceView, previous: MaintenanceView) => void>();
  readonly #unsubscribe: () => void;

  constructor(store: ConfigStore, clock: Clock = systemClock, readOnlyEnforcement: ReadOnlyEnforcement = 'enforced') {
    this.clock = clock;
    this.#readOnlyEnforcement = readOnlyEnforcement;
    this.#store = store;
    this.#unsubscribe = store.subscribe((event) => {
      if (event.type === 'applied') this.#evaluate(event.config);
    });
    if (store.config !== null) this.#evaluate(store.config);
  }

  get current(): Readonly<MaintenanceView> {
    return this.#view;
  }

  /**
   * When maintenance last started while this process was already running (epoch ms); null
   * while it is off, and when it was already on at start-up. The readiness grace counts from it.
   */
  get activeSince(): number | null {
    return this.#activeSince;
  }

  get loadStatus(): Readonly<LoadStatus> {
    const { lastLoadedAt, lastError, lastErrorAt } = this.#store.snapshot;
    return { lastLoadedAt, lastError, lastErrorAt };
  }

  /** Every config applied or rejected, also those that change no decision (a new message, a kept last good state). */
  onConfig(listener: (event: StoreEvent) => void): () => void {
    return this.#store.subscribe(listener);
  }

  onChange(listener: (view: MaintenanceView, previous: MaintenanceView) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#unsubscribe();
    this.#cancelTimer?.();
    this.#cancelTimer = null;
  }

  #evaluate(config: MaintenanceConfig): void {
    const previous = this.#view;
    const decided = decide(config, this.clock.now());
    const failedClosed = decided.readOnly && this.#readOnlyEnforcement === 'fail-closed';
    const decision = failedClosed ? { ...decided, active: true, readOnly: false } : decided;
    this.#view = { config, ...decision, failedClosed };
    if (decision.active && !previous.active && previous.config !== null) this.#activeSince = this.clock.now();
    else if (!decision.active) this.#activeSince = null;
    this.#schedule(config, decision.nextChangeAt);
    if (
      previous.active !== decision.active ||
      previous.readOnly !== decision.readOnly ||
      previous.cause !== decision.cause ||
      previous.config !== config
    ) {
      for (const listener of this.#listeners) listener(this.#view, previous);
    }
  }

  #schedule(config: MaintenanceConfig, at: number | null): void {
    this.#cancelTimer?.();
    this.#cancelTimer = null;
    if (at === null) return;
    // The clock cuts a delay past 24.8 days to that: longer waits are taken in steps.
    this.#cancelTimer = this.clock.setTimer(() => this.#evaluate(config), at - this.clock.now());
  }
}
