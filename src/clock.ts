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
