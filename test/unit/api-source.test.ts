import type { V1ConfigMap } from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ApiSource, BACKOFF_MAX_MS } from '../../src/config/api-source.ts';
import type { SourceEvent } from '../../src/config/source.ts';
import { ConfigStore } from '../../src/config/store.ts';
import type { ConfigMapInformer } from '../../src/k8s/configmaps.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

type Handler = (value: never) => void;

/** An informer driven by the test: it records starts and stops, and emits what it is told to. */
class FakeInformer implements ConfigMapInformer {
  readonly handlers = new Map<string, Handler[]>();
  starts = 0;
  stops = 0;
  on(event: string, callback: Handler): void {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), callback]);
  }
  async start(): Promise<void> {
    this.starts++;
  }
  async stop(): Promise<void> {
    this.stops++;
  }
  emit(event: 'add' | 'update' | 'delete', configMap: V1ConfigMap): void;
  emit(event: 'connect'): void;
  emit(event: 'error', error: unknown): void;
  emit(event: string, value?: unknown): void {
    for (const handler of this.handlers.get(event) ?? []) handler(value as never);
  }
}

const WATCHDOG_INTERVAL = 7_777;
const configMap = (data: Record<string, string>, resourceVersion = '1'): V1ConfigMap => ({
  metadata: { name: 'app-config', resourceVersion },
  data,
});
const flush = () => new Promise((resolve) => setImmediate(resolve));

function setup(random = () => 0.5) {
  const clock = new FakeClock('2026-11-28T00:00:00Z');
  const informer = new FakeInformer();
  const events: SourceEvent[] = [];
  const source = new ApiSource(
    {
      namespace: 'ns',
      name: 'app-config',
      clock,
      random,
      informer: () => informer,
      watchdogSilenceMs: 90_000,
      watchdogIntervalMs: WATCHDOG_INTERVAL,
    },
    pino({ level: 'silent' }),
  );
  source.observe((event) => events.push(event));
  /** The restart delays asked of the clock, without the watchdog's ticks. */
  const restartDelays = () => clock.requestedDelays.filter((delay) => delay !== WATCHDOG_INTERVAL);
  const status = () => (source.status() as Extract<ReturnType<ApiSource['status']>, { source: 'api' }>).api;
  return { clock, informer, events, source, restartDelays, status };
}

/** Fails the informer, then lets the backoff run out and the restart happen. */
async function failAndRestart(t: ReturnType<typeof setup>, error: unknown) {
  t.informer.emit('error', error);
  const delay = t.restartDelays().at(-1)!;
  t.clock.advanceTo(t.clock.now() + delay);
  await flush();
  return delay;
}

describe('ApiSource with a fake informer and a fake clock', () => {
  it('backs off exponentially from 1 s, caps at 30 s, and starts over after a success', async () => {
    const t = setup();
    await t.source.start();
    expect(t.informer.starts).toBe(1);
    const delays = [];
    for (let i = 0; i < 7; i++)
      delays.push(await failAndRestart(t, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, BACKOFF_MAX_MS, BACKOFF_MAX_MS]);
    expect(t.informer.starts).toBe(8);
    expect(t.status()).toMatchObject({ connection: 'connecting', lastError: 'connect ECONNREFUSED' });

    t.informer.emit('add', configMap({ MAINTENANCE_MODE: 'true' }));
    expect(t.status()).toMatchObject({ connection: 'watching', lastError: null, found: true, resourceVersion: '1' });
    expect(await failAndRestart(t, new Error('again'))).toBe(1_000);
  });

  it('jitters each restart within ±20%', async () => {
    for (const [random, expected] of [
      [0, 800],
      [0.999999, 1_200],
    ] as const) {
      const t = setup(() => random);
      await t.source.start();
      t.informer.emit('error', new Error('down'));
      expect(t.restartDelays().at(-1)).toBeCloseTo(expected, 0);
      expect(t.status().connection).toBe('backing_off');
    }
  });

  it('restarts a watch that went silent, without counting it as a failure', async () => {
    const t = setup();
    await t.source.start();
    t.informer.emit('connect');
    t.clock.advanceTo(t.clock.now() + 60_000);
    await flush();
    expect(t.informer.starts).toBe(1);
    t.clock.advanceTo(t.clock.now() + 40_000);
    await flush();
    expect(t.informer.stops).toBe(1);
    expect(t.informer.starts).toBe(2);
    expect(t.restartDelays()).toEqual([0]);
    expect(t.status().lastError).toBeNull();
  });

  it('does not count its own abort as a failure, and ignores errors once stopped', async () => {
    const t = setup();
    await t.source.start();
    t.informer.emit('error', Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }));
    expect(t.restartDelays()).toEqual([]);
    expect(t.status().lastError).toBeNull();
    await t.source.stop();
    t.informer.emit('error', new Error('late'));
    expect(t.restartDelays()).toEqual([]);
    expect(t.status().connection).toBe('stopped');
    expect(t.clock.pendingTimers).toBe(0);
  });

  it('keeps the last good state when the ConfigMap is deleted, and follows its re-creation', async () => {
    const t = setup();
    const store = new ConfigStore(() => new Date(t.clock.now()));
    t.source.observe(store.observer);
    await t.source.start();
    t.informer.emit('add', configMap({ MAINTENANCE_MODE: 'true' }, '5'));
    expect(store.config?.enabled).toBe(true);

    t.informer.emit('delete', configMap({ MAINTENANCE_MODE: 'true' }, '6'));
    expect(t.events.at(-1)).toEqual({
      type: 'problem',
      error: 'ConfigMap ns/app-config was deleted; keeping the last good state until it is created again',
    });
    expect(store.config?.enabled).toBe(true);
    expect(store.snapshot.lastError).toContain('was deleted');
    expect(t.status()).toMatchObject({ found: false, resourceVersion: '6' });

    t.informer.emit('add', configMap({ MAINTENANCE_MODE: 'false' }, '7'));
    expect(t.events.at(-1)).toEqual({ type: 'payload', data: { MAINTENANCE_MODE: 'false' } });
    expect(store.config?.enabled).toBe(false);
    expect(store.snapshot.lastError).toBeNull();
    expect(t.status()).toMatchObject({ found: true, resourceVersion: '7' });
  });
});
