import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patchConfigMapArgs } from '../../scripts/lib/control-plane.ts';
import { spawnService, type ServiceProcess } from '../helpers/process.ts';
import { copyRecipe, removeRecipes } from '../../scripts/lib/recipe.ts';
import { waitFor } from '../helpers/wait.ts';
import { applyClusterPart, CLUSTER_POLICY, kubeconfigForToken, kubectl, plugin, skipReason, tokenFor } from './cluster.ts';

// The admin's own nudge, through its own client and its ServiceAccount's real token, against a
// real API server with the install's policy. No kubelet here: the pods never run, and the test
// writes the EndpointSlice of <app>-maintenance-pods as the controller would.
const NS = 'nudge-e2e';
const NUDGE = 'maintenance-switch.dev/nudge';

const pod = (name: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: 'web', 'maintenance-switch.dev/app': 'shop' } },
    spec: { containers: [{ name: 'web', image: 'example-nginx:dev' }] },
  });

const slice = JSON.stringify({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: {
    name: 'shop-maintenance-pods-a',
    namespace: NS,
    labels: {
      'kubernetes.io/service-name': 'shop-maintenance-pods',
      'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
    },
  },
  addressType: 'IPv4',
  ports: [{ name: 'status', port: 9901, protocol: 'TCP' }],
  endpoints: ['web-1', 'web-2'].map((name, index) => ({
    addresses: [`10.244.8.${index + 10}`],
    conditions: { ready: true, serving: true, terminating: false },
    targetRef: { kind: 'Pod', name, namespace: NS },
  })),
});

interface NudgeView {
  guard: { state: string; problem?: string };
  lastRound: { pods: number; nudged: number; failed: number } | null;
}

describe.skipIf(skipReason !== null)('the nudge, by the admin, on a real API server', () => {
  let dir = '';
  let admin: ServiceProcess | undefined;

  const startAdmin = async () => {
    admin = await spawnService({
      ROLE: 'admin',
      CONFIG_SOURCE: 'api',
      ADMIN_AUTH: 'token',
      ADMIN_TOKEN_FILE: join(dir, 'tokens'),
      POD_NAMESPACE: NS,
      POD_NAME: 'shop-maintenance-admin-e2e',
      CONFIGMAP_NAME: 'shop-maintenance',
      NUDGE_SERVICE: 'shop-maintenance-pods',
      KUBECONFIG: await kubeconfigForToken(await tokenFor('shop-maintenance-admin', NS), 'nudge-admin'),
      LOG_LEVEL: 'info',
    });
  };
  const stopAdmin = async () => {
    admin?.child.kill('SIGTERM');
    await admin?.exited;
  };
  const nudgeStatus = async () => ((await (await fetch(`${admin!.url}/status`)).json()) as { nudge: NudgeView }).nudge;
  const annotations = async (name: string) =>
    JSON.parse((await kubectl(['get', 'pod', name, '-n', NS, '-o', 'jsonpath={.metadata.annotations}'])) || '{}') as Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nudge-e2e-'));
    await writeFile(join(dir, 'tokens'), 'e2e-nudge-token,release-manager\n');
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true']);
    await kubectl(['create', 'namespace', NS]);
    await applyClusterPart();
    await kubectl(['apply', '-k', copyRecipe('nudge-e2e', { namespace: NS, app: 'shop' })]);
    for (const name of ['web-1', 'web-2']) await kubectl(['create', '-f', '-'], { input: pod(name) });
    await kubectl(['create', '-f', '-'], { input: slice });
    await startAdmin();
  });
  afterAll(async () => {
    if (skipReason !== null) return;
    await stopAdmin();
    await applyClusterPart();
    removeRecipes('nudge-e2e');
    await rm(dir, { recursive: true, force: true });
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
  });

  it('finds itself guarded by the policy at start, and nudges every pod after a change', async () => {
    await waitFor('the admin to find the policy guarding it', async () =>
      (await nudgeStatus()).guard.state === 'guarded' ? true : undefined,
    );
    expect(await annotations('web-1')).toEqual({});

    await kubectl(patchConfigMapArgs(NS, { MAINTENANCE_MODE: 'true' }, 'shop-maintenance'));
    const nudged = await waitFor('both pods nudged', async () => {
      const [one, two] = await Promise.all([annotations('web-1'), annotations('web-2')]);
      return one[NUDGE] && two[NUDGE] ? { one, two } : undefined;
    });
    expect(nudged.one[NUDGE]).toMatch(/^\d{13}$/);
    expect(nudged.two[NUDGE]).toBe(nudged.one[NUDGE]);
    expect(await nudgeStatus()).toMatchObject({ guard: { state: 'guarded' }, lastRound: { pods: 2, nudged: 2, failed: 0 } });
    // Its own field manager, so kubectl and GitOps tools see who set it.
    const managers = await kubectl([
      'get',
      'pod',
      'web-1',
      '-n',
      NS,
      '--show-managed-fields',
      '-o',
      'jsonpath={.metadata.managedFields[*].manager}',
    ]);
    expect(managers.split(' ')).toContain('maintenance-switch-nudge');
    const metrics = await (await fetch(`${admin!.url}/metrics`)).text();
    expect(metrics).toMatch(/^maintenance_nudge_guarded 1$/m);
    expect(metrics).toMatch(/^maintenance_nudges_total\{result="sent"\} 2$/m);
  });

  it('reports "unguarded" at start once the policy binding is gone, and nudges no more', async () => {
    const before = (await annotations('web-1'))[NUDGE];
    await kubectl(['delete', 'validatingadmissionpolicybinding', CLUSTER_POLICY]);
    await stopAdmin();
    // The API server drops the binding within a moment; the restarted admin's dry run finds it gone.
    const unguarded = await waitFor(
      'a restarted admin to find itself unguarded',
      async () => {
        await startAdmin();
        const view = await waitFor('its first guard check', async () => {
          const status = await nudgeStatus();
          return status.guard.state === 'unknown' && status.guard.problem === 'not checked yet' ? undefined : status;
        });
        if (view.guard.state === 'unguarded') return view;
        await stopAdmin();
        return undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(unguarded.guard.problem).toContain('the nudge policy (ValidatingAdmissionPolicy and its binding) is missing');
    expect(unguarded.guard.problem).toContain('kubectl apply -k kustomize/cluster');
    expect(await (await fetch(`${admin!.url}/metrics`)).text()).toMatch(/^maintenance_nudge_guarded 0$/m);
    // An operator who may read only the switch learns it from the switch, through the plugin.
    const note = await waitFor('the note on the switch', async () => {
      const written = await kubectl([
        'get',
        'configmap',
        'shop-maintenance',
        '-n',
        NS,
        '-o',
        'jsonpath={.metadata.annotations.maintenance-switch\\.dev/cluster-part}',
      ]);
      return written || undefined;
    });
    expect(note).toMatch(
      /^missing the nudge policy \(pods are not nudged: .*\); a cluster admin installs it once per cluster: kubectl apply -k kustomize\/cluster$/,
    );
    const status = await plugin(['status', '-n', NS]);
    expect(status.code).toBe(0);
    expect(status.stdout.split('\n').filter((line) => line.startsWith('cluster part:'))).toEqual([`cluster part: ${note}`]);

    await kubectl(patchConfigMapArgs(NS, { MAINTENANCE_MODE: 'false' }, 'shop-maintenance'));
    // Once the admin has applied the change, it would have nudged by now: it did not.
    await waitFor('the admin to apply the change', async () => {
      const status = (await (await fetch(`${admin!.url}/status`)).json()) as { maintenance: boolean };
      return status.maintenance === false ? true : undefined;
    });
    expect((await nudgeStatus()).lastRound).toBeNull();
    expect((await annotations('web-1'))[NUDGE]).toBe(before);
  });
});
