import { describe, expect, it } from 'vitest';
import { ClusterPartReport, clusterPartNote, guardFromProbe, type GuardState } from '../../src/fleet/guard.ts';

const AT = '2026-12-07T00:00:00.000Z';
const guarded: GuardState = { state: 'guarded', checkedAt: AT };
const unguarded: GuardState = { state: 'unguarded', problem: 'missing', checkedAt: AT };
const unknown: GuardState = { state: 'unknown', problem: 'no pod yet', checkedAt: null };
const off: GuardState = { state: 'off', problem: 'NUDGE=off', checkedAt: null };

describe('guardFromProbe', () => {
  const says = { unguarded: 'policy missing', forbidden: 'no RBAC', rbacRefusal: /cannot patch resource/ };
  it('reads an accepted dry run as unguarded, a policy refusal as guarded, an RBAC refusal as forbidden, anything else as unknown', () => {
    expect(guardFromProbe({ accepted: true }, AT, says)).toEqual({ state: 'unguarded', problem: 'policy missing', checkedAt: AT });
    expect(
      guardFromProbe({ accepted: false, status: 422, message: "ValidatingAdmissionPolicy 'x' with binding 'x' denied request" }, AT, says),
    ).toEqual(guarded);
    expect(guardFromProbe({ accepted: false, status: 403, message: 'cannot patch resource "pods"' }, AT, says)).toEqual({
      state: 'forbidden',
      problem: 'no RBAC',
      checkedAt: AT,
    });
    expect(guardFromProbe({ accepted: false, status: undefined, message: 'ECONNREFUSED' }, AT, says)).toEqual({
      state: 'unknown',
      problem: 'ECONNREFUSED',
      checkedAt: AT,
    });
  });
});

describe('clusterPartNote', () => {
  it('names each missing policy and the command, and nothing else', () => {
    expect(clusterPartNote({ nudge: unguarded, hold: guarded })).toBe(
      'missing the nudge policy (pods are not nudged: they follow at the kubelet’s own sync); a cluster admin installs it once per cluster: kubectl apply -k kustomize/cluster',
    );
    expect(clusterPartNote({ nudge: unguarded, hold: unguarded })).toMatch(/^missing the nudge policy \(.*\) and the hold policy \(.*\); /);
    expect(clusterPartNote({ nudge: null, hold: unguarded })).toMatch(/^missing the hold policy/);
    expect(clusterPartNote({ nudge: null, hold: unguarded, serving: unguarded })).toMatch(
      /^missing the serving policy \(no readiness condition is set: .*\) and the hold policy \(.*\); a cluster admin installs it/,
    );
    expect(clusterPartNote({ nudge: unguarded, hold: unguarded, serving: unguarded })).toMatch(
      /^missing the nudge policy \(.*\), the serving policy \(.*\) and the hold policy \(.*\); /,
    );
  });

  it('says nothing is missing once every check settled, and leaves the switch alone while one has not', () => {
    expect(clusterPartNote({ nudge: guarded, hold: guarded })).toBeNull();
    expect(clusterPartNote({ nudge: off, hold: null })).toBeNull();
    expect(clusterPartNote({ nudge: guarded, hold: unknown })).toBeUndefined();
    expect(clusterPartNote({ nudge: unguarded, hold: unknown })).toMatch(/^missing the nudge policy/);
    expect(clusterPartNote({ nudge: null, hold: guarded, serving: unknown })).toBeUndefined();
    expect(clusterPartNote({ nudge: null, hold: guarded, serving: guarded })).toBeNull();
  });
});

describe('ClusterPartReport', () => {
  it('writes only when what the switch should say changes, and tries again after a failed write', async () => {
    let guards = { nudge: unknown as GuardState, hold: null as GuardState | null };
    const written: (string | null)[] = [];
    const errors: string[] = [];
    let fail = false;
    const report = new ClusterPartReport({
      guards: () => guards,
      write: async (note) => {
        if (fail) throw new Error('patching ConfigMap shop/shop-maintenance: HTTP 503');
        written.push(note);
      },
      onError: (error) => errors.push(error.message),
    });
    await report.update();
    expect(written).toEqual([]);
    guards = { nudge: unguarded, hold: null };
    await Promise.all([report.update(), report.update()]);
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^missing the nudge policy/);
    guards = { nudge: guarded, hold: null };
    fail = true;
    await report.update();
    expect(errors).toEqual(['patching ConfigMap shop/shop-maintenance: HTTP 503']);
    fail = false;
    await report.update();
    await report.update();
    expect(written).toEqual([written[0], null]);
  });
});
