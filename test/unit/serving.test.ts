import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AppPod } from '../../src/fleet/app-pods.ts';
import { ServingConditions, servingTarget, shareOf, type ServingSettings, type ServingTarget } from '../../src/fleet/serving.ts';
import type { ProbeResult, ServingWriter } from '../../src/k8s/pods.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const log = pino({ level: 'silent' });
const GUARDED: ProbeResult = {
  accepted: false,
  status: 422,
  message:
    "pods \"web-1\" is forbidden: ValidatingAdmissionPolicy 'maintenance-switch-serving' with binding 'maintenance-switch-serving' denied request",
};

/**
 * The API server and the watch, in memory: a write at the current version sets the condition and
 * bumps the version (409 otherwise), and the pods' listeners hear of it as a watch would.
 */
class FakePods {
  readonly pods = new Map<string, AppPod>();
  readonly writes: { pod: string; level: string; at: number }[] = [];
  readonly #listeners = new Set<() => void>();
  #version = 100;
  probe: ProbeResult = GUARDED;
  probes = 0;
  /** Fails the next writes with this status. */
  failures: number[] = [];
  /** Echoes held back until `deliverEchoes()`: a watch that lags behind the writes. */
  holdEchoes = false;
  readonly #echoes: (() => void)[] = [];

  readonly clock: FakeClock;

  constructor(clock: FakeClock) {
    this.clock = clock;
  }

  add(name: string, overrides: Partial<AppPod> = {}): void {
    this.pods.set(name, {
      name,
      resourceVersion: String(this.#version++),
      gated: true,
      tier: null,
      serving: null,
      ready: false,
      terminating: false,
      ...overrides,
    });
    this.changed();
  }

  update(name: string, change: Partial<AppPod>): void {
    const pod = this.pods.get(name)!;
    this.pods.set(name, { ...pod, ...change, resourceVersion: String(this.#version++) });
    this.changed();
  }

  changed(): void {
    for (const listener of this.#listeners) listener();
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get list(): AppPod[] {
    return [...this.pods.values()];
  }

  deliverEchoes(): void {
    for (const echo of this.#echoes.splice(0)) echo();
  }

  level(name: string): string | null {
    return this.pods.get(name)?.serving ?? null;
  }

  writer(): ServingWriter {
    return {
      setServing: async (name, resourceVersion, status) => {
        const failure = this.failures.shift();
        if (failure !== undefined) throw Object.assign(new Error(`status ${failure}`), { status: failure });
        const pod = this.pods.get(name);
        if (pod === undefined) throw Object.assign(new Error('not found'), { status: 404 });
        if (pod.resourceVersion !== resourceVersion) throw Object.assign(new Error('conflict'), { status: 409 });
        this.writes.push({ pod: name, level: status, at: this.clock.now() });
        // The watch brings the change back a moment later, not within the write.
        const echo = () => this.update(name, { serving: status });
        if (this.holdEchoes) this.#echoes.push(echo);
        else queueMicrotask(echo);
      },
      probeGuard: async () => {
        this.probes++;
        return this.probe;
      },
    };
  }
}

const settings = (overrides: Partial<ServingSettings> = {}): ServingSettings => ({
  concurrency: 4,
  qps: 1000,
  pageWaitMs: 10_000,
  retryDelaysMs: [1_000, 5_000],
  handoffMs: 1_000,
  guardIntervalMs: 300_000,
  ...overrides,
});

/** Lets the promise chains that writes and timers started run to their end. */
const settle = async () => {
  for (let round = 0; round < 5; round++) await new Promise((resolve) => setImmediate(resolve));
};

function setUp(options: { target?: ServingTarget | null; settings?: Partial<ServingSettings> } = {}) {
  const clock = new FakeClock('2026-12-07T10:00:00Z');
  const pods = new FakePods(clock);
  let target: ServingTarget | null = options.target === undefined ? { level: 'True', failedClosed: false } : options.target;
  const targetListeners = new Set<() => void>();
  const serving = new ServingConditions({
    writer: pods.writer(),
    self: 'admin-a',
    pods: () => pods.list,
    target: () => target,
    clock,
    log,
    settings: settings(options.settings),
  });
  const setTarget = (next: ServingTarget | null) => {
    target = next;
    for (const listener of targetListeners) listener();
  };
  const start = () =>
    serving.start({
      onTargetChange: (listener) => {
        targetListeners.add(listener);
        return () => targetListeners.delete(listener);
      },
      onPodsChange: (listener) => pods.onChange(listener),
    });
  return { clock, pods, serving, setTarget, start };
}

describe('ServingConditions', () => {
  it('sets True on every gated pod at start, and leaves pods without the gate, the page tier and terminating pods alone', async () => {
    const { pods, serving, start } = setUp();
    pods.add('web-1');
    pods.add('web-2', { serving: 'False' });
    pods.add('plain-1', { gated: false });
    pods.add('page-1', { gated: false, tier: 'page' });
    pods.add('web-old', { terminating: true });
    await start();
    await settle();
    expect(pods.writes.map((write) => `${write.pod}=${write.level}`).sort()).toEqual(['web-1=True', 'web-2=True']);
    expect(serving.status()).toMatchObject({ guard: { state: 'guarded' }, level: 'True', pods: 2, atLevel: 2, waiting: [] });
    serving.stop();
  });

  it('writes nothing until the switch is known', async () => {
    const { pods, serving, start, setTarget } = setUp({ target: null });
    pods.add('web-1');
    await start();
    await settle();
    expect(pods.writes).toEqual([]);
    expect(serving.status()).toMatchObject({ level: null, waiting: ['web-1'] });
    setTarget({ level: 'False', failedClosed: false });
    await settle();
    // A pod with no condition serves no one: it gets False at once, with no page tier to wait for.
    expect(pods.level('web-1')).toBe('False');
    serving.stop();
  });

  it('when maintenance starts, takes serving pods out only once a page pod is Ready; new pods get False at once', async () => {
    const { clock, pods, serving, start, setTarget } = setUp();
    pods.add('web-1', { serving: 'True' });
    pods.add('page-1', { gated: false, tier: 'page', ready: false });
    await start();
    setTarget({ level: 'False', failedClosed: false });
    await settle();
    expect(pods.level('web-1')).toBe('True');
    expect(serving.status().pageWaitSince).toBe('2026-12-07T10:00:00.000Z');
    pods.add('web-2');
    await settle();
    expect(pods.level('web-2')).toBe('False');
    expect(pods.level('web-1')).toBe('True');
    clock.advanceTo('2026-12-07T10:00:03Z');
    pods.update('page-1', { ready: true });
    await settle();
    expect(pods.level('web-1')).toBe('False');
    expect(pods.writes.find((write) => write.pod === 'web-1')?.at).toBe(Date.parse('2026-12-07T10:00:03Z'));
    expect(serving.status()).toMatchObject({ pageWaitSince: null, problem: null, pageReady: 1 });
    serving.stop();
  });

  it('takes them out anyway when no page pod is Ready after the wait, and says users may meet an empty Service', async () => {
    const { clock, pods, serving, start, setTarget } = setUp();
    pods.add('web-1', { serving: 'True' });
    await start();
    setTarget({ level: 'False', failedClosed: false });
    await settle();
    clock.advanceTo('2026-12-07T10:00:09.999Z');
    await settle();
    expect(pods.level('web-1')).toBe('True');
    clock.advanceTo('2026-12-07T10:00:10Z');
    await settle();
    expect(pods.level('web-1')).toBe('False');
    expect(serving.status().problem).toMatch(/no page pod was Ready 10 s after maintenance started/);
    serving.stop();
  });

  it('ends a second wait for the page tier on time, though the look of the first wait is still pending', async () => {
    const { clock, pods, serving, start, setTarget } = setUp();
    pods.add('web-1', { serving: 'True' });
    await start();
    setTarget({ level: 'False', failedClosed: false });
    await settle();
    // Off again before the wait ends, then on again 4 s into the first wait.
    clock.advanceTo('2026-12-07T10:00:02Z');
    setTarget({ level: 'True', failedClosed: false });
    await settle();
    clock.advanceTo('2026-12-07T10:00:04Z');
    setTarget({ level: 'False', failedClosed: false });
    await settle();
    clock.advanceTo('2026-12-07T10:00:13.999Z');
    await settle();
    expect(pods.level('web-1')).toBe('True');
    clock.advanceTo('2026-12-07T10:00:14Z');
    await settle();
    expect(pods.level('web-1')).toBe('False');
    serving.stop();
  });

  it('brings pods back at once when maintenance ends, without waiting for anything', async () => {
    const { pods, start, setTarget, serving } = setUp({ target: { level: 'False', failedClosed: false } });
    pods.add('web-1', { serving: 'False' });
    pods.add('web-2', { serving: 'False' });
    await start();
    setTarget({ level: 'True', failedClosed: false });
    await settle();
    expect([pods.level('web-1'), pods.level('web-2')]).toEqual(['True', 'True']);
    serving.stop();
  });

  it('puts back a condition changed by someone else (level-triggered), and holds read-only as maintenance', async () => {
    const { pods, start, setTarget, serving } = setUp();
    pods.add('web-1');
    pods.add('page-1', { gated: false, tier: 'page', ready: true });
    await start();
    await settle();
    pods.update('web-1', { serving: 'False' });
    await settle();
    expect(pods.level('web-1')).toBe('True');
    setTarget({ level: 'False', failedClosed: true });
    await settle();
    expect(pods.level('web-1')).toBe('False');
    expect(serving.status().failedClosed).toBe(true);
    serving.stop();
  });

  it('writes nothing while the policy is not seen guarding it, and says why', async () => {
    const { pods, serving, start } = setUp();
    pods.probe = { accepted: true };
    pods.add('web-1');
    await start();
    await settle();
    expect(pods.writes).toEqual([]);
    expect(serving.status().guard).toMatchObject({
      state: 'unguarded',
      problem: expect.stringContaining('kubectl apply -k kustomize/cluster'),
    });
    pods.probe = {
      accepted: false,
      status: 403,
      message: 'pods "web-1" is forbidden: User "system:serviceaccount:shop:shop-maintenance-admin" cannot patch resource "pods/status"',
    };
    await serving.checkGuard();
    expect(serving.status().guard).toMatchObject({ state: 'forbidden', problem: expect.stringContaining('components/readiness-gate') });
    // Another policy's refusal is not this one's guard.
    pods.probe = { accepted: false, status: 422, message: "ValidatingAdmissionPolicy 'maintenance-switch-nudge' denied request" };
    await serving.checkGuard();
    expect(serving.status().guard.state).toBe('unknown');
    serving.stop();
  });

  it('while unguarded, asks again at most every 10 s, not on every pod event, and writes once the policy is there', async () => {
    const { clock, pods, serving, start } = setUp();
    pods.probe = { accepted: true };
    pods.add('web-1');
    await start();
    for (const name of ['web-2', 'web-3', 'web-4']) pods.add(name);
    await settle();
    expect(pods.probes).toBe(1);
    expect(pods.writes).toEqual([]);
    // The cluster part is installed: the next look, 10 s on, finds it and writes every pod.
    pods.probe = GUARDED;
    clock.advanceTo('2026-12-07T10:00:10Z');
    await settle();
    expect(pods.probes).toBe(2);
    expect(pods.writes).toHaveLength(4);
    serving.stop();
  });

  it('answers a conflict from the newer version, and retries other failures with back-off, saying why meanwhile', async () => {
    const { clock, pods, serving, start } = setUp();
    pods.add('web-1');
    pods.failures = [409, 500, 500];
    await start();
    await settle();
    expect(serving.status().lastRound).toMatchObject({ conflicts: 1, written: 0 });
    // The conflict's retry (1 s) meets a 500, then the back-off (5 s) another.
    clock.advanceTo('2026-12-07T10:00:01Z');
    await settle();
    expect(serving.status().problem).toBe('status 500');
    expect(pods.level('web-1')).toBe(null);
    clock.advanceTo('2026-12-07T10:00:06Z');
    await settle();
    expect(pods.level('web-1')).toBe(null);
    clock.advanceTo('2026-12-07T10:00:11Z');
    await settle();
    expect(pods.level('web-1')).toBe('True');
    expect(serving.status()).toMatchObject({ problem: null, atLevel: 1 });
    serving.stop();
  });

  it('writes each pod once per level, though the watch has not brought its echo back yet', async () => {
    const { pods, serving, start } = setUp();
    pods.holdEchoes = true;
    pods.add('web-1');
    await start();
    // Looks again before the echo: nothing new to write, and no conflict from the old version.
    await serving.reconcile();
    await settle();
    expect(pods.writes.filter((write) => write.pod === 'web-1')).toHaveLength(1);
    expect(serving.status().lastRound).toMatchObject({ written: 1, conflicts: 0 });
    pods.deliverEchoes();
    await settle();
    expect(pods.level('web-1')).toBe('True');
    serving.stop();
  });

  it('shares the writes with the other Ready admin pod, each pod written once, and takes over its share when it is late', async () => {
    const { clock, pods, serving, start, setTarget } = setUp();
    const other = new ServingConditions({
      writer: pods.writer(),
      self: 'admin-b',
      pods: () => pods.list,
      target: () => ({ level: 'True', failedClosed: false }),
      clock,
      log,
      settings: settings(),
    });
    for (const name of ['admin-a', 'admin-b']) pods.add(name, { gated: false, tier: 'admin', ready: true });
    const apps = Array.from({ length: 8 }, (_, index) => `web-${index}`);
    for (const name of apps) pods.add(name);
    await Promise.all([start(), other.start({ onTargetChange: () => () => {}, onPodsChange: (listener) => pods.onChange(listener) })]);
    await settle();
    // Every pod True, each written once, by the admin pod its name falls to.
    expect(apps.map((name) => pods.level(name))).toEqual(apps.map(() => 'True'));
    expect(pods.writes).toHaveLength(apps.length);
    expect(serving.status().lastRound?.conflicts ?? 0).toBe(0);
    const shareOfA = apps.filter((name) => shareOf(name, 2) === ['admin-a', 'admin-b'].indexOf('admin-a'));
    expect(shareOfA.length).toBeGreaterThan(0);
    expect(shareOfA.length).toBeLessThan(apps.length);
    // admin-b stops answering (its watch lost, say) while still Ready: its share waits the handoff.
    other.stop();
    pods.writes.length = 0;
    setTarget({ level: 'False', failedClosed: false });
    pods.add('page-1', { gated: false, tier: 'page', ready: true });
    await settle();
    expect(pods.writes.map((write) => write.pod).sort()).toEqual([...shareOfA].sort());
    clock.advanceTo('2026-12-07T10:00:01Z');
    await settle();
    expect(apps.map((name) => pods.level(name))).toEqual(apps.map(() => 'False'));
    expect(pods.writes.filter((write) => write.at === Date.parse('2026-12-07T10:00:01Z'))).toHaveLength(apps.length - shareOfA.length);
    serving.stop();
  });

  it('writes every pod itself when it is the only Ready admin pod, or not Ready yet', async () => {
    const { pods, start, serving } = setUp();
    pods.add('admin-a', { gated: false, tier: 'admin', ready: false });
    pods.add('admin-b', { gated: false, tier: 'admin', ready: true });
    for (const name of ['web-0', 'web-1', 'web-2', 'web-3']) pods.add(name);
    await start();
    await settle();
    expect(pods.writes).toHaveLength(4);
    serving.stop();
  });

  it('keeps to its rate: a burst of qps writes, then qps a second', async () => {
    const { clock, pods, start, serving } = setUp({ settings: { qps: 2, concurrency: 1 } });
    for (const name of ['a', 'b', 'c', 'd']) pods.add(name);
    void start();
    await settle();
    expect(pods.writes).toHaveLength(2);
    clock.advanceTo('2026-12-07T10:00:00.500Z');
    await settle();
    clock.advanceTo('2026-12-07T10:00:01Z');
    await settle();
    expect(pods.writes.map((write) => write.at - Date.parse('2026-12-07T10:00:00Z'))).toEqual([0, 0, 500, 1000]);
    serving.stop();
  });
});

describe('servingTarget', () => {
  it('asks True while users are served, False in maintenance and in read-only (held as maintenance), nothing before the switch is known', () => {
    expect(servingTarget({ config: null, active: false, readOnly: false })).toBeNull();
    expect(servingTarget({ config: {}, active: false, readOnly: false })).toEqual({ level: 'True', failedClosed: false });
    expect(servingTarget({ config: {}, active: true, readOnly: false })).toEqual({ level: 'False', failedClosed: false });
    expect(servingTarget({ config: {}, active: false, readOnly: true })).toEqual({ level: 'False', failedClosed: true });
  });
});
