import { join } from 'node:path';
import { runPlugin, patchConfigMapArgs } from '../../scripts/lib/control-plane.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import {
  NAMESPACE,
  ROOT,
  clusterIp,
  endpoints,
  get,
  getJson,
  isReady,
  kubeconfig,
  kubectl,
  kubectlBinary,
  pods,
  resetNamespace,
  setMode,
  since,
  skipReason,
  type Pod,
} from './node.ts';

// An application this project did not write (Debian's nginx), put in maintenance by the gate
// sidecar of components/gate, on a real node. No assertion is about time; the times are printed.
const VOLUME_WAIT = { timeoutMs: 300_000, intervalMs: 250 };
const BYPASS_KEY = 'a-cluster-test-bypass-key-of-32-bytes-or-more';

type SidecarPod = Pod & { status: Pod['status'] & { initContainerStatuses?: { name: string; ready: boolean; started?: boolean }[] } };

/** Runs the plugin as kubectl would find it on PATH. */
const plugin = (args: string[]) => runPlugin(kubectlBinary(), kubeconfig(), args);

/** Waits until every nginx pod, and its endpoint in the user Service, says `ready`; and the public Service routes to the expected tier only. */
async function followFlip(ready: boolean, start: number): Promise<string> {
  await waitFor(
    `nginx pods ready=${ready}, and the public Service on the ${ready ? 'app' : 'page tier'}`,
    async () => {
      const [apps, pages, userSlice, publicSlice] = await Promise.all([
        pods('user'),
        pods('page'),
        endpoints('sample-app-user'),
        endpoints('sample-app-public'),
      ]);
      const appsDone = apps.length === 2 && apps.every((pod) => isReady(pod) === ready && userSlice.get(pod.status.podIP ?? '') === ready);
      const tier = ready ? apps : pages;
      const readyInPublic = [...publicSlice].filter(([, isReadyEndpoint]) => isReadyEndpoint).map(([address]) => address);
      const publicDone = readyInPublic.length > 0 && readyInPublic.every((address) => tier.some((pod) => pod.status.podIP === address));
      return appsDone && publicDone ? true : undefined;
    },
    VOLUME_WAIT,
  );
  return since(start);
}

/** nginx's answer through the public Service, once kube-proxy routes there (it follows the EndpointSlices within about a second). */
async function nginxThroughPublic() {
  const publicIp = await clusterIp('sample-app-public');
  return waitFor(
    'nginx through the public Service',
    async () => {
      const response = await get(`http://${publicIp}:8080/`);
      return response.status === 200 ? response : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}

describe.skipIf(skipReason !== null)('any app: Debian nginx with the gate sidecar, on a real node', () => {
  afterAll(async () => {
    if (skipReason === null) await resetNamespace();
  });

  it('kubectl apply -k kustomize/overlays/example-app: the nginx pods, with the gate as a native sidecar, become Ready', async () => {
    if (!(process.env.IMAGE_ARCHIVES ?? '').includes('example-nginx'))
      throw new Error('IMAGE_ARCHIVES lacks the example image (npm run image:example)');
    await resetNamespace();
    await kubectl(['create', 'namespace', NAMESPACE]);
    // The key first, so the pods mount it at start.
    await kubectl(['create', 'secret', 'generic', 'maintenance-bypass-key', '-n', NAMESPACE, `--from-literal=key=${BYPASS_KEY}`]);
    await kubectl(['apply', '-k', join(ROOT, 'kustomize/overlays/example-app')]);
    for (const name of ['example-app', 'sample-app-admin']) {
      await kubectl(['rollout', 'status', `deployment/${name}`, '-n', NAMESPACE, '--timeout=300s']);
    }
    const apps = (await pods('user')) as SidecarPod[];
    expect(apps).toHaveLength(2);
    for (const pod of apps) {
      expect(isReady(pod), pod.metadata.name).toBe(true);
      // The gate runs beside nginx as a started, ready init container: a native sidecar.
      expect(pod.status.initContainerStatuses, pod.metadata.name).toEqual([
        expect.objectContaining({ name: 'maintenance-gate', ready: true, started: true }),
      ]);
    }
    expect((await nginxThroughPublic()).body).toContain('Hello from nginx');
  });

  it("maintenance on: the gate's readiness takes each nginx pod out, and the public Service answers the 503 page", async () => {
    const start = Date.now();
    await kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'nginx is resting' }));
    console.log(`[example-app] on: nginx pods out and the page tier in after ${await followFlip(false, start)}`);
    const apps = (await pods('user')) as SidecarPod[];
    for (const pod of apps) {
      // The pod is NotReady because of the sidecar alone: nginx itself stays ready.
      expect(pod.status.initContainerStatuses?.[0]?.ready, pod.metadata.name).toBe(false);
      expect((pod.status as { containerStatuses?: { ready: boolean }[] }).containerStatuses?.[0]?.ready, pod.metadata.name).toBe(true);
    }
    // kube-proxy follows the EndpointSlice within about a second; until then a request may still
    // reach nginx, which in readiness-only mode serves the app.
    const publicIp = await clusterIp('sample-app-public');
    const answer = await waitFor(
      'the public Service to answer the 503 page',
      async () => {
        const response = await get(`http://${publicIp}:8080/shop`, { Accept: 'text/html' });
        return response.status === 503 ? response : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(answer.body).toContain('nginx is resting');
  });

  it('a bypass link through the preview Service shows nginx; a forged cookie shows the 503 page', async () => {
    const made = await plugin(['bypass-link', '-n', NAMESPACE, '--reason', 'cluster test of the example app', '--for', '1h']);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const path = made.stdout.trim().split('\n').at(-1)!;
    const preview = `http://${await clusterIp('sample-app-preview')}:8080`;

    const visit = await get(`${preview}${path}`);
    expect(visit.status).toBe(302);
    const cookie = String(visit.headers['set-cookie']).split(';')[0]!;
    expect(cookie).toMatch(/^maintenance_bypass=b1\./);

    const through = await get(`${preview}/`, { Cookie: cookie });
    expect(through.status).toBe(200);
    expect(through.body).toContain('Hello from nginx');
    expect(through.headers['cache-control']).toBe('private, no-store');

    const forged = await get(`${preview}/`, { Cookie: `maintenance_bypass=${cookie.split('=')[1]!.slice(0, -2)}AA`, Accept: 'text/html' });
    expect(forged.status).toBe(503);
    expect(forged.body).toContain('nginx is resting');
    const none = await get(`${preview}/`, { Accept: 'text/html' });
    expect(none.body).toBe(forged.body);
  });

  it('maintenance off: nginx again, through the public Service', async () => {
    const start = Date.now();
    await setMode('false');
    console.log(`[example-app] off: nginx pods back and the page tier out after ${await followFlip(true, start)}`);
    expect((await nginxThroughPublic()).body).toContain('Hello from nginx');
    const restarts = (
      await getJson<{ items: SidecarPod[] }>(['get', 'pods', '-n', NAMESPACE, '-l', 'app.kubernetes.io/component=user'])
    ).items.flatMap((pod) =>
      [
        ...((pod.status as { containerStatuses?: { restartCount: number }[] }).containerStatuses ?? []),
        ...((pod.status.initContainerStatuses ?? []) as { restartCount?: number }[]),
      ].map((status) => status.restartCount ?? 0),
    );
    expect(restarts.every((count) => count === 0)).toBe(true);
  });
});
