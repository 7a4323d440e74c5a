import { PLUGIN_DIR } from '../../scripts/lib/plugin.ts';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import {
  NAMESPACE,
  ROOT,
  clusterIp,
  containerProcess,
  endpoints,
  get,
  getJson,
  isReady,
  kubeconfig,
  kubectl,
  kubectlBinary,
  pods,
  procFile,
  resetNamespace,
  setMode,
  since,
  skipReason,
  syncFrequency,
  type Pod,
} from './node.ts';

// One journey on one real node, in order: the demo with the volume source (the admin nudges the
// pods after each change, so the kubelet remounts the switch at once), then the same with
// demo/components/api-watch (the page tier follows the API throughout).
// No assertion is about time; the times are printed.
const VOLUME_WAIT = { timeoutMs: 240_000, intervalMs: 250 };
const API_WAIT = { timeoutMs: 60_000, intervalMs: 100 };

/** The user and admin tiers rolled out and Available; the page tier is ready only during maintenance, so its pods just run. */
async function waitForAvailable(): Promise<void> {
  for (const name of ['sample-app-user', 'sample-app-maintenance-admin']) {
    await kubectl(['rollout', 'status', `deployment/${name}`, '-n', NAMESPACE, '--timeout=240s']);
    await kubectl(['wait', '--for=condition=Available', `deployment/${name}`, '-n', NAMESPACE, '--timeout=240s']);
  }
  await waitFor(
    'page pods running',
    async () => {
      const deployments = (await getJson<{ items: { metadata: { name: string } }[] }>(['get', 'deployments', '-n', NAMESPACE])).items.map(
        (item) => item.metadata.name,
      );
      if (!deployments.includes('sample-app-maintenance-page')) return true;
      const page = await getJson<{ items: { status: { phase: string } }[] }>([
        'get',
        'pods',
        '-n',
        NAMESPACE,
        '-l',
        'app.kubernetes.io/component=page',
      ]);
      return page.items.length > 0 && page.items.every((pod) => pod.status.phase === 'Running') ? true : undefined;
    },
    { timeoutMs: 240_000, intervalMs: 500 },
  );
}

/** Waits until every user pod and its endpoint say `ready`, while the admin pod stays Ready; returns the times. */
async function followFlip(ready: boolean, wait: { timeoutMs: number; intervalMs: number }, start: number, replicas = 2) {
  const times: Record<string, string> = {};
  await waitFor(
    `user pods ready=${ready}`,
    async () => {
      const [users, admins, slice] = await Promise.all([pods('user'), pods('admin'), endpoints('sample-app-user')]);
      expect(admins.every(isReady), 'the admin pod stays Ready').toBe(true);
      for (const pod of users) {
        if (isReady(pod) === ready) times[`${pod.metadata.name} Ready=${ready}`] ??= since(start);
        if (slice.get(pod.status.podIP ?? '') === ready) times[`${pod.metadata.name} endpoint ready=${ready}`] ??= since(start);
      }
      return users.length === replicas && users.every((pod) => isReady(pod) === ready && slice.get(pod.status.podIP ?? '') === ready)
        ? true
        : undefined;
    },
    wait,
  );
  return times;
}

const NUDGE_ANNOTATION = 'maintenance-switch.dev/nudge';

/** Each user pod's nudge annotation, by pod name. */
async function nudgeValues(): Promise<Map<string, string | undefined>> {
  return new Map((await pods('user')).map((pod) => [pod.metadata.name, pod.metadata.annotations?.[NUDGE_ANNOTATION]]));
}

/**
 * Proof that a change reached the pods through the nudge, not the kubelet's own sync: the admin
 * says it is guarded and nudged every pod of the install since `start` with no failure, and every
 * user pod carries a nudge value it did not carry before.
 */
async function expectNudged(before: Map<string, string | undefined>, start: number, replicas: number): Promise<void> {
  const admin = await clusterIp('sample-app-maintenance-admin');
  const status = JSON.parse((await get(`http://${admin}:8080/status`)).body) as {
    nudge: { guard: { state: string }; lastRound: { at: string; pods: number; nudged: number; failed: number } | null };
  };
  expect(status.nudge.guard.state).toBe('guarded');
  const round = status.nudge.lastRound!;
  expect(Date.parse(round.at)).toBeGreaterThanOrEqual(start - 1_000);
  // The user pods and the two page pods: every pod that mounts the switch but the admin itself.
  expect(round.pods).toBe(replicas + 2);
  expect(round.failed).toBe(0);
  expect(round.nudged).toBeGreaterThanOrEqual(round.pods);
  const after = await nudgeValues();
  expect(after.size).toBe(replicas);
  for (const [pod, value] of after) {
    expect(value, pod).toMatch(/^\d+$/);
    expect(value, pod).not.toBe(before.get(pod));
  }
}

describe.skipIf(skipReason !== null)('the whole journey on a real node (kubelet, containerd, kube-proxy)', () => {
  let userUids: string[] = [];

  it('kubectl apply -k demo/local: every Deployment becomes Available, 2/2 user pods and 1/1 admin', async () => {
    await resetNamespace();
    await kubectl(['apply', '-k', join(ROOT, 'demo/local')]);
    await waitForAvailable();
    const readyReplicas = async () =>
      Object.fromEntries(
        (
          await getJson<{ items: { metadata: { name: string }; status: { readyReplicas?: number } }[] }>([
            'get',
            'deployments',
            '-n',
            NAMESPACE,
          ])
        ).items.map((item) => [item.metadata.name, item.status.readyReplicas ?? 0]),
      );
    // The page tier is Ready only while no user pod serves: at start, until the user pods do,
    // then it leaves (its poll and two failed probes later).
    const ready = await waitFor(
      'the page tier to leave once the user pods serve',
      async () => {
        const now = await readyReplicas();
        return now['sample-app-maintenance-page'] === 0 ? now : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(ready).toEqual({ 'sample-app-user': 2, 'sample-app-maintenance-admin': 1, 'sample-app-maintenance-page': 0 });
  });

  it('the runtime enforces the hardening: UID 10001, a read-only root, and no token in user pods', async () => {
    for (const component of ['user', 'admin']) {
      for (const pod of await pods(component)) {
        const pid = await containerProcess(pod);
        const uids = /^Uid:\s+(.*)$/m.exec(procFile(pid, 'status'))![1]!.trim().split(/\s+/);
        expect(uids, pod.metadata.name).toEqual(['10001', '10001', '10001', '10001']);
        const mounts = procFile(pid, 'mountinfo')
          .split('\n')
          .map((line) => line.split(' '));
        const root = mounts.find((fields) => fields[4] === '/');
        expect(root?.[5]?.split(','), `${pod.metadata.name} root mount`).toContain('ro');
        // /var/run is a link to /run in the image, and the runtime mounts at the resolved path.
        const hasToken = mounts.some((fields) => /^(\/var)?\/run\/secrets\/kubernetes\.io\/serviceaccount$/.test(fields[4] ?? ''));
        expect(hasToken, `${pod.metadata.name} service account token`).toBe(component === 'admin');
      }
    }
  });

  it(`volume path, nudged by the admin after each change: every user pod and endpoint goes not ready, the admin stays Ready, and back`, async () => {
    console.log(`[volume] kubelet syncFrequency ${syncFrequency()}`);
    userUids = (await pods('user')).map((pod) => pod.metadata.uid).sort();
    const beforeOn = await nudgeValues();
    const on = Date.now();
    await setMode('true');
    console.log('[volume] on:', await followFlip(false, VOLUME_WAIT, on));
    await expectNudged(beforeOn, on, 2);

    // Re-applying the overlay, client-side and server-side, keeps maintenance on and restarts nothing.
    await kubectl(['apply', '-k', join(ROOT, 'demo/local')]);
    await kubectl(['apply', '--server-side', '--force-conflicts', '-k', join(ROOT, 'demo/local')]);
    const configMap = await getJson<{ data: Record<string, string> }>(['get', 'configmap', 'app-config', '-n', NAMESPACE]);
    expect(configMap.data.MAINTENANCE_MODE).toBe('true');
    const after = await pods('user');
    expect(after.map((pod) => pod.metadata.uid).sort()).toEqual(userUids);
    expect(after.every((pod) => !isReady(pod))).toBe(true);

    const beforeOff = await nudgeValues();
    const off = Date.now();
    await setMode('false');
    console.log('[volume] off:', await followFlip(true, VOLUME_WAIT, off));
    await expectNudged(beforeOff, off, 2);
    expect((await pods('user')).map((pod) => pod.metadata.uid).sort()).toEqual(userUids);
  });

  it('at 10 user replicas, toggles three ways, each nudged to every pod: kubectl edit, the plugin, and the admin API through its Service', async () => {
    await kubectl(['scale', 'deployment/sample-app-user', '-n', NAMESPACE, '--replicas=10']);
    await kubectl(['rollout', 'status', 'deployment/sample-app-user', '-n', NAMESPACE, '--timeout=240s']);
    await followFlip(true, VOLUME_WAIT, Date.now(), 10);

    // kubectl edit, with a real editor run through KUBE_EDITOR.
    let before = await nudgeValues();
    let start = Date.now();
    await kubectl(['edit', 'configmap', 'app-config', '-n', NAMESPACE], {
      env: { KUBE_EDITOR: `sed -i -e 's/MAINTENANCE_MODE: "false"/MAINTENANCE_MODE: "true"/'` },
    });
    console.log('[10 replicas] on by kubectl edit:', await followFlip(false, VOLUME_WAIT, start, 10));
    await expectNudged(before, start, 10);

    // The plugin, found on PATH as kubectl finds it.
    before = await nudgeValues();
    start = Date.now();
    const plugin = spawn(join(PLUGIN_DIR, 'kubectl-maintenance'), ['off', '--reason', 'cluster journey', '-n', NAMESPACE], {
      env: { ...process.env, KUBECONFIG: kubeconfig(), PATH: `${PLUGIN_DIR}:${dirname(kubectlBinary())}:${process.env.PATH}` },
      stdio: 'inherit',
    });
    expect((await once(plugin, 'exit'))[0]).toBe(0);
    console.log('[10 replicas] off by the plugin:', await followFlip(true, VOLUME_WAIT, start, 10));
    await expectNudged(before, start, 10);

    // The admin API, reached through the admin Service, with a real token of an operator given the documented Role.
    await kubectl(['create', 'serviceaccount', 'operator', '-n', NAMESPACE]);
    await kubectl([
      'create',
      'role',
      'app-config-editor',
      '-n',
      NAMESPACE,
      '--verb=get,patch',
      '--resource=configmaps',
      '--resource-name=app-config',
    ]);
    await kubectl([
      'create',
      'rolebinding',
      'operator',
      '-n',
      NAMESPACE,
      '--role=app-config-editor',
      `--serviceaccount=${NAMESPACE}:operator`,
    ]);
    const token = (await kubectl(['create', 'token', 'operator', '-n', NAMESPACE])).trim();
    const admin = await clusterIp('sample-app-maintenance-admin');
    const put = (enabled: boolean) =>
      fetch(`http://${admin}:8080/admin/api/maintenance`, {
        method: 'PUT',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ enabled, reason: 'cluster journey', message: 'Back soon, from the node test' }),
      });
    before = await nudgeValues();
    const started = Date.now();
    const on = await put(true);
    expect(on.status).toBe(200);
    expect(await on.json()).toMatchObject({ enabled: true, changedBy: `system:serviceaccount:${NAMESPACE}:operator` });
    console.log(`[admin API] PUT answered in ${since(started)}`);
    console.log('[10 replicas] on by the admin API:', await followFlip(false, VOLUME_WAIT, started, 10));
    await expectNudged(before, started, 10);

    // Back to two pods, still in maintenance, for what follows.
    await kubectl(['scale', 'deployment/sample-app-user', '-n', NAMESPACE, '--replicas=2']);
    await waitFor('two user pods left', async () => ((await pods('user')).length === 2 ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 500,
    });
  });

  it('maintenance-page: the public Service answers the 503 page from a page pod during maintenance, and the app after', async () => {
    const publicIp = await clusterIp('sample-app-maintenance-public');
    /**
     * Waits until the public Service's ready endpoints are exactly the pods of one tier.
     */
    const onlyTier = (tier: 'page' | 'user') =>
      waitFor(
        `only ${tier} pods ready in the public Service`,
        async () => {
          const [slice, members] = await Promise.all([endpoints('sample-app-maintenance-public'), pods(tier)]);
          const readyAddresses = [...slice].filter(([, ready]) => ready).map(([address]) => address);
          return readyAddresses.length > 0 && readyAddresses.every((address) => members.some((pod) => pod.status.podIP === address))
            ? true
            : undefined;
        },
        VOLUME_WAIT,
      );
    await onlyTier('page');
    // kube-proxy follows the EndpointSlice within about a second; a user pod in maintenance answers the same page meanwhile.
    const during = await waitFor(
      'the 503 page through the public Service',
      async () => {
        const response = await get(`http://${publicIp}:8080/shop`, { Accept: 'text/html' });
        return response.status === 503 ? response : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(during.headers['retry-after']).toBe('300');
    expect(during.body).toContain('Back soon, from the node test');

    await setMode('false');
    await onlyTier('user');
    const after = await waitFor(
      'the app through the public Service',
      async () => {
        const response = await get(`http://${publicIp}:8080/`);
        return response.status === 200 ? response : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(after.body).toContain('Hello from the sample app');
  });

  it('with demo/components/api-watch: user pods leave the EndpointSlice within seconds', async () => {
    await kubectl(['apply', '-k', join(ROOT, 'demo/local-api-watch')]);
    await waitForAvailable();
    const times: string[] = [];
    for (let round = 0; round < 3; round++) {
      const on = Date.now();
      await setMode('true');
      await followFlip(false, API_WAIT, on);
      times.push(since(on));
      await setMode('false');
      await followFlip(true, API_WAIT, Date.now());
    }
    console.log(`[api-watch] patch to the last user endpoint ready=false: ${times.join(', ')}`);
  });

  it('a rolling restart under a bounded request loop through the user Service fails no request', async () => {
    const userIp = await clusterIp('sample-app-user');
    let failures: string[] = [];
    // When each failure came, from the rollout's start, so a failure says which step of it met it.
    const failedAt: number[] = [];
    let restartedAt: number | undefined;
    let sent = 0;
    let stop = false;
    const deadline = Date.now() + 180_000;
    const loop = async () => {
      while (!stop && Date.now() < deadline && sent < 50_000) {
        sent++;
        const answer = await get(`http://${userIp}:8080/`).catch((error: Error) => ({ status: 0, body: error.message }));
        if (answer.status !== 200) {
          failures.push(`${answer.status} ${answer.body.slice(0, 80)}`);
          failedAt.push(Date.now() - (restartedAt ?? Date.now()));
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const loops = Array.from({ length: 4 }, loop);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const before = sent;
    restartedAt = Date.now();
    await kubectl(['rollout', 'restart', 'deployment/sample-app-user', '-n', NAMESPACE]);
    await kubectl(['rollout', 'status', 'deployment/sample-app-user', '-n', NAMESPACE, '--timeout=180s']);
    const rolledOutAfter = Date.now() - restartedAt;
    // Old pods finish terminating (preStop and the shutdown delay) while the loop goes on.
    await waitFor(
      'the old pods to be gone',
      async () =>
        (await getJson<{ items: unknown[] }>(['get', 'pods', '-n', NAMESPACE, '-l', 'app.kubernetes.io/component=user'])).items.length === 2
          ? true
          : undefined,
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    stop = true;
    await Promise.all(loops);
    console.log(
      `[rolling restart] ${sent} requests (${sent - before} during the rollout), ${failures.length} failed${failures.length ? `: ${[...new Set(failures)].slice(0, 5).join('; ')}, from ${failedAt[0]} to ${failedAt.at(-1)} ms after the restart (rolled out at ${rolledOutAfter} ms)` : ''}`,
    );
    expect(sent - before).toBeGreaterThan(100);
    expect(failures).toEqual([]);
    failures = [];
  });

  it("memory: a user pod's container stays under the production limit (192 MiB) under a short load through port-forward, with no OOMKill", async () => {
    const [pod] = await pods('user');
    const forward = spawn(kubectlBinary(), [
      `--kubeconfig=${kubeconfig()}`,
      'port-forward',
      '-n',
      NAMESPACE,
      '--address',
      '127.0.0.1',
      `pod/${pod!.metadata.name}`,
      ':8080',
    ]);
    try {
      const port = await new Promise<number>((resolve, reject) => {
        forward.stdout.setEncoding('utf8').on('data', (text: string) => {
          const match = /127\.0\.0\.1:(\d+) ->/.exec(text);
          if (match) resolve(Number(match[1]));
        });
        forward.once('exit', (code) => reject(new Error(`port-forward exited with ${code}`)));
      });
      let sent = 0;
      const deadline = Date.now() + 30_000;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (sent < 3_000 && Date.now() < deadline) {
            sent++;
            expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
          }
        }),
      );
      const pid = await containerProcess(pod!);
      const memoryCgroup = /^\d+:memory:(.*)$/m.exec(procFile(pid, 'cgroup'))![1]!;
      const peak = Number(readFileSync(join('/sys/fs/cgroup/memory', memoryCgroup, 'memory.max_usage_in_bytes'), 'utf8'));
      console.log(`[memory] ${sent} requests; the container's peak memory (cgroup): ${(peak / 2 ** 20).toFixed(1)} MiB`);
      expect(peak).toBeLessThan(192 * 2 ** 20);
      const [after] = (await pods('user')).filter((candidate) => candidate.metadata.uid === pod!.metadata.uid) as Pod[];
      expect(after?.status.containerStatuses?.[0]?.restartCount).toBe(0);
      expect(after?.status.containerStatuses?.[0]?.lastState?.terminated?.reason).not.toBe('OOMKilled');
    } finally {
      forward.kill();
    }
  });
});
