import { MAX_TIMER_DELAY_MS, type Clock } from '../../src/clock.ts';

/** A clock whose time only moves when the test says so; timers fire as time passes them. */
export class FakeClock implements Clock {
  #now: number;
  #timers: { at: number; callback: () => void; id: number }[] = [];
  #nextId = 0;
  readonly requestedDelays: number[] = [];

  constructor(start: number | string) {
    this.#now = typeof start === 'string' ? Date.parse(start) : start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(callback: () => void, requestedMs: number): () => void {
    const id = this.#nextId++;
    // As the system clock: a delay past what Node's timers take is cut to it.
    const delayMs = Math.min(Math.max(0, requestedMs), MAX_TIMER_DELAY_MS);
    this.requestedDelays.push(delayMs);
    this.#timers.push({ at: this.#now + delayMs, callback, id });
    return () => {
      this.#timers = this.#timers.filter((timer) => timer.id !== id);
    };
  }

  get pendingTimers(): number {
    return this.#timers.length;
  }

  advanceTo(time: number | string): void {
    const target = typeof time === 'string' ? Date.parse(time) : time;
    for (;;) {
      const due = this.#timers.filter((timer) => timer.at <= target).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((timer) => timer !== due);
      this.#now = due.at;
      due.callback();
    }
    this.#now = target;
  }
}
