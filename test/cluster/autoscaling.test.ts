import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { NAMESPACE, ROOT, clusterIp, get, getJson, kubectl, resetNamespace, setMode, skipReason } from './node.ts';

// The autoscaling hold on the real node: the production overlay's HPA (with the test's own
// 30 s scale-down stabilisation, test/cluster/fixtures/production-hold), the node's HPA
// controller, and metrics-server scraping the kubelet for real CPU. A bounded load through the
// user Service scales the fleet up; maintenance then makes it idle. Held, it keeps its pods past
// the stabilisation plus two HPA syncs; with AUTOSCALING_HOLD=off the same sequence shrinks it
// to minReplicas (the proof that this test can fail). The replica counts over time are printed.
const FIXTURE = join(ROOT, 'test/cluster/fixtures/production-hold');
const HPA = 'sample-app-user';
const HOLD = 'maintenance-switch.dev/autoscaling-hold';
const MIN_REPLICAS = 2;
const AT_LEAST = 4;
/** The fixture's scale-down stabilisation, two HPA syncs (15 s each) and one metrics resolution (15 s). */
const WATCH_MS = (30 + 2 * 15 + 15) * 1_000;
const ROLLOUT = { timeoutMs: 300_000, intervalMs: 1_000 };

interface Hpa {
  metadata: { annotations?: Record<string, string> };
  spec: { behavior?: { scaleDown?: { selectPolicy?: string } } };
  status: {
    currentReplicas?: number;
    currentMetrics?: { resource?: { current?: { averageUtilization?: number } } }[] | null;
    conditions?: { type: string; status: string; reason?: string }[];
  };
}

const hpa = () => getJson<Hpa>(['get', 'hpa', HPA, '-n', NAMESPACE]);
const userReplicas = async () =>
  (await getJson<{ spec: { replicas: number } }>(['get', 'deployment', 'sample-app-user', '-n', NAMESPACE])).spec.replicas;
const scaleAdmin = (replicas: number) =>
  kubectl(['scale', 'deployment/sample-app-maintenance-admin', '-n', NAMESPACE, `--replicas=${replicas}`]);

/** Replica counts over time (each change, the events marked, and the last sample), for the printed record. */
class Timeline {
  readonly #start = Date.now();
  readonly #entries: string[] = [];
  #last: { at: number; replicas: number } | null = null;
  #lastWritten: number | null = null;
  async sample(): Promise<number> {
    const replicas = await userReplicas();
    this.#last = { at: this.#seconds(), replicas };
    if (this.#lastWritten !== replicas) {
      this.#entries.push(`${this.#last.at}s ${replicas}`);
      this.#lastWritten = replicas;
    }
    return replicas;
  }
  mark(event: string): void {
    this.#entries.push(`${this.#seconds()}s [${event}]`);
  }
  toString(): string {
    const last = this.#last ? `${this.#last.at}s ${this.#last.replicas}` : '';
    return [...this.#entries, ...(this.#entries.at(-1) === last ? [] : [last])].join(', ');
  }
  #seconds(): number {
    return Math.round((Date.now() - this.#start) / 1000);
  }
}

/** A bounded load through the user Service (count and time), until the HPA has scaled to `atLeast` Ready pods. */
async function loadUntil(atLeast: number, timeline: Timeline): Promise<number> {
  const address = await clusterIp('sample-app-user');
  let sent = 0;
  let done = false;
  const deadline = Date.now() + 300_000;
  const loops = Array.from({ length: 16 }, async () => {
    while (!done && sent < 2_000_000 && Date.now() < deadline) {
      sent++;
      await get(`http://${address}:8080/`).catch(() => null);
    }
  });
  try {
    return await waitFor(
      `the HPA to scale the user tier to ${atLeast} Ready pods under load`,
      async () => {
        const replicas = await timeline.sample();
        const ready =
          (await getJson<{ status: { readyReplicas?: number } }>(['get', 'deployment', 'sample-app-user', '-n', NAMESPACE])).status
            .readyReplicas ?? 0;
        return replicas >= atLeast && ready >= replicas ? replicas : undefined;
      },
      ROLLOUT,
    );
  } finally {
    done = true;
    await Promise.all(loops);
    console.log(`[autoscaling] load: ${sent} requests`);
  }
}

/** Samples the replicas every few seconds for `ms`; returns the lowest seen. */
async function watchReplicas(ms: number, timeline: Timeline): Promise<number> {
  const until = Date.now() + ms;
  let lowest = Number.POSITIVE_INFINITY;
  while (Date.now() < until) {
    lowest = Math.min(lowest, await timeline.sample());
    await new Promise((resolve) => setTimeout(resolve, 3_000));
  }
  return lowest;
}

const isHeld = (view: Hpa) => view.metadata.annotations?.[HOLD] !== undefined && view.spec.behavior?.scaleDown?.selectPolicy === 'Disabled';

describe.skipIf(skipReason !== null)('the autoscaling hold on a real node, with the HPA controller and metrics-server', () => {
  /** The HPA's spec as the user applied it. */
  let applied = '';

  it('the HPA acts on real CPU from metrics-server', async () => {
    await resetNamespace();
    await kubectl(['apply', '-k', FIXTURE]);
    for (const name of ['sample-app-user', 'sample-app-maintenance-admin'])
      await kubectl(['rollout', 'status', `deployment/${name}`, '-n', NAMESPACE, '--timeout=300s']);
    applied = JSON.stringify((await hpa()).spec);
    const pods = await waitFor(
      'CPU of the user pods from metrics.k8s.io',
      async () => {
        const list = JSON.parse(
          await kubectl([
            'get',
            '--raw',
            `/apis/metrics.k8s.io/v1beta1/namespaces/${NAMESPACE}/pods?labelSelector=app.kubernetes.io/component%3Duser`,
          ]),
        ) as { items: { metadata: { name: string }; containers: { usage: { cpu: string } }[] }[] };
        return list.items.length >= MIN_REPLICAS ? list.items : undefined;
      },
      ROLLOUT,
    );
    console.log(`[autoscaling] metrics-server: ${pods.map((pod) => `${pod.metadata.name} ${pod.containers[0]?.usage.cpu}`).join(', ')}`);
    const active = await waitFor(
      'the HPA to read the metrics',
      async () => {
        const view = await hpa();
        return view.status.conditions?.some((condition) => condition.type === 'ScalingActive' && condition.status === 'True')
          ? view
          : undefined;
      },
      ROLLOUT,
    );
    expect(active.status.currentMetrics?.[0]?.resource?.current?.averageUtilization).toBeTypeOf('number');
  });

  it(`held: at ${AT_LEAST}+ pods when maintenance starts, the fleet keeps them past the stabilisation and two syncs, and the HPA is given back as applied`, async () => {
    const timeline = new Timeline();
    const scaled = await loadUntil(AT_LEAST, timeline);
    timeline.mark('load stopped, maintenance on');
    await setMode('true');
    const held = await waitFor('the admin to hold the HPA', async () => {
      const view = await hpa();
      return isHeld(view) ? view : undefined;
    });
    // The count the hold found: the HPA may have added a pod since the load stopped, on metrics a window old.
    const record = JSON.parse(held.metadata.annotations![HOLD]!) as { app: string; replicas: number };
    expect(record.app).toBe('sample-app');
    expect(record.replicas).toBeGreaterThanOrEqual(scaled);
    timeline.mark(`held at ${record.replicas}`);
    const lowest = await watchReplicas(WATCH_MS, timeline);
    expect(lowest).toBeGreaterThanOrEqual(record.replicas);

    // Maintenance ends with the fleet it started with, and the hold stays for the HPA's 30 s
    // window, so the idle maintenance ages out of its recommendations before it may scale down.
    expect(await timeline.sample()).toBeGreaterThanOrEqual(record.replicas);
    timeline.mark('maintenance off');
    await setMode('false');
    let afterOff = Number.POSITIVE_INFINITY;
    const released = await waitFor(
      'the hold released after the window',
      async () => {
        // The count first, then the hold: a count read after a look that saw the hold could
        // come from after the release, when the idle HPA may already have scaled down.
        const replicas = await timeline.sample();
        const view = await hpa();
        if (view.metadata.annotations?.[HOLD] !== undefined) {
          afterOff = Math.min(afterOff, replicas);
          return undefined;
        }
        return view;
      },
      ROLLOUT,
    );
    timeline.mark('released');
    expect(afterOff).toBeGreaterThanOrEqual(record.replicas);
    expect(JSON.stringify(released.spec)).toBe(applied);
    await watchReplicas(20_000, timeline);
    console.log(`[autoscaling] held: replicas over time: ${timeline}`);
  });

  it('not held (AUTOSCALING_HOLD=off): the same sequence shrinks the fleet to minReplicas', async () => {
    await kubectl(['set', 'env', 'deployment/sample-app-maintenance-admin', '-n', NAMESPACE, 'AUTOSCALING_HOLD=off']);
    await kubectl(['rollout', 'status', 'deployment/sample-app-maintenance-admin', '-n', NAMESPACE, '--timeout=300s']);
    const timeline = new Timeline();
    await loadUntil(AT_LEAST, timeline);
    timeline.mark('load stopped, maintenance on');
    await setMode('true');
    await waitFor(
      `the fleet to shrink to ${MIN_REPLICAS}`,
      async () => ((await timeline.sample()) === MIN_REPLICAS ? true : undefined),
      ROLLOUT,
    );
    console.log(`[autoscaling] not held: replicas over time: ${timeline}`);
    expect((await hpa()).metadata.annotations?.[HOLD]).toBeUndefined();
    await setMode('false');
    await kubectl(['set', 'env', 'deployment/sample-app-maintenance-admin', '-n', NAMESPACE, 'AUTOSCALING_HOLD-']);
    await kubectl(['rollout', 'status', 'deployment/sample-app-maintenance-admin', '-n', NAMESPACE, '--timeout=300s']);
  });

  it('an admin that was down when maintenance ended (kubectl edit) gives the HPA back when it starts again', async () => {
    await setMode('true');
    await waitFor('the admin to hold the HPA', async () => (isHeld(await hpa()) ? true : undefined), ROLLOUT);
    await scaleAdmin(0);
    await waitFor(
      'no admin pod left',
      async () =>
        (await getJson<{ items: unknown[] }>(['get', 'pods', '-n', NAMESPACE, '-l', 'app.kubernetes.io/component=admin'])).items.length ===
        0
          ? true
          : undefined,
      ROLLOUT,
    );
    await kubectl(['edit', 'configmap', 'app-config', '-n', NAMESPACE], {
      env: { KUBE_EDITOR: `sed -i -e 's/MAINTENANCE_MODE: "true"/MAINTENANCE_MODE: "false"/'` },
    });
    expect(isHeld(await hpa())).toBe(true);
    await scaleAdmin(1);
    const released = await waitFor(
      'the restarted admin to release the hold',
      async () => {
        const view = await hpa();
        return view.metadata.annotations?.[HOLD] === undefined ? view : undefined;
      },
      ROLLOUT,
    );
    expect(JSON.stringify(released.spec)).toBe(applied);
  });
});
