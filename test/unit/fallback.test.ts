import { describe, expect, it } from 'vitest';
import type { FleetEndpoint } from '../../src/fleet/fleet.ts';
import { FallbackReadiness } from '../../src/fleet/fallback.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

describe('FallbackReadiness', () => {
  it('counts a serving endpoint as serving the application until its pod says it is in maintenance, and asks the status port', async () => {
    const asked: string[] = [];
    const inMaintenance = new Map<string, boolean | null>([
      ['10.0.0.1', false],
      ['10.0.0.2', false],
    ]);
    let endpoints: FleetEndpoint[] = [
      { pod: 'a', address: '10.0.0.1', port: 8080, state: 'serving', servicePod: true },
      { pod: 'b', address: '10.0.0.2', port: 8080, state: 'serving', servicePod: true },
      { pod: 'c', address: '10.0.0.3', port: 8080, state: 'not_serving', servicePod: true },
    ];
    const fallback = new FallbackReadiness({
      clock: new FakeClock(0),
      endpoints: () => endpoints,
      synced: () => true,
      statusPort: 9901,
      probe: async (address, port) => {
        asked.push(`${address}:${port}`);
        return inMaintenance.get(address) ?? null;
      },
    });
    await fallback.poll();
    expect(asked).toEqual(['10.0.0.1:9901', '10.0.0.2:9901']);
    expect([fallback.view, fallback.ready]).toEqual([{ serving: 2, servingApp: 2, synced: true }, false]);
    inMaintenance.set('10.0.0.1', true);
    await fallback.poll();
    expect(fallback.view.servingApp).toBe(1);
    // A pod that does not answer is taken at its readiness: still serving.
    inMaintenance.set('10.0.0.2', null);
    await fallback.poll();
    expect(fallback.ready).toBe(false);
    inMaintenance.set('10.0.0.2', true);
    await fallback.poll();
    expect([fallback.view, fallback.ready]).toEqual([{ serving: 2, servingApp: 0, synced: true }, true]);
    endpoints = [];
    expect(fallback.ready).toBe(true);
  });
});
