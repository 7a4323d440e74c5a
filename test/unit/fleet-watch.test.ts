import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { EndpointSliceInformer } from '../../src/k8s/endpointslices.ts';
import type { SliceLike } from '../../src/fleet/fleet.ts';
import { FleetWatch } from '../../src/fleet/fleet-watch.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const endpoint = (pod: string, conditions: { ready?: boolean | null; terminating?: boolean }, address = `10.0.0.${pod.length}`) => ({
  addresses: [address],
  conditions,
  targetRef: { kind: 'Pod', name: pod },
});
const slice = (name: string, ...endpoints: SliceLike['endpoints'] & object): SliceLike => ({ metadata: { name }, endpoints });

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
