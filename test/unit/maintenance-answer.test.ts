import { describe, expect, it } from 'vitest';
import { reloadAfterSeconds } from '../../src/http/maintenance-answer.ts';

describe('reloadAfterSeconds', () => {
  it('is never before Retry-After, and spreads over a fifth of it more', () => {
    expect(reloadAfterSeconds(300, () => 0)).toBe(300);
    expect(reloadAfterSeconds(300, () => 0.5)).toBe(330);
    expect(reloadAfterSeconds(300, () => 0.999_999)).toBe(359);
    // A short Retry-After still spreads over at least a second.
    expect(reloadAfterSeconds(1, () => 0.999_999)).toBe(1);
    expect(reloadAfterSeconds(7, () => 0.999_999)).toBe(8);
  });

  it('spreads a crowd across the whole range', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 16_807) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    const reloads = new Set(Array.from({ length: 2_000 }, () => reloadAfterSeconds(300, random)));
    expect(Math.min(...reloads)).toBe(300);
    expect(Math.max(...reloads)).toBe(359);
    expect(reloads.size).toBe(60);
  });
});
