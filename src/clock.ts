/** Time, injected wherever logic waits or compares times, so tests can drive it. */
export interface Clock {
  now(): number;
  /**
   * Calls back once after the delay, or after MAX_TIMER_DELAY_MS when it is longer (the caller
   * then finds it is not yet time, and waits again); the returned function cancels it. Never
   * keeps the process alive.
   */
  setTimer(callback: () => void, delayMs: number): () => void;
}

/** The longest delay Node's timers take; past it (24.8 days) a timer fires at once, so a far delay is cut to it. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, delayMs) {
    // Whoever asked looks again when it fires and finds it is not yet time: early, never at once.
    const timer = setTimeout(callback, Math.min(Math.max(0, delayMs), MAX_TIMER_DELAY_MS));
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/**
 * Runs `task` now, and again `intervalMs` after each run has finished (a task that returns a
 * promise is waited for, so runs never overlap); the returned function stops it.
 */
export function repeatEvery(clock: Clock, intervalMs: number, task: () => void | Promise<void>): () => void {
  let stopped = false;
  let cancel: (() => void) | null = null;
  const run = () => {
    if (stopped) return;
    void Promise.resolve(task()).finally(() => {
      if (!stopped) cancel = clock.setTimer(run, intervalMs);
    });
  };
  run();
  return () => {
    stopped = true;
    cancel?.();
  };
}
