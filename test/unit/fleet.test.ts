import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { endpointsFromSlices, isConverged, laggingPods, type FleetEndpoint, type SliceLike } from '../../src/fleet/fleet.ts';
import { FleetWatch } from '../../src/fleet/fleet-watch.ts';
import { FleetTracker } from '../../src/fleet/tracker.ts';
import type { EndpointSliceInformer } from '../../src/k8s/endpointslices.ts';
import { FallbackReadiness } from '../../src/fleet/fallback.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const endpoint = (pod: string, conditions: { ready?: boolean | null; terminating?: boolean }, address = `10.0.0.${pod.length}`) => ({
  addresses: [address],
  conditions,
  targetRef: { kind: 'Pod', name: pod },
});
const slice = (name: string, ...endpoints: SliceLike['endpoints'] & object): SliceLike => ({ metadata: { name }, endpoints });
const pods = (...states: [string, FleetEndpoint['state']][]): FleetEndpoint[] =>
  states.map(([pod, state]) => ({ pod, address: '', port: null, state, servicePod: true }));

describe('endpointsFromSlices', () => {
  it('reads each endpoint as serving, not serving or terminating, once per pod, across slices', () => {
    const endpoints = endpointsFromSlices([
      slice('a', endpoint('user-1', { ready: true }), endpoint('user-2', { ready: false })),
      slice(
        'b',
        endpoint('user-3', { ready: null }),
        endpoint('user-4', { ready: true, terminating: true }),
        endpoint('user-1', { ready: true }),
      ),
      slice('empty'),
    ]);
    expect(endpoints.map(({ pod, state }) => [pod, state])).toEqual([
      ['user-1', 'serving'],
      ['user-2', 'not_serving'],
      ['user-3', 'serving'], // unset ready means ready
      ['user-4', 'terminating'],
    ]);
  });

  it("marks only Pods in the EndpointSlice controller's own slices as the Service's pods", () => {
    const controller = { name: 'ours', labels: { 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } };
    const endpoints = endpointsFromSlices([
      { metadata: controller, endpoints: [endpoint('user-1', { ready: true }), { addresses: ['10.9.9.9'], conditions: { ready: true } }] },
      {
        metadata: { name: 'hand-made', labels: { 'endpointslice.kubernetes.io/managed-by': 'someone' } },
        endpoints: [endpoint('user-2', { ready: true }, '169.254.169.254')],
      },
    ]);
    expect(endpoints.map(({ pod, servicePod }) => [pod, servicePod])).toEqual([
      ['10.9.9.9', false],
      ['user-1', true],
      ['user-2', false],
    ]);
  });

  it('names an endpoint without a Pod targetRef by its address', () => {
    expect(endpointsFromSlices([{ endpoints: [{ addresses: ['192.0.2.1'], conditions: { ready: true } }] }])).toEqual([
      { pod: '192.0.2.1', address: '192.0.2.1', port: null, state: 'serving', servicePod: false },
    ]);
  });
});

describe('isConverged', () => {
  it.each([
    [true, pods(['a', 'not_serving'], ['b', 'not_serving']), true, []],
    [true, pods(['a', 'not_serving'], ['b', 'serving']), false, ['b']],
    [true, pods(['a', 'terminating']), true, []],
    [true, [], true, []],
    [false, pods(['a', 'serving'], ['b', 'serving']), true, []],
    [false, pods(['a', 'serving'], ['b', 'not_serving']), false, ['b']],
    [false, pods(['a', 'serving'], ['b', 'terminating']), true, []],
    [false, [], false, []],
  ])('maintenance %s with %j: converged %s, lagging %j', (active, endpoints, converged, lagging) => {
    expect(isConverged(active, endpoints)).toBe(converged);
    expect(laggingPods(active, endpoints)).toEqual(lagging);
  });
});

describe('FleetTracker', () => {
  const make = () => {
    const clock = new FakeClock('2026-11-28T12:00:00Z');
    const observed: number[] = [];
    const tracker = new FleetTracker({
      clock,
      status: () => ({ service: 'sample-app-user', connection: 'watching', lastError: null }),
      synced: () => true,
      onConverged: (seconds) => observed.push(seconds),
    });
    return { clock, tracker, observed };
  };

  it('measures each flip once, from the change to every endpoint matching it, and keeps since per pod', () => {
    const { clock, tracker, observed } = make();
    tracker.setActive(false);
    tracker.setEndpoints(pods(['a', 'serving'], ['b', 'serving']));
    expect(tracker.view).toMatchObject({ converged: true, changedAt: null, convergenceSeconds: null, serving: 2 });

    clock.advanceTo('2026-11-28T12:01:00Z');
    tracker.setActive(true);
    expect(tracker.view).toMatchObject({ converged: false, lagging: ['a', 'b'], changedAt: '2026-11-28T12:01:00.000Z', convergedAt: null });

    clock.advanceTo('2026-11-28T12:01:01.400Z');
    tracker.setEndpoints(pods(['a', 'not_serving'], ['b', 'serving']));
    expect(tracker.view.lagging).toEqual(['b']);
    clock.advanceTo('2026-11-28T12:01:02.000Z');
    tracker.setEndpoints(pods(['a', 'not_serving'], ['b', 'not_serving']));
    expect(tracker.view).toMatchObject({ converged: true, convergedAt: '2026-11-28T12:01:02.000Z', convergenceSeconds: 2, notServing: 2 });
    expect(tracker.view.pods).toEqual([
      { name: 'a', state: 'not_serving', since: '2026-11-28T12:01:01.400Z' },
      { name: 'b', state: 'not_serving', since: '2026-11-28T12:01:02.000Z' },
    ]);
    // A later change of the endpoints alone is not another convergence.
    tracker.setEndpoints(pods(['a', 'not_serving'], ['b', 'not_serving'], ['c', 'not_serving']));
    expect(observed).toEqual([2]);
  });

  it('says not converged until the EndpointSlices were listed', () => {
    const clock = new FakeClock(0);
    const tracker = new FleetTracker({
      clock,
      status: () => ({ service: 's', connection: 'connecting', lastError: null }),
      synced: () => false,
      onConverged: () => {},
    });
    tracker.setActive(true);
    expect(tracker.view).toMatchObject({ synced: false, converged: false });
  });
});

type Handler = (...args: never[]) => void;

class FakeInformer implements EndpointSliceInformer {
  readonly #handlers = new Map<string, Handler[]>();
  readonly #initial: SliceLike[];
  readonly #failStart: boolean;
  constructor(initial: SliceLike[], failStart = false) {
    this.#initial = initial;
    this.#failStart = failStart;
  }
  on(event: string, callback: Handler): void {
    this.#handlers.set(event, [...(this.#handlers.get(event) ?? []), callback]);
  }
  emit(event: string, ...args: unknown[]): void {
    for (const handler of this.#handlers.get(event) ?? []) (handler as (...values: unknown[]) => void)(...args);
  }
  async start(): Promise<void> {
    if (this.#failStart) throw new Error('connection refused');
    for (const item of this.#initial) this.emit('add', item);
    this.emit('connect');
  }
  async stop(): Promise<void> {}
}

describe('FleetWatch', () => {
  it('reports whole lists, keeps the last known endpoints when the watch fails, and restarts with a doubling delay', async () => {
    const clock = new FakeClock(0);
    const informers = [
      new FakeInformer([slice('a', endpoint('user-1', { ready: true }), endpoint('user-2', { ready: true }))]),
      new FakeInformer([], true),
      new FakeInformer([slice('a', endpoint('user-1', { ready: false }))]),
    ];
    const made: FakeInformer[] = [];
    const watch = new FleetWatch(
      { service: 'sample-app-user', clock, informer: () => made[made.push(informers[made.length]!) - 1]! },
      pino({ level: 'silent' }),
    );
    const reports: string[][] = [];
    watch.onChange((endpoints) => reports.push(endpoints.map((e) => `${e.pod}:${e.state}`)));
    await watch.start();
    // One report for the whole first list, not one per slice.
    expect(reports).toEqual([['user-1:serving', 'user-2:serving']]);
    expect(watch.status).toEqual({ service: 'sample-app-user', connection: 'watching', lastError: null });

    made[0]!.emit('error', new Error('watch closed: 500'));
    expect(watch.status).toMatchObject({ connection: 'error', lastError: 'watch closed: 500' });
    expect(watch.endpoints).toHaveLength(2);
    expect(clock.requestedDelays).toEqual([1000]);
    clock.advanceTo(1000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(made).toHaveLength(2);
    expect(clock.requestedDelays).toEqual([1000, 2000]);
    clock.advanceTo(3000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(made).toHaveLength(3);
    expect(reports.at(-1)).toEqual(['user-1:not_serving']);
    expect(watch.status.connection).toBe('watching');
    await watch.stop();
  });
});

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
