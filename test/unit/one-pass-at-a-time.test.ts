import { describe, expect, it } from 'vitest';
import { OnePassAtATime } from '../../src/one-pass-at-a-time.ts';

describe('OnePassAtATime', () => {
  it('runs one pass at a time, and any number of calls during a pass make exactly one more', async () => {
    let passes = 0;
    let inFlight = 0;
    let most = 0;
    let release: () => void = () => {};
    const runner = new OnePassAtATime(async () => {
      passes++;
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      inFlight--;
    });
    const first = runner.run();
    const calls = [runner.run(), runner.run(), runner.run()];
    expect(runner.running).toBe(first);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    release();
    await Promise.all([first, ...calls]);
    expect(passes).toBe(2);
    expect(most).toBe(1);
    expect(runner.running).toBeNull();
  });

  it('runs once more when the pass itself asks for it (a write met a newer version)', async () => {
    let passes = 0;
    const runner = new OnePassAtATime(async () => {
      passes++;
      if (passes === 1) runner.again();
    });
    await runner.run();
    expect(passes).toBe(2);
  });
});
