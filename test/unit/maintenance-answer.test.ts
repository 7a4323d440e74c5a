import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MESSAGE } from '../../src/config/parse.ts';
import { maintenanceResponse, reloadAfterSeconds } from '../../src/http/maintenance-answer.ts';

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

describe('maintenanceResponse', () => {
  const answer = (accept: string) => {
    const app = new Hono();
    app.get('*', (c) => maintenanceResponse(c, null, Date.parse('2026-12-07T00:00:00Z'), null));
    return app.request('/', { headers: { Accept: accept } });
  };

  it('answers the default page, asking for a minute, while no config is known yet (a gate still starting)', async () => {
    const page = await answer('text/html');
    expect(page.status).toBe(503);
    expect(page.headers.get('Retry-After')).toBe('60');
    expect(page.headers.get('Content-Security-Policy')).not.toBeNull();
    expect(await page.text()).toContain(DEFAULT_MESSAGE);
    const json = await answer('application/json');
    expect(await json.json()).toEqual({ status: 'maintenance', message: DEFAULT_MESSAGE, retryAfterSeconds: 60 });
  });
});
