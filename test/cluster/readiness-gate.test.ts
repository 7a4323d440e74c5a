import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchReadyEndpoints, type ReadyWatch } from '../../scripts/lib/endpoint-watch.ts';
import { copyRecipe, removeRecipes } from '../../scripts/lib/recipe.ts';
import { operatorToken as createOperatorToken, SWITCH_METHODS, type SwitchMethod, writeSwitch } from '../../scripts/lib/switch-writers.ts';
import { waitFor } from '../helpers/wait.ts';
import { clusterIp, get, getJson, isReady, kubeconfig, kubectl, kubectlBinary, podsMatching, since, skipReason, type Pod } from './node.ts';

// The sidecar-free mode on a real node: the README's recipe with components/readiness-gate in
// place of components/gate, your app (Debian's nginx) at 10 replicas with no container of ours.
// The admin sets maintenance-switch.dev/serving on each pod; the kubelet folds it into Ready, and
// the EndpointSlice controller takes the pods out and back. The public Service is watched through
// its EndpointSlices the whole time: it must never be without a ready endpoint. No assertion is
// about time; the times are printed.
const NS = 'sidecar-free';
const APP = 'shop';
const REPLICAS = 10;
const SERVING = 'maintenance-switch.dev/serving';
const WAIT = { timeoutMs: 300_000, intervalMs: 200 };

const appPods = () => podsMatching('app=web', NS);
const servingOf = (pod: Pod) => pod.status.conditions?.find((condition) => condition.type === SERVING)?.status ?? null;
const containersOf = (pod: Pod) => {
  const spec = pod.spec as { containers: { name: string }[]; initContainers?: { name: string }[] };
  return [...(spec.initContainers ?? []), ...spec.containers].map((container) => container.name);
};

/** The ready endpoints of a Service, by address. */
async function readyAddresses(service: string): Promise<string[]> {
  const slices = await getJson<{ items: { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] }[] }>([
    'get',
    'endpointslices',
    '-n',
    NS,
    '-l',
    `kubernetes.io/service-name=${service}`,
  ]);
  return slices.items.flatMap((slice) =>
    (slice.endpoints ?? []).filter((endpoint) => endpoint.conditions?.ready !== false).map((endpoint) => endpoint.addresses[0]!),
  );
}

describe.skipIf(skipReason !== null)('the sidecar-free mode on a real node (components/readiness-gate), 10 replicas', () => {
  let publicWatch: ReadyWatch;
  let operatorToken = '';
  let adminUrl = '';

  const write = (on: boolean, method: SwitchMethod) =>
    writeSwitch(
      on,
      method,
      { kubectl, kubectlBinary: kubectlBinary(), kubeconfig: kubeconfig(), namespace: NS, app: APP, adminUrl, token: operatorToken },
      'the sidecar-free test',
    );

  /** Maintenance on: no pod of the app in its Service, the page tier in the public one. Off: every pod back, the page tier out. */
  const settled = async (on: boolean, replicas = REPLICAS) => {
    const [pods, pages, app, publicReady] = await Promise.all([
      appPods(),
      podsMatching('maintenance-switch.dev/tier=page', NS),
      readyAddresses('web'),
      readyAddresses(`${APP}-maintenance-public`),
    ]);
    const pageIps = new Set(pages.map((pod) => pod.status.podIP));
    if (pods.length !== replicas) return undefined;
    if (on) return app.length === 0 && publicReady.length > 0 && publicReady.every((ip) => pageIps.has(ip)) ? true : undefined;
    return app.length === replicas && publicReady.length === replicas && publicReady.every((ip) => !pageIps.has(ip)) ? true : undefined;
  };

  beforeAll(async () => {
    if (skipReason !== null) return;
    await kubectl(['create', 'namespace', NS]);
    const dir = copyRecipe('readiness-gate-node', {
      namespace: NS,
      app: APP,
      image: { newName: 'maintenance-switch', newTag: 'dev' },
      readinessGate: true,
    });
    await kubectl(['apply', '-k', dir]);
    await kubectl(['scale', 'deployment/web', '-n', NS, `--replicas=${REPLICAS}`]);
    // The pods of your app are Ready only once the admin has set their condition.
    for (const deployment of [`${APP}-maintenance-admin`, 'web'])
      await kubectl(['rollout', 'status', `deployment/${deployment}`, '-n', NS, '--timeout=300s']);
    operatorToken = await createOperatorToken(kubectl, NS, APP);
    adminUrl = `http://${await clusterIp(`${APP}-maintenance-admin`, NS)}:8080`;
    publicWatch = watchReadyEndpoints(kubectlBinary(), kubeconfig(), NS, `${APP}-maintenance-public`);
    await waitFor('the public Service on the app alone', () => settled(false), WAIT);
  });
  afterAll(async () => {
    if (skipReason !== null) return;
    publicWatch?.stop();
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true', '--timeout=300s']);
    removeRecipes('readiness-gate-node');
  });

  it('runs your pods with no container of ours, Ready through the condition the admin set, under a policy the API server type-checked', async () => {
    const pods = await appPods();
    expect(pods).toHaveLength(REPLICAS);
    for (const pod of pods) {
      expect(containersOf(pod)).toEqual(['web']);
      expect(servingOf(pod)).toBe('True');
      expect(isReady(pod)).toBe(true);
    }
    // The controller manager's type check of the policy: every field it names is in the Pod schema.
    const policy = await waitFor('the serving policy type-checked', async () => {
      const view = await getJson<{ status?: { typeChecking?: { expressionWarnings?: unknown[] } } }>([
        'get',
        'validatingadmissionpolicy',
        'maintenance-switch-serving',
      ]);
      return view.status?.typeChecking ? view : undefined;
    });
    expect(policy.status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
    const admins = await podsMatching('maintenance-switch.dev/tier=admin', NS);
    expect(admins.filter((pod) => isReady(pod))).toHaveLength(2);
  });

  it('flips both ways through the admin API, the plugin and kubectl edit, the public Service never empty', async () => {
    const publicUrl = `http://${await clusterIp(`${APP}-maintenance-public`, NS)}:8080`;
    const answers = { app: 0, page: 0 };
    const failures: string[] = [];
    let stop = false;
    const deadline = Date.now() + 300_000;
    // A bounded loop of requests, each on a fresh connection, so kube-proxy picks anew each time.
    const loop = async () => {
      while (!stop && Date.now() < deadline && answers.app + answers.page + failures.length < 20_000) {
        const answer = await get(publicUrl, { Accept: 'text/html' }).catch((error: Error) => ({ status: 0, body: error.message }));
        if (answer.status === 200) answers.app++;
        else if (answer.status === 503) answers.page++;
        else failures.push(`${answer.status} ${answer.body.slice(0, 80)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const loops = Array.from({ length: 3 }, loop);
    const rounds: string[] = [];
    const empty: number[] = [];
    try {
      for (const method of SWITCH_METHODS) {
        for (const on of [true, false]) {
          const start = Date.now();
          await write(on, method);
          await waitFor(`${method} ${on ? 'on' : 'off'} to settle`, () => settled(on), WAIT);
          empty.push(publicWatch.emptyMs(start));
          rounds.push(`${on ? 'on ' : 'off'} by ${method}: settled ${since(start)}, public Service empty ${empty.at(-1)} ms`);
        }
      }
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    console.log(
      `[sidecar-free, ${REPLICAS} replicas]\n  ${rounds.join('\n  ')}\n  requests: ${answers.app} app, ${answers.page} 503 page, ${failures.length} failed${failures.length ? `: ${[...new Set(failures)].slice(0, 5).join('; ')}` : ''}`,
    );
    expect(empty).toEqual([0, 0, 0, 0, 0, 0]);
    expect(failures).toEqual([]);
    expect(answers.app).toBeGreaterThan(0);
    expect(answers.page).toBeGreaterThan(0);
    // The watch followed the flips: pods out and in, the page tier in and out.
    expect(publicWatch.changes).toBeGreaterThan(6);
  });

  it('keeps the pods of a scale-up during maintenance out, with False, and lets them in when it ends', async () => {
    const start = Date.now();
    await write(true, 'plugin');
    await waitFor('maintenance on', () => settled(true), WAIT);
    const before = new Set((await appPods()).map((pod) => pod.metadata.name));
    await kubectl(['scale', 'deployment/web', '-n', NS, `--replicas=${REPLICAS + 2}`]);
    const added = await waitFor(
      'the two new pods running, with False',
      async () => {
        const fresh = (await appPods()).filter((pod) => !before.has(pod.metadata.name));
        return fresh.length === 2 && fresh.every((pod) => pod.status.podIP && servingOf(pod) === 'False') ? fresh : undefined;
      },
      WAIT,
    );
    expect(added.map(isReady)).toEqual([false, false]);
    expect(await readyAddresses('web')).toEqual([]);
    await write(false, 'plugin');
    await waitFor('every pod back, the new ones too', () => settled(false, REPLICAS + 2), WAIT);
    console.log(
      `[sidecar-free] scale-up during maintenance: settled ${since(start)}, public Service empty ${publicWatch.emptyMs(start)} ms`,
    );
    expect(publicWatch.emptyMs(start)).toBe(0);
    await kubectl(['scale', 'deployment/web', '-n', NS, `--replicas=${REPLICAS}`]);
    await waitFor('back to 10 pods', () => settled(false), WAIT);
  });

  it('with every admin gone: pods keep their condition and new ones wait; a restarted admin catches up', async () => {
    const start = Date.now();
    await write(true, 'admin API');
    await waitFor('maintenance on', () => settled(true), WAIT);
    await kubectl(['scale', `deployment/${APP}-maintenance-admin`, '-n', NS, '--replicas=0']);
    await waitFor(
      'no admin pod left',
      // Gone, not only terminating: a terminating admin still writes until it exits.
      async () =>
        (await getJson<{ items: unknown[] }>(['get', 'pods', '-n', NS, '-l', 'maintenance-switch.dev/tier=admin'])).items.length === 0
          ? true
          : undefined,
      WAIT,
    );
    // Maintenance ends while no admin runs: the pods keep False (users keep the page), and a new pod gets no condition.
    await write(false, 'kubectl edit');
    const before = new Set((await appPods()).map((pod) => pod.metadata.name));
    await kubectl(['scale', 'deployment/web', '-n', NS, `--replicas=${REPLICAS + 1}`]);
    const waiting = await waitFor(
      'the new pod running, with no condition',
      async () => (await appPods()).find((pod) => !before.has(pod.metadata.name) && pod.status.podIP) ?? undefined,
      WAIT,
    );
    expect(servingOf(waiting)).toBeNull();
    expect(isReady(waiting)).toBe(false);
    expect((await appPods()).filter((pod) => before.has(pod.metadata.name)).map(servingOf)).toEqual(Array(REPLICAS).fill('False'));
    const restart = Date.now();
    await kubectl(['scale', `deployment/${APP}-maintenance-admin`, '-n', NS, '--replicas=2']);
    await waitFor('the restarted admin to let every pod in', () => settled(false, REPLICAS + 1), WAIT);
    console.log(
      `[sidecar-free] admins back after ${since(restart)}: all ${REPLICAS + 1} pods in; public Service empty ${publicWatch.emptyMs(start)} ms`,
    );
    expect(publicWatch.emptyMs(start)).toBe(0);
    await kubectl(['rollout', 'status', `deployment/${APP}-maintenance-admin`, '-n', NS, '--timeout=300s']);
    // Through the admin Service, once kube-proxy has its new endpoints.
    const status = await waitFor(
      'the admin to answer /status with every pod written',
      async () => {
        const answer = await get(`${adminUrl}/status`).catch(() => null);
        if (answer?.status !== 200) return undefined;
        const serving = (JSON.parse(answer.body) as { serving: { guard: { state: string }; waiting: string[]; pods: number } }).serving;
        return serving.waiting.length === 0 ? serving : undefined;
      },
      WAIT,
    );
    expect(status).toMatchObject({ guard: { state: 'guarded' }, waiting: [], pods: REPLICAS + 1 });
  });
});
