import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { watchReadyEndpoints } from '../../scripts/lib/endpoint-watch.ts';
import {
  NAMESPACE,
  ROOT,
  clusterIp,
  endpoints,
  get,
  getJson,
  kubeconfig,
  kubectl,
  kubectlBinary,
  pods,
  resetNamespace,
  setMode,
  since,
  skipReason,
} from './node.ts';

// No moment without an answer: around each flip, every request to the public Service gets the
// application or the 503 page, never a refused connection; the admin tier sees the fleet follow.
// No assertion is about time; the times are printed.
const FLIP_WAIT = { timeoutMs: 120_000, intervalMs: 200 };

describe.skipIf(skipReason !== null)('the page tier follows the fleet, on a real node (local-full: api-watch and maintenance-page)', () => {
  afterAll(async () => {
    if (skipReason === null) await resetNamespace();
  });

  it('answers every request during four flips with the app or the 503 page; the admin API shows each convergence', async () => {
    const crds = process.env.GATEWAY_API_CRDS;
    if (!crds) throw new Error('GATEWAY_API_CRDS is not set (bash scripts/envtest/gateway-api-crds.sh)');
    await resetNamespace();
    await kubectl(['apply', '--server-side', '-f', crds]);
    await kubectl(['wait', '--for=condition=Established', 'crd/httproutes.gateway.networking.k8s.io', '--timeout=60s']);
    await kubectl(['apply', '-k', join(ROOT, 'kustomize/overlays/local-full')]);
    for (const name of ['sample-app-user', 'sample-app-admin']) {
      await kubectl(['rollout', 'status', `deployment/${name}`, '-n', NAMESPACE, '--timeout=300s']);
    }
    // The page pod is Ready only while no user pod serves, so it is waited for as running.
    await waitFor(
      'the page pod running',
      async () => {
        const page = await pods('page');
        return page.length === 1 && (page[0]!.status as { phase?: string }).phase === 'Running' ? true : undefined;
      },
      FLIP_WAIT,
    );
    // An operator who may read the state, for the admin API.
    await kubectl(['create', 'serviceaccount', 'watcher', '-n', NAMESPACE]);
    await kubectl([
      'create',
      'role',
      'app-config-reader',
      '-n',
      NAMESPACE,
      '--verb=get',
      '--resource=configmaps',
      '--resource-name=app-config',
    ]);
    await kubectl([
      'create',
      'rolebinding',
      'watcher',
      '-n',
      NAMESPACE,
      '--role=app-config-reader',
      `--serviceaccount=${NAMESPACE}:watcher`,
    ]);
    const token = (await kubectl(['create', 'token', 'watcher', '-n', NAMESPACE])).trim();
    const adminIp = await clusterIp('sample-app-admin');
    const fleet = async () => {
      const response = await fetch(`http://${adminIp}:8080/admin/api/maintenance`, { headers: { Authorization: `Bearer ${token}` } });
      return (
        (await response.json()) as { fleet: { converged: boolean; convergenceSeconds: number | null; serving: number; notServing: number } }
      ).fleet;
    };

    const publicIp = await clusterIp('sample-app-public');
    const watch = watchReadyEndpoints(kubectlBinary(), kubeconfig(), NAMESPACE, 'sample-app-public');
    await waitFor(
      'the public Service on the user pods',
      async () => {
        const [slice, users] = await Promise.all([endpoints('sample-app-public'), pods('user')]);
        const ready = [...slice].filter(([, isReady]) => isReady).map(([address]) => address);
        return ready.length === 2 && ready.every((address) => users.some((pod) => pod.status.podIP === address)) ? true : undefined;
      },
      FLIP_WAIT,
    );

    // A bounded loop of requests, each on a fresh connection, so kube-proxy picks anew each time.
    const answers = { app: 0, page: 0 };
    const failures: string[] = [];
    let stop = false;
    const deadline = Date.now() + 600_000;
    const loop = async () => {
      while (!stop && Date.now() < deadline && answers.app + answers.page + failures.length < 40_000) {
        const answer = await get(`http://${publicIp}:8080/`, { Accept: 'text/html' }).catch((error: Error) => ({
          status: 0,
          body: error.message,
        }));
        if (answer.status === 200 && answer.body.includes('Hello from the sample app')) answers.app++;
        else if (answer.status === 503 && answer.body.includes("We'll be back soon")) answers.page++;
        else failures.push(`${answer.status} ${answer.body.slice(0, 80)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const loops = Array.from({ length: 3 }, loop);

    const rounds: string[] = [];
    try {
      for (const on of [true, false, true, false]) {
        const start = Date.now();
        await setMode(on ? 'true' : 'false');
        // Settled: the user endpoints match, and the public Service routes to one tier only.
        await waitFor(
          `the flip to ${on ? 'on' : 'off'} to settle`,
          async () => {
            const [slice, users, page] = await Promise.all([endpoints('sample-app-public'), pods('user'), pods('page')]);
            const tier = on ? page : users;
            const ready = [...slice].filter(([, isReady]) => isReady).map(([address]) => address);
            const onlyTier = ready.length > 0 && ready.every((address) => tier.some((pod) => pod.status.podIP === address));
            const usersMatch = users.every((pod) => slice.get(pod.status.podIP ?? '') === !on);
            return onlyTier && usersMatch ? true : undefined;
          },
          FLIP_WAIT,
        );
        const view = await waitFor(
          'the admin tier to see the convergence',
          async () => {
            const current = await fleet();
            return current.converged ? current : undefined;
          },
          FLIP_WAIT,
        );
        rounds.push(
          `${on ? 'on ' : 'off'}: settled ${since(start)}, admin convergence ${view.convergenceSeconds} s, public Service empty ${watch.emptyMs(start)} ms (its ready count changed ${watch.changes} times so far)`,
        );
      }
    } finally {
      stop = true;
      await Promise.all(loops);
      watch.stop();
    }
    console.log(
      `[no moment without an answer]\n  ${rounds.join('\n  ')}\n  requests: ${answers.app} app, ${answers.page} 503 page, ${failures.length} failed${failures.length ? `: ${[...new Set(failures)].slice(0, 5).join('; ')}` : ''}`,
    );
    expect(failures).toEqual([]);
    // The watch followed the flips (user pods out and in, the page pod in and out).
    expect(watch.changes).toBeGreaterThan(4);
    expect(answers.app).toBeGreaterThan(0);
    expect(answers.page).toBeGreaterThan(0);
    const page = await getJson<{ items: { metadata: { name: string } }[] }>([
      'get',
      'pods',
      '-n',
      NAMESPACE,
      '-l',
      'app.kubernetes.io/component=page',
    ]);
    expect(page.items).toHaveLength(1);
  });
});
