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

describe.skipIf(skipReason !== null)('the production overlay: the page tier follows the fleet, on a real node', () => {
  afterAll(async () => {
    if (skipReason === null) await resetNamespace();
  });

  it('answers every request during four flips with the app or the 503 page; the admin API shows each convergence', async () => {
    await resetNamespace();
    // The production overlay as it is (the HPA keeps two user pods), with the image built here.
    await kubectl(['apply', '-k', join(ROOT, 'test/cluster/fixtures/production-local')]);
    for (const name of ['sample-app-user', 'sample-app-maintenance-admin']) {
      await kubectl(['rollout', 'status', `deployment/${name}`, '-n', NAMESPACE, '--timeout=300s']);
    }
    // The page pods are Ready only while no user pod serves, so they are waited for as running.
    await waitFor(
      'the two page pods running, and the HPA at two user pods',
      async () => {
        const [page, users] = await Promise.all([pods('page'), pods('user')]);
        const running = page.filter((pod) => (pod.status as { phase?: string }).phase === 'Running');
        return running.length === 2 && users.length === 2 ? true : undefined;
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
    const adminIp = await clusterIp('sample-app-maintenance-admin');
    const fleet = async () => {
      const response = await fetch(`http://${adminIp}:8080/admin/api/maintenance`, { headers: { Authorization: `Bearer ${token}` } });
      return (
        (await response.json()) as { fleet: { converged: boolean; convergenceSeconds: number | null; serving: number; notServing: number } }
      ).fleet;
    };

    const publicIp = await clusterIp('sample-app-maintenance-public');
    const watch = watchReadyEndpoints(kubectlBinary(), kubeconfig(), NAMESPACE, 'sample-app-maintenance-public');
    await waitFor(
      'the public Service on the user pods',
      async () => {
        const [slice, users] = await Promise.all([endpoints('sample-app-maintenance-public'), pods('user')]);
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
            const [slice, users, page] = await Promise.all([endpoints('sample-app-maintenance-public'), pods('user'), pods('page')]);
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
    expect(page.items).toHaveLength(2);
  });
});
