import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Nudger, nudgeTargets, type NudgeSettings } from '../../src/fleet/nudge.ts';
import type { PodPatcher } from '../../src/k8s/pods.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const log = pino({ level: 'silent' });
const POLICY_REFUSAL = {
  accepted: false as const,
  status: 403,
  message:
    "pods \"web-1\" is forbidden: ValidatingAdmissionPolicy 'shop-maintenance-nudge.shop' with binding 'shop-maintenance-nudge.shop' denied request",
};

/** A patcher that records each nudge with the fake time it was sent at. */
function recordingPatcher(clock: FakeClock, probe: Awaited<ReturnType<PodPatcher['probeGuard']>> = POLICY_REFUSAL) {
  const sent: { pod: string; value: string; at: number }[] = [];
  const patcher: PodPatcher = {
    async nudge(pod, value) {
      sent.push({ pod, value, at: clock.now() });
    },
    probeGuard: async () => probe,
  };
  return { patcher, sent };
}

const settings = (overrides: Partial<NudgeSettings> = {}): NudgeSettings => ({
  enabled: true,
  concurrency: 4,
  qps: 1000,
  retryDelaysMs: [3_000, 8_000],
  reprobeDelaysMs: [],
  guardIntervalMs: 300_000,
  ...overrides,
});

/** Lets the promise chains that the fake clock's timers started run to their end. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Nudger', () => {
  it('checks the guard at start, then nudges every target once with one numeric value', async () => {
    const clock = new FakeClock('2026-12-01T10:00:00Z');
    const { patcher, sent } = recordingPatcher(clock);
    const nudger = new Nudger({
      patcher,
      targets: () => ['web-1', 'web-2', 'web-1'],
      lagging: async () => [],
      clock,
      log,
      settings: settings(),
    });
    await nudger.start();
    expect(nudger.status().guard).toEqual({ state: 'guarded', checkedAt: '2026-12-01T10:00:00.000Z' });
    await nudger.changed();
    expect(sent).toEqual([
      { pod: 'web-1', value: String(Date.parse('2026-12-01T10:00:00Z')), at: Date.parse('2026-12-01T10:00:00Z') },
      { pod: 'web-2', value: String(Date.parse('2026-12-01T10:00:00Z')), at: Date.parse('2026-12-01T10:00:00Z') },
    ]);
    expect(nudger.status().lastRound).toMatchObject({ pods: 2, nudged: 2, failed: 0, retried: 0 });
    nudger.stop();
  });

  it('keeps to its requests per second, after a burst of as many', async () => {
    const clock = new FakeClock(0);
    const { patcher, sent } = recordingPatcher(clock);
    const pods = ['a', 'b', 'c', 'd'];
    const nudger = new Nudger({
      patcher,
      targets: () => pods,
      lagging: async () => [],
      clock,
      log,
      settings: settings({ qps: 2, concurrency: 2 }),
    });
    await nudger.start();
    const round = nudger.changed();
    for (let time = 0; time <= 2_000; time += 250) {
      clock.advanceTo(time);
      await settle();
    }
    await round;
    expect(sent.map((entry) => entry.at)).toEqual([0, 0, 500, 1000]);
    nudger.stop();
  });

  it('nudges again only the pods that lag, at each delay, then names those that never followed', async () => {
    const clock = new FakeClock(0);
    const { patcher, sent } = recordingPatcher(clock);
    let lagging = ['web-2'];
    const nudger = new Nudger({
      patcher,
      targets: () => ['web-1', 'web-2'],
      lagging: async (pods) => pods.filter((pod) => lagging.includes(pod)),
      clock,
      log,
      settings: settings(),
    });
    await nudger.start();
    await nudger.changed();
    clock.advanceTo(3_000);
    await settle();
    expect(sent.map((entry) => `${entry.pod}@${entry.at}`)).toEqual(['web-1@0', 'web-2@0', 'web-2@3000']);
    expect(nudger.status().unfollowed).toBeNull();
    // The last delay only looks: web-2 is named, not nudged again.
    clock.advanceTo(11_000);
    await settle();
    expect(sent.map((entry) => `${entry.pod}@${entry.at}`)).toEqual(['web-1@0', 'web-2@0', 'web-2@3000']);
    expect(nudger.status()).toMatchObject({
      lastRound: { pods: 2, nudged: 3, retried: 1 },
      unfollowed: { pods: ['web-2'], likelyCauses: expect.stringContaining('configMapAndSecretChangeDetectionStrategy: Cache') },
    });
    lagging = [];
    await nudger.changed();
    expect(nudger.status().unfollowed).toBeNull();
    nudger.stop();
  });

  it('nudges again, at each reprobe delay, the pods that followed and are ready while their endpoint is not', async () => {
    const clock = new FakeClock(0);
    const { patcher, sent } = recordingPatcher(clock);
    let unprobed = ['web-2'];
    const nudger = new Nudger({
      patcher,
      targets: () => ['web-1', 'web-2'],
      lagging: async () => [],
      unprobed: async (pods) => pods.filter((pod) => unprobed.includes(pod)),
      clock,
      log,
      settings: settings({ reprobeDelaysMs: [400, 800] }),
    });
    await nudger.start();
    await nudger.changed();
    clock.advanceTo(400);
    await settle();
    unprobed = [];
    clock.advanceTo(800);
    await settle();
    expect(sent.map((entry) => `${entry.pod}@${entry.at}`)).toEqual(['web-1@0', 'web-2@0', 'web-2@400']);
    expect(nudger.status().lastRound).toMatchObject({ pods: 2, nudged: 3, retried: 0, reprobed: 1 });
    nudger.stop();
  });

  it('drops the retries of a change once a newer change comes', async () => {
    const clock = new FakeClock(0);
    const { patcher, sent } = recordingPatcher(clock);
    const nudger = new Nudger({ patcher, targets: () => ['web-1'], lagging: async (pods) => pods, clock, log, settings: settings() });
    await nudger.start();
    await nudger.changed();
    clock.advanceTo(1_000);
    await nudger.changed();
    clock.advanceTo(3_500);
    await settle();
    // One retry, 3 s after the second change; none 3 s after the first.
    expect(sent.map((entry) => entry.at)).toEqual([0, 1000]);
    clock.advanceTo(4_000);
    await settle();
    expect(sent.map((entry) => entry.at)).toEqual([0, 1000, 4000]);
    nudger.stop();
  });

  it('counts a failed nudge, and one the API server refused, and goes on with the others', async () => {
    const clock = new FakeClock(0);
    const sent: string[] = [];
    const counted: string[] = [];
    const patcher: PodPatcher = {
      async nudge(pod) {
        if (pod === 'gone-1') throw Object.assign(new Error('nudging pod shop/gone-1: HTTP 404: not found'), { status: 404 });
        if (pod === 'refused-1') throw Object.assign(new Error('nudging pod shop/refused-1: HTTP 403: denied request'), { status: 403 });
        sent.push(pod);
      },
      probeGuard: async () => POLICY_REFUSAL,
    };
    const nudger = new Nudger({
      patcher,
      targets: () => ['gone-1', 'refused-1', 'web-1'],
      lagging: async () => [],
      clock,
      log,
      settings: settings(),
      events: { sent: () => counted.push('sent'), refused: () => counted.push('refused'), failed: () => counted.push('failed') },
    });
    await nudger.start();
    await nudger.changed();
    expect(sent).toEqual(['web-1']);
    expect(counted.sort()).toEqual(['failed', 'refused', 'sent']);
    expect(nudger.status().lastRound).toMatchObject({ nudged: 1, failed: 2 });
    nudger.stop();
  });

  it.each([
    [{ accepted: true as const }, 'unguarded', 'the nudge policy (ValidatingAdmissionPolicy and its binding) is missing'],
    [
      {
        accepted: false as const,
        status: 403,
        message:
          'pods "web-1" is forbidden: User "system:serviceaccount:shop:shop-maintenance-admin" cannot patch resource "pods" in API group ""',
      },
      'forbidden',
      'RBAC refuses the admin `patch` on pods',
    ],
    [{ accepted: false as const, status: 500, message: 'etcdserver: request timed out' }, 'unknown', 'etcdserver: request timed out'],
  ])('does not nudge when the dry run says %j', async (probe, state, problem) => {
    const clock = new FakeClock(0);
    const { patcher, sent } = recordingPatcher(clock, probe);
    const nudger = new Nudger({ patcher, targets: () => ['web-1'], lagging: async () => [], clock, log, settings: settings() });
    await nudger.start();
    await nudger.changed();
    expect(sent).toEqual([]);
    expect(nudger.status().guard).toMatchObject({ state, problem: expect.stringContaining(problem) });
    nudger.stop();
  });

  it('checks the guard again every interval, and before a change while it is not guarded', async () => {
    const clock = new FakeClock(0);
    let probe: Awaited<ReturnType<PodPatcher['probeGuard']>> = { accepted: true };
    const sent: string[] = [];
    const patcher: PodPatcher = { nudge: async (pod) => void sent.push(pod), probeGuard: async () => probe };
    const nudger = new Nudger({ patcher, targets: () => ['web-1'], lagging: async () => [], clock, log, settings: settings() });
    await nudger.start();
    expect(nudger.status().guard.state).toBe('unguarded');
    probe = POLICY_REFUSAL;
    clock.advanceTo(300_000);
    await settle();
    expect(nudger.status().guard.state).toBe('guarded');
    probe = { accepted: true };
    await nudger.changed();
    // Guarded at the last check, so it nudges; the next check finds the policy gone.
    expect(sent).toEqual(['web-1']);
    clock.advanceTo(600_000);
    await settle();
    expect(nudger.status().guard.state).toBe('unguarded');
    await nudger.changed();
    expect(sent).toEqual(['web-1']);
    nudger.stop();
  });

  it('does nothing with NUDGE=off, and says so', async () => {
    const clock = new FakeClock(0);
    const { patcher, sent } = recordingPatcher(clock);
    const nudger = new Nudger({
      patcher,
      targets: () => ['web-1'],
      lagging: async () => [],
      clock,
      log,
      settings: settings({ enabled: false }),
    });
    await nudger.start();
    await nudger.changed();
    expect(sent).toEqual([]);
    expect(nudger.status().guard).toMatchObject({ state: 'off', problem: expect.stringContaining('NUDGE=off') });
    expect(clock.pendingTimers).toBe(0);
  });

  it('follows its triggers: each applied config after the first is a change; a pod appearing gets the guard checked', async () => {
    const clock = new FakeClock('2026-12-01T10:00:00Z');
    const { patcher, sent } = recordingPatcher(clock);
    let targets: string[] = [];
    const nudger = new Nudger({ patcher, targets: () => targets, lagging: async () => [], clock, log, settings: settings() });
    const configs = new Set<() => void>();
    const podChanges = new Set<() => void>();
    const subscribe = (listeners: Set<() => void>) => (listener: () => void) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    };
    await nudger.start({ onConfigApplied: subscribe(configs), configKnown: () => false, onPodsChange: subscribe(podChanges) });
    expect(nudger.status().guard).toMatchObject({ state: 'unknown', problem: 'no pod to check the nudge policy on yet' });
    targets = ['web-1'];
    for (const listener of podChanges) listener();
    await settle();
    expect(nudger.status().guard.state).toBe('guarded');
    // The first config is the one every pod mounted at start.
    for (const listener of configs) listener();
    await settle();
    expect(sent).toEqual([]);
    for (const listener of configs) listener();
    await settle();
    expect(sent.map((nudge) => nudge.pod)).toEqual(['web-1']);
    nudger.stop();
    expect(configs.size + podChanges.size).toBe(0);
  });
});

describe('nudgeTargets', () => {
  it("names the pods that mount the switch, less those terminating, the admin's own, and addresses of others' slices", () => {
    const endpoint = (pod: string, state: 'serving' | 'terminating' = 'serving', servicePod = true) => ({
      pod,
      address: '',
      port: 9901,
      state,
      servicePod,
    });
    expect(
      nudgeTargets(
        [endpoint('web-1'), endpoint('web-2', 'terminating'), endpoint('admin-0'), endpoint('10.0.0.9', 'serving', false)],
        'admin-0',
      ),
    ).toEqual(['web-1']);
  });
});
