import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';

describe('systemClock', () => {
  it('waits for a timer past 24.8 days instead of firing it at once, as a bare setTimeout does', async () => {
    let fired = 0;
    const cancelFar = systemClock.setTimer(() => fired++, 2 ** 31 + 60_000);
    const cancelFarther = systemClock.setTimer(() => fired++, 30 * 86_400_000);
    // A timer due now, set after them, fires first: the far ones are really far.
    await new Promise<void>((resolve) => systemClock.setTimer(resolve, 0));
    await new Promise((resolve) => setImmediate(resolve));
    expect(fired).toBe(0);
    cancelFar();
    cancelFarther();
  });
});
