import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Informer } from '../../src/k8s/client.ts';
import { BACKOFF_MAX_MS, SupervisedWatch } from '../../src/k8s/supervised-watch.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

type Handler = (value: never) => void;
interface Item {
  name: string;
}

/** An informer driven by the test: it records starts and stops, and emits what it is told to. */
class FakeInformer implements Informer<Item> {
  readonly handlers = new Map<string, Handler[]>();
  starts = 0;
  stops = 0;
  /** What each start does before it resolves: list these, or fail as client-node does (an 'error', then resolve). */
  nextStart: { list: Item[] } | { fail: unknown } | { reject: unknown } = { list: [] };
  on(event: string, callback: Handler): void {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), callback]);
  }
  async start(): Promise<void> {
    this.starts++;
    const next = this.nextStart;
    if ('reject' in next) throw next.reject;
    this.emit('connect');
    if ('fail' in next) this.emit('error', next.fail);
    else for (const item of next.list) this.emit('add', item);
  }
  async stop(): Promise<void> {
    this.stops++;
  }
  emit(event: 'add' | 'update' | 'delete', item: Item): void;
  emit(event: 'connect'): void;
  emit(event: 'error', error: unknown): void;
  emit(event: string, value?: unknown): void {
    for (const handler of this.handlers.get(event) ?? []) handler(value as never);
  }
}

const WATCHDOG_INTERVAL = 7_777;
const flush = () => new Promise((resolve) => setImmediate(resolve));

function setup(random = () => 0.5) {
  const clock = new FakeClock('2026-11-28T00:00:00Z');
  const informer = new FakeInformer();
  const seen: string[] = [];
  const watch = new SupervisedWatch<Item>(
    { what: 'the test items', informer, clock, random, watchdogSilenceMs: 90_000, watchdogIntervalMs: WATCHDOG_INTERVAL },
    {
      add: (item) => seen.push(`add ${item.name}`),
      update: (item) => seen.push(`update ${item.name}`),
      delete: (item) => seen.push(`delete ${item.name}`),
      listed: () => seen.push('listed'),
    },
    pino({ level: 'silent' }),
  );
  /** The restart delays asked of the clock, without the watchdog's ticks. */
  const restartDelays = () => clock.requestedDelays.filter((delay) => delay !== WATCHDOG_INTERVAL);
  return { clock, informer, seen, watch, restartDelays };
}

/** Fails the informer, then lets the backoff run out and the restart happen. */
async function failAndRestart(t: ReturnType<typeof setup>, error: unknown) {
  t.informer.emit('error', error);
  const delay = t.restartDelays().at(-1)!;
  t.clock.advanceTo(t.clock.now() + delay);
  await flush();
  return delay;
}

describe('SupervisedWatch with a fake informer and a fake clock', () => {
  it('resolves start() once the first list reached the handlers, and says listed once', async () => {
    const t = setup();
    t.informer.nextStart = { list: [{ name: 'a' }, { name: 'b' }] };
    await t.watch.start();
    expect(t.seen).toEqual(['add a', 'add b', 'listed']);
    expect(t.watch.synced).toBe(true);
    expect(t.watch.status).toEqual({ connection: 'watching', lastError: null });
    t.informer.nextStart = { list: [] };
    await failAndRestart(t, new Error('gone'));
    expect(t.seen).toEqual(['add a', 'add b', 'listed']);
    await t.watch.stop();
  });

  it('resolves start() after a first attempt that failed, unsynced, and syncs on the restart that lists', async () => {
    for (const nextStart of [{ fail: new Error('connect ECONNREFUSED') }, { reject: new Error('connect ECONNREFUSED') }]) {
      const t = setup();
      t.informer.nextStart = nextStart;
      await t.watch.start();
      expect(t.watch.synced).toBe(false);
      expect(t.watch.status).toEqual({ connection: 'backing_off', lastError: 'connect ECONNREFUSED' });
      expect(t.restartDelays()).toEqual([1_000]);
      t.informer.nextStart = { list: [{ name: 'a' }] };
      t.clock.advanceTo(t.clock.now() + 1_000);
      await flush();
      expect(t.watch.synced).toBe(true);
      expect(t.seen).toEqual(['add a', 'listed']);
      expect(t.watch.status).toEqual({ connection: 'watching', lastError: null });
      await t.watch.stop();
    }
  });

  it('backs off exponentially from 1 s, caps at 30 s, and starts over after a success', async () => {
    const t = setup();
    await t.watch.start();
    expect(t.informer.starts).toBe(1);
    const delays = [];
    t.informer.nextStart = { list: [] };
    for (let i = 0; i < 7; i++)
      delays.push(await failAndRestart(t, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, BACKOFF_MAX_MS, BACKOFF_MAX_MS]);
    expect(t.informer.starts).toBe(8);
    expect(t.watch.status).toMatchObject({ lastError: 'connect ECONNREFUSED' });

    t.informer.emit('add', { name: 'x' });
    expect(t.watch.status).toEqual({ connection: 'watching', lastError: null });
    expect(await failAndRestart(t, new Error('again'))).toBe(1_000);
  });

  it('names the HTTP status of a failure the API server answered', async () => {
    const t = setup();
    await t.watch.start();
    t.informer.emit('error', Object.assign(new Error('Forbidden'), { code: 403, body: '{"message":"endpointslices is forbidden"}' }));
    expect(t.watch.status).toEqual({ connection: 'backing_off', lastError: 'HTTP 403: endpointslices is forbidden' });
    await t.watch.stop();
  });

  it('jitters each restart within ±20%', async () => {
    for (const [random, expected] of [
      [0, 800],
      [0.999999, 1_200],
    ] as const) {
      const t = setup(() => random);
      await t.watch.start();
      t.informer.emit('error', new Error('down'));
      expect(t.restartDelays().at(-1)).toBeCloseTo(expected, 0);
      expect(t.watch.status.connection).toBe('backing_off');
    }
  });

  it('restarts a watch that went silent, without counting it as a failure', async () => {
    const t = setup();
    await t.watch.start();
    t.informer.emit('connect');
    t.clock.advanceTo(t.clock.now() + 60_000);
    await flush();
    expect(t.informer.starts).toBe(1);
    t.clock.advanceTo(t.clock.now() + 40_000);
    await flush();
    expect(t.informer.stops).toBe(1);
    expect(t.informer.starts).toBe(2);
    expect(t.restartDelays()).toEqual([0]);
    expect(t.watch.status.lastError).toBeNull();
  });

  it('does not count its own abort as a failure, and ignores errors once stopped', async () => {
    const t = setup();
    await t.watch.start();
    t.informer.emit('error', Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }));
    expect(t.restartDelays()).toEqual([]);
    expect(t.watch.status.lastError).toBeNull();
    await t.watch.stop();
    t.informer.emit('error', new Error('late'));
    expect(t.restartDelays()).toEqual([]);
    expect(t.watch.status.connection).toBe('stopped');
    expect(t.clock.pendingTimers).toBe(0);
  });
});
