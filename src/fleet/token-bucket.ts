import type { Clock } from '../clock.ts';

/** A token bucket, as client-go's: a burst of `qps` requests at once, then `qps` a second. */
export class TokenBucket {
  readonly #clock: Clock;
  readonly #qps: number;
  #tokens: number;
  #refilledAt: number;

  constructor(clock: Clock, qps: number) {
    this.#clock = clock;
    this.#qps = qps;
    this.#tokens = qps;
    this.#refilledAt = clock.now();
  }

  /** Resolves when the next request may go. */
  take(): Promise<void> {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#qps, this.#tokens + ((now - this.#refilledAt) * this.#qps) / 1000);
    this.#refilledAt = now;
    this.#tokens -= 1;
    if (this.#tokens >= 0) return Promise.resolve();
    const wait = (-this.#tokens * 1000) / this.#qps;
    return new Promise((resolve) => {
      this.#clock.setTimer(resolve, wait);
    });
  }
}
