/** Time, injected wherever logic waits or compares times, so tests can drive it. */
export interface Clock {
  now(): number;
  /** Calls back once after the delay; the returned function cancels it. Never keeps the process alive. */
  setTimer(callback: () => void, delayMs: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
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
