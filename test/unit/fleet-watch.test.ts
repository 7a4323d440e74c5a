import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { SliceLike } from '../../src/fleet/fleet.ts';
import { FleetWatch } from '../../src/fleet/fleet-watch.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { FakeInformer } from '../helpers/fake-informer.ts';

const endpoint = (pod: string, conditions: { ready?: boolean | null; terminating?: boolean }, address = `10.0.0.${pod.length}`) => ({
  addresses: [address],
  conditions,
  targetRef: { kind: 'Pod', name: pod },
});
const slice = (name: string, ...endpoints: SliceLike['endpoints'] & object): SliceLike => ({ metadata: { name }, endpoints });

describe('FleetWatch', () => {
  it('reports whole lists, keeps the last known endpoints when the watch fails, and restarts with a doubling delay', async () => {
    const clock = new FakeClock(0);
    const informer = new FakeInformer<SliceLike>([
      [slice('a', endpoint('user-1', { ready: true }), endpoint('user-2', { ready: true }))],
      'fail',
      [slice('a', endpoint('user-1', { ready: false }))],
    ]);
    const watch = new FleetWatch(
      { service: 'sample-app-user', clock, random: () => 0.5, informer: () => informer },
      pino({ level: 'silent' }),
    );
    const reports: string[][] = [];
    watch.onChange((endpoints) => reports.push(endpoints.map((e) => `${e.pod}:${e.state}`)));
    await watch.start();
    // One report for the whole first list, not one per slice.
    expect(reports).toEqual([['user-1:serving', 'user-2:serving']]);
    expect(watch.status).toEqual({ service: 'sample-app-user', connection: 'watching', lastError: null });

    informer.emit('error', new Error('watch closed: 500'));
    expect(watch.status).toMatchObject({ connection: 'backing_off', lastError: 'watch closed: 500' });
    expect(watch.endpoints).toHaveLength(2);
    const restarts = () => clock.requestedDelays.filter((delay) => delay !== 15_000);
    expect(restarts()).toEqual([1000]);
    clock.advanceTo(1000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(informer.starts).toBe(2);
    expect(restarts()).toEqual([1000, 2000]);
    clock.advanceTo(3000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(informer.starts).toBe(3);
    expect(reports.at(-1)).toEqual(['user-1:not_serving']);
    expect(watch.status.connection).toBe('watching');
    await watch.stop();
  });

  it('reports the first whole list even when it is empty: none is then known, not assumed', async () => {
    const informer = new FakeInformer<SliceLike>([[]]);
    const watch = new FleetWatch(
      { service: 'shop-maintenance-pods', clock: new FakeClock(0), informer: () => informer },
      pino({ level: 'silent' }),
    );
    const reports: number[] = [];
    watch.onChange((endpoints) => reports.push(endpoints.length));
    await watch.start();
    expect(reports).toEqual([0]);
    await watch.stop();
  });
});
