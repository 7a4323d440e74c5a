import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AutoscalingHold, parseHoldRecord } from '../../src/fleet/hold.ts';
import {
  HOLD_ANNOTATION,
  PAUSED_REPLICAS_ANNOTATION,
  type Autoscaler,
  type AutoscalerClient,
  type HoldLedger,
} from '../../src/k8s/autoscalers.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

/** Lets the promise chains that the fake clock's timers started run to their end. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

const log = pino({ level: 'silent' });
const NOW = '2026-12-01T09:00:00.000Z';

const hpa = (name: string, deployment: string, extra: Partial<Autoscaler> = {}): Autoscaler => ({
  kind: 'HorizontalPodAutoscaler',
  name,
  resourceVersion: '7',
  annotations: {},
  deployment,
  behavior: null,
  madeByKeda: false,
  ...extra,
});
const scaledObject = (name: string, deployment: string, annotations: Record<string, string> = {}): Autoscaler => ({
  ...hpa(name, deployment),
  kind: 'ScaledObject',
  annotations,
});

/** Deployments by name: shop's web and api, blog's (another install) and shop's own admin tier. */
const DEPLOYMENTS: Record<string, { templateLabels: Record<string, string>; replicas: number }> = {
  web: { templateLabels: { app: 'web', 'maintenance-switch.dev/app': 'shop' }, replicas: 6 },
  api: { templateLabels: { 'maintenance-switch.dev/app': 'shop' }, replicas: 3 },
  blog: { templateLabels: { 'maintenance-switch.dev/app': 'blog' }, replicas: 2 },
  admin: { templateLabels: { 'maintenance-switch.dev/app': 'shop', 'maintenance-switch.dev/tier': 'admin' }, replicas: 1 },
};

/**
 * The hold's ledger in memory. By default it holds every record the fixtures show on their
 * objects, as if this admin had written them; `trusted: false` leaves it empty.
 */
function fakeLedger(autoscalers: Autoscaler[], trusted = true) {
  const records: Record<string, string> = {};
  if (trusted)
    for (const autoscaler of autoscalers) {
      const shown = autoscaler.annotations[HOLD_ANNOTATION];
      if (shown !== undefined) records[`${autoscaler.kind}.${autoscaler.name}`] = shown;
    }
  let version = 1;
  const ledger: HoldLedger = {
    target: 'ConfigMap shop/shop-maintenance-hold',
    read: async () => ({ records: { ...records }, version: String(version) }),
    async write(changes, at) {
      if (at !== String(version))
        throw Object.assign(new Error('patching ConfigMap shop/shop-maintenance-hold: HTTP 409'), { status: 409 });
      for (const [key, value] of Object.entries(changes))
        if (value === null) delete records[key];
        else records[key] = value;
      return String(++version);
    },
  };
  return { ledger, records };
}

const ledgers = new Map<AutoscalerClient, HoldLedger>();

function fakeClient(
  autoscalers: Autoscaler[],
  options: { failPatch?: string; failList?: boolean; keda?: boolean; trusted?: boolean; policy?: boolean } = {},
) {
  const patches: { kind: string; name: string; resourceVersion: string; body: unknown }[] = [];
  const probes: string[] = [];
  const client: AutoscalerClient = {
    async list() {
      if (options.failList) throw new Error('listing the HorizontalPodAutoscalers in shop: HTTP 403: forbidden');
      return { autoscalers, keda: options.keda ?? true };
    },
    deployment: async (name) => DEPLOYMENTS[name] ?? null,
    async patch(autoscaler, body) {
      if (autoscaler.name === options.failPatch)
        throw new Error(`patching ${autoscaler.kind} shop/${autoscaler.name}: HTTP 403: forbidden`);
      patches.push({ kind: autoscaler.kind, name: autoscaler.name, resourceVersion: autoscaler.resourceVersion, body });
    },
    async probeGuard(autoscaler) {
      probes.push(autoscaler.name);
      return options.policy === false
        ? { accepted: true }
        : {
            accepted: false,
            status: 422,
            message: `probing the hold policy on ${autoscaler.kind} shop/${autoscaler.name}: HTTP 422: ValidatingAdmissionPolicy 'maintenance-switch-hold' with binding 'maintenance-switch-hold' denied request`,
          };
    },
  };
  const { ledger, records } = fakeLedger(autoscalers, options.trusted);
  ledgers.set(client, ledger);
  return { client, patches, ledger, records, probes };
}

/** The client, counting its listings. */
function countingLists(client: AutoscalerClient) {
  let lists = 0;
  const counting: AutoscalerClient = {
    ...client,
    list: async () => {
      lists++;
      return client.list();
    },
  };
  return { client: counting, lists: () => lists };
}

function holdOf(client: AutoscalerClient, active: boolean | null, enabled = true, holdAfterMs: number | undefined = 0) {
  return new AutoscalingHold({
    client,
    ledger: ledgers.get(client) ?? fakeLedger([]).ledger,
    app: 'shop',
    enabled,
    active: () => active,
    clock: new FakeClock(NOW),
    log,
    ...(holdAfterMs === undefined ? {} : { holdAfterMs }),
  });
}

describe('AutoscalingHold', () => {
  it("holds, during maintenance, the app's HPAs (scale-down only) and ScaledObjects (paused at the replicas), recording what was there", async () => {
    const behavior = { scaleUp: { selectPolicy: 'Max' }, scaleDown: { selectPolicy: 'Min', stabilizationWindowSeconds: 60 } };
    const { client, patches } = fakeClient([
      hpa('web', 'web'),
      hpa('api', 'api', { behavior }),
      hpa('blog', 'blog'),
      hpa('admin', 'admin'),
      hpa('keda-hpa-worker', 'web', { madeByKeda: true }),
      hpa('gone', 'not-there'),
      scaledObject('worker', 'web', { [PAUSED_REPLICAS_ANNOTATION]: '4' }),
    ]);
    const hold = holdOf(client, true);
    await hold.reconcile();
    expect(patches).toEqual([
      {
        kind: 'HorizontalPodAutoscaler',
        name: 'web',
        resourceVersion: '7',
        body: {
          metadata: { annotations: { [HOLD_ANNOTATION]: JSON.stringify({ app: 'shop', since: NOW, replicas: 6, behavior: null }) } },
          spec: { behavior: { scaleDown: { selectPolicy: 'Disabled' } } },
        },
      },
      {
        kind: 'HorizontalPodAutoscaler',
        name: 'api',
        resourceVersion: '7',
        body: {
          metadata: { annotations: { [HOLD_ANNOTATION]: JSON.stringify({ app: 'shop', since: NOW, replicas: 3, behavior }) } },
          spec: { behavior: { scaleDown: { selectPolicy: 'Disabled' } } },
        },
      },
      {
        kind: 'ScaledObject',
        name: 'worker',
        resourceVersion: '7',
        body: {
          metadata: {
            annotations: {
              [HOLD_ANNOTATION]: JSON.stringify({ app: 'shop', since: NOW, replicas: 6, pausedReplicas: '4' }),
              [PAUSED_REPLICAS_ANNOTATION]: '6',
            },
          },
        },
      },
    ]);
    expect(hold.status()).toMatchObject({
      state: 'held',
      held: [
        { kind: 'HorizontalPodAutoscaler', name: 'web', deployment: 'web', replicas: 6, since: NOW },
        { kind: 'HorizontalPodAutoscaler', name: 'api', deployment: 'api', replicas: 3, since: NOW },
        { kind: 'ScaledObject', name: 'worker', deployment: 'web', replicas: 6, since: NOW },
      ],
      problems: [],
      keda: true,
    });
  });

  it('puts back exactly what it recorded once maintenance is off, and removes the record', async () => {
    const behavior = { scaleDown: { selectPolicy: 'Min' } };
    const record = (extra: object) => JSON.stringify({ since: NOW, replicas: 6, ...extra });
    const { client, patches } = fakeClient([
      hpa('web', 'web', {
        annotations: { [HOLD_ANNOTATION]: record({ behavior: null }) },
        behavior: { scaleDown: { selectPolicy: 'Disabled' } },
      }),
      hpa('api', 'api', {
        annotations: { [HOLD_ANNOTATION]: record({ behavior }) },
        behavior: { scaleDown: { selectPolicy: 'Disabled' } },
      }),
      scaledObject('worker', 'web', { [HOLD_ANNOTATION]: record({ pausedReplicas: null }), [PAUSED_REPLICAS_ANNOTATION]: '6' }),
      hpa('untouched', 'web'),
    ]);
    const hold = holdOf(client, false);
    await hold.reconcile();
    expect(patches.map((patch) => [patch.name, patch.body])).toEqual([
      ['web', { metadata: { annotations: { [HOLD_ANNOTATION]: null } }, spec: { behavior: null } }],
      ['api', { metadata: { annotations: { [HOLD_ANNOTATION]: null } }, spec: { behavior } }],
      ['worker', { metadata: { annotations: { [HOLD_ANNOTATION]: null, [PAUSED_REPLICAS_ANNOTATION]: null } } }],
    ]);
    expect(hold.status()).toMatchObject({ state: 'released', held: [], problems: [] });
  });

  it('after maintenance, keeps an HPA held for its scale-down window, recorded on it, and a ScaledObject not at all', async () => {
    const clock = new FakeClock(NOW);
    const record = (extra: object) => JSON.stringify({ app: 'shop', since: NOW, replicas: 6, ...extra });
    const objects = [
      hpa('web', 'web', { annotations: { [HOLD_ANNOTATION]: record({ behavior: null }) } }),
      hpa('api', 'api', {
        annotations: { [HOLD_ANNOTATION]: record({ behavior: { scaleDown: { stabilizationWindowSeconds: 60, selectPolicy: 'Min' } } }) },
      }),
      scaledObject('worker', 'web', { [HOLD_ANNOTATION]: record({ pausedReplicas: null }), [PAUSED_REPLICAS_ANNOTATION]: '6' }),
    ];
    const { client, patches, ledger } = fakeClient(objects);
    // The fake applies annotation patches, as the API server would.
    const applying: AutoscalerClient = {
      ...client,
      async patch(target, body) {
        await client.patch(target, body);
        const object = objects.find((candidate) => candidate.name === target.name)!;
        const annotations: Record<string, string> = { ...object.annotations };
        for (const [key, value] of Object.entries(body.metadata?.annotations ?? {}))
          if (value === null) delete annotations[key];
          else annotations[key] = value;
        object.annotations = annotations;
      },
    };
    let active = false;
    const hold = new AutoscalingHold({ client: applying, ledger, app: 'shop', enabled: true, active: () => active, clock, log });
    await hold.reconcile();
    const ended = NOW;
    expect(patches.map((patch) => [patch.name, patch.body])).toEqual([
      ['web', { metadata: { annotations: { [HOLD_ANNOTATION]: record({ behavior: null, endedAt: ended }) } } }],
      [
        'api',
        {
          metadata: {
            annotations: {
              [HOLD_ANNOTATION]: record({
                behavior: { scaleDown: { stabilizationWindowSeconds: 60, selectPolicy: 'Min' } },
                endedAt: ended,
              }),
            },
          },
        },
      ],
      ['worker', { metadata: { annotations: { [HOLD_ANNOTATION]: null, [PAUSED_REPLICAS_ANNOTATION]: null } } }],
    ]);
    expect(hold.status()).toMatchObject({
      state: 'held',
      held: [
        { name: 'web', releasesAt: '2026-12-01T09:05:00.000Z' },
        { name: 'api', releasesAt: '2026-12-01T09:01:00.000Z' },
      ],
    });
    // Its own timer looks again when the first window ends: api goes, web stays.
    clock.advanceTo(Date.parse('2026-12-01T09:01:00.000Z'));
    await settle();
    expect(patches.slice(3).map((patch) => [patch.name, patch.body])).toEqual([
      [
        'api',
        {
          metadata: { annotations: { [HOLD_ANNOTATION]: null } },
          spec: { behavior: { scaleDown: { stabilizationWindowSeconds: 60, selectPolicy: 'Min' } } },
        },
      ],
    ]);
    // Maintenance on again before web's release: held as before, its end forgotten.
    active = true;
    await hold.reconcile();
    expect(patches.slice(4).find((patch) => patch.name === 'web')).toMatchObject({
      name: 'web',
      body: {
        metadata: { annotations: { [HOLD_ANNOTATION]: record({ behavior: null }) } },
        spec: { behavior: { scaleDown: { selectPolicy: 'Disabled' } } },
      },
    });
    expect(hold.status().held).toContainEqual(expect.objectContaining({ name: 'web', releasesAt: null }));
    hold.stop();
  });

  it('holds again an HPA whose hold a re-apply dropped, keeping the first record, and leaves one still held alone', async () => {
    const first = JSON.stringify({ since: '2026-12-01T08:00:00.000Z', replicas: 8, behavior: null });
    const { client, patches } = fakeClient([
      hpa('web', 'web', { annotations: { [HOLD_ANNOTATION]: first }, behavior: { scaleDown: { selectPolicy: 'Max' } } }),
      hpa('api', 'api', { annotations: { [HOLD_ANNOTATION]: first }, behavior: { scaleDown: { selectPolicy: 'Disabled' } } }),
    ]);
    const hold = holdOf(client, true);
    await hold.reconcile();
    expect(patches.map((patch) => patch.name)).toEqual(['web']);
    expect(patches[0]!.body).toMatchObject({ metadata: { annotations: { [HOLD_ANNOTATION]: first } } });
    expect(hold.status()).toMatchObject({
      reasserted: 1,
      held: [{ name: 'web', replicas: 8, since: '2026-12-01T08:00:00.000Z' }, { name: 'api' }],
    });
  });

  it('keeps each record in its ledger before it changes the object, and forgets it once released', async () => {
    const { client, records } = fakeClient([hpa('web', 'web')]);
    await holdOf(client, true).reconcile();
    expect(records).toEqual({
      'HorizontalPodAutoscaler.web': JSON.stringify({ app: 'shop', since: NOW, replicas: 6, behavior: null }),
    });
    const released = fakeClient([
      hpa('web', 'web', { annotations: { [HOLD_ANNOTATION]: records['HorizontalPodAutoscaler.web']! } }),
      // Deleted during maintenance: its record goes too.
    ]);
    released.records['HorizontalPodAutoscaler.gone'] = records['HorizontalPodAutoscaler.web']!;
    await holdOf(released.client, false).reconcile();
    expect(released.records).toEqual({});
  });

  it('never acts on a record planted on the object: not released from it, no timer for it, reported', async () => {
    // Someone who may edit HPAs wrote a record that would disable scale-up at "release", in 30 days.
    const planted = JSON.stringify({
      app: 'shop',
      since: NOW,
      replicas: 1,
      behavior: { scaleUp: { selectPolicy: 'Disabled' } },
      endedAt: '2026-12-31T00:00:00.000Z',
    });
    const { client, patches, records } = fakeClient([hpa('web', 'web', { annotations: { [HOLD_ANNOTATION]: planted } })], {
      trusted: false,
    });
    const clock = new FakeClock(NOW);
    const hold = new AutoscalingHold({ client, ledger: ledgers.get(client)!, app: 'shop', enabled: true, active: () => false, clock, log });
    await hold.reconcile();
    expect(patches).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
    expect(hold.status()).toMatchObject({ state: 'released', held: [] });
    expect(hold.status().problems).toEqual([
      {
        kind: 'HorizontalPodAutoscaler',
        name: 'web',
        problem: expect.stringContaining('not in ConfigMap shop/shop-maintenance-hold'),
      },
    ]);

    // During maintenance it records what is really there, and will put back that, never the plant.
    const during = new AutoscalingHold({
      client,
      ledger: ledgers.get(client)!,
      app: 'shop',
      enabled: true,
      active: () => true,
      clock,
      log,
    });
    await during.reconcile();
    expect(JSON.parse(records['HorizontalPodAutoscaler.web']!)).toEqual({ app: 'shop', since: NOW, replicas: 6, behavior: null });
    expect(patches.map((patch) => patch.body)).toEqual([
      {
        metadata: { annotations: { [HOLD_ANNOTATION]: records['HorizontalPodAutoscaler.web'] } },
        spec: { behavior: { scaleDown: { selectPolicy: 'Disabled' } } },
      },
    ]);
  });

  it('does nothing before the switch is known, so a restart never drops the hold of a maintenance still on', async () => {
    const { client, patches } = fakeClient([
      hpa('web', 'web', { annotations: { [HOLD_ANNOTATION]: JSON.stringify({ since: NOW, replicas: 6 }) } }),
    ]);
    await holdOf(client, null).reconcile();
    expect(patches).toEqual([]);
  });

  it('with AUTOSCALING_HOLD=off holds nothing, and releases a hold left from before', async () => {
    const { client, patches } = fakeClient([
      hpa('web', 'web', { annotations: { [HOLD_ANNOTATION]: JSON.stringify({ since: NOW, replicas: 6, behavior: null }) } }),
      hpa('api', 'api'),
    ]);
    const hold = holdOf(client, true, false);
    await hold.reconcile();
    expect(patches.map((patch) => patch.name)).toEqual(['web']);
    expect(hold.status()).toMatchObject({ state: 'off', held: [] });
  });

  it('names each autoscaler it could not patch, and a listing that failed, and goes on with the others', async () => {
    const { client, patches } = fakeClient([hpa('web', 'web'), hpa('api', 'api')], { failPatch: 'web' });
    const hold = holdOf(client, true);
    await hold.reconcile();
    expect(patches.map((patch) => patch.name)).toEqual(['api']);
    expect(hold.status().problems).toEqual([
      { kind: 'HorizontalPodAutoscaler', name: 'web', problem: 'patching HorizontalPodAutoscaler shop/web: HTTP 403: forbidden' },
    ]);
    expect(hold.status().held.map((held) => held.name)).toEqual(['api']);

    const failing = holdOf(fakeClient([], { failList: true }).client, true);
    await failing.reconcile();
    expect(failing.status().problems).toEqual([{ problem: 'listing the HorizontalPodAutoscalers in shop: HTTP 403: forbidden' }]);
  });

  it('looks again when an autoscaler changed since its listing (409), without calling it a problem', async () => {
    let version = 7;
    const autoscaler = () => hpa('web', 'web', { resourceVersion: String(version) });
    const patched: string[] = [];
    const client: AutoscalerClient = {
      list: async () => ({ autoscalers: [autoscaler()], keda: false }),
      deployment: async (name) => DEPLOYMENTS[name] ?? null,
      async patch(target) {
        if (target.resourceVersion === '7') {
          version = 8;
          throw Object.assign(new Error('patching HorizontalPodAutoscaler shop/web: HTTP 409: conflict'), { status: 409 });
        }
        patched.push(target.resourceVersion);
      },
      probeGuard: async () => ({ accepted: true }),
    };
    const hold = holdOf(client, true);
    await hold.reconcile();
    expect(patched).toEqual(['8']);
    expect(hold.status()).toMatchObject({ problems: [], held: [{ name: 'web' }] });
  });

  it('runs one look at a time, and one more for calls made during it', async () => {
    const { client: counting, lists } = countingLists(fakeClient([]).client);
    const hold = holdOf(counting, true);
    await Promise.all([hold.reconcile(), hold.reconcile(), hold.reconcile()]);
    expect(lists()).toBe(2);
  });

  it('says whether the cluster part confines its patches, checked on an autoscaler of the app every 5 minutes, and holds either way', async () => {
    const unguarded = fakeClient([hpa('blog', 'blog'), hpa('web', 'web')], { policy: false });
    const clock = new FakeClock(NOW);
    const hold = new AutoscalingHold({
      client: unguarded.client,
      ledger: unguarded.ledger,
      app: 'shop',
      enabled: true,
      active: () => true,
      clock,
      log,
    });
    expect(hold.status().guard).toMatchObject({ state: 'unknown' });
    await hold.reconcile();
    expect(unguarded.probes).toEqual(['web']);
    expect(hold.status().guard).toMatchObject({
      state: 'unguarded',
      problem: expect.stringContaining('kubectl apply -k kustomize/cluster'),
    });
    expect(hold.status().held.map((held) => held.name)).toEqual(['web']);
    await hold.reconcile();
    expect(unguarded.probes).toEqual(['web']);
    clock.advanceTo(Date.parse(NOW) + 5 * 60_000);
    await hold.reconcile();
    expect(unguarded.probes).toEqual(['web', 'web']);

    const guarded = fakeClient([hpa('web', 'web')]);
    const confined = holdOf(guarded.client, false);
    await confined.reconcile();
    expect(confined.status().guard).toEqual({ state: 'guarded', checkedAt: NOW });

    const none = fakeClient([hpa('blog', 'blog')], { policy: false });
    const nothingToCheck = holdOf(none.client, true);
    await nothingToCheck.reconcile();
    expect(none.probes).toEqual([]);
    expect(nothingToCheck.status().guard).toMatchObject({ state: 'unknown' });
    expect(holdOf(none.client, true, false).status().guard).toMatchObject({ state: 'off' });
  });
});

describe('AutoscalingHold.follow', () => {
  it('looks when maintenance starts or ends and every 30 s; with the hold off, once; stopped, never again', async () => {
    const { client: counting, lists } = countingLists(fakeClient([]).client);
    const clock = new FakeClock(NOW);
    const flips = new Set<() => void>();
    const onActiveChange = (listener: () => void) => {
      flips.add(listener);
      return () => flips.delete(listener);
    };
    const hold = new AutoscalingHold({
      client: counting,
      ledger: fakeLedger([]).ledger,
      app: 'shop',
      enabled: true,
      active: () => true,
      clock,
      log,
    });
    const { firstLook, stop } = hold.follow({ onActiveChange });
    await firstLook;
    expect(lists()).toBe(1);
    const settle = async () => {
      for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    };
    for (const flip of flips) flip();
    await settle();
    expect(lists()).toBe(2);
    clock.advanceTo(Date.parse(NOW) + 30_000);
    await settle();
    expect(lists()).toBe(3);
    stop();
    expect(flips.size).toBe(0);
    clock.advanceTo(Date.parse(NOW) + 120_000);
    expect(lists()).toBe(3);

    const off = new AutoscalingHold({
      client: counting,
      ledger: fakeLedger([]).ledger,
      app: 'shop',
      enabled: false,
      active: () => false,
      clock,
      log,
    });
    await off.follow({ onActiveChange }).firstLook;
    expect(lists()).toBe(4);
    expect(flips.size).toBe(0);
  });
});

describe('parseHoldRecord', () => {
  it('reads a record, and nothing else', () => {
    expect(parseHoldRecord(JSON.stringify({ since: NOW, replicas: 2, behavior: null }))).toEqual({
      since: NOW,
      replicas: 2,
      behavior: null,
    });
    expect(parseHoldRecord(undefined)).toBeNull();
    expect(parseHoldRecord('not json')).toBeNull();
    expect(parseHoldRecord('{"since":1}')).toBeNull();
  });
});
