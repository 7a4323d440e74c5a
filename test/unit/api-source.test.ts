import type { V1ConfigMap } from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ApiSource } from '../../src/config/api-source.ts';
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
  const status = () => (source.status() as Extract<ReturnType<ApiSource['status']>, { source: 'api' }>).api;
  return { clock, informer, events, source, status };
}

describe('ApiSource with a fake informer and a fake clock (its supervision: supervised-watch.test.ts)', () => {
  it('reports the watch in its status, and resolves start() once the first list reached its observers', async () => {
    const t = setup();
    const started = t.source.start();
    t.informer.emit('connect');
    t.informer.emit('add', configMap({ MAINTENANCE_MODE: 'true' }, '3'));
    await started;
    expect(t.events).toEqual([{ type: 'payload', data: { MAINTENANCE_MODE: 'true' } }]);
    expect(t.status()).toEqual({
      namespace: 'ns',
      name: 'app-config',
      connection: 'watching',
      lastError: null,
      found: true,
      resourceVersion: '3',
    });
    t.informer.emit('error', Object.assign(new Error('forbidden'), { code: 403, body: { message: 'configmaps is forbidden' } }));
    expect(t.status()).toMatchObject({ connection: 'backing_off', found: true });
    expect(t.status().lastError).toMatch(/^HTTP 403: /);
    await t.source.stop();
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
