import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patchConfigMapArgs } from '../../scripts/lib/control-plane.ts';
import { spawnService, type ServiceProcess } from '../helpers/process.ts';
import { copyRecipe, removeRecipes } from '../../scripts/lib/recipe.ts';
import { waitFor } from '../helpers/wait.ts';
import { apiCall, applyClusterPart, canI, kubeconfigForToken, kubectl, skipReason, tokenFor } from './cluster.ts';

// The sidecar-free mode on a real API server: the admin's own client, with its ServiceAccount's
// real token, sets the condition maintenance-switch.dev/serving through pods/status, and the
// cluster part's serving policy refuses it anything else. No kubelet here: pods never run, and
// the test sets the page pod's Ready condition as the kubelet would.
const NS = 'serving-e2e';
const ADMIN = `system:serviceaccount:${NS}:shop-maintenance-admin`;
const SERVING = 'maintenance-switch.dev/serving';
const STRATEGIC = 'application/strategic-merge-patch+json';

const pod = (name: string, options: { app?: string; gated?: boolean; tier?: string } = {}) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: NS,
      labels: {
        app: 'web',
        'maintenance-switch.dev/app': options.app ?? 'shop',
        ...(options.tier ? { 'maintenance-switch.dev/tier': options.tier } : {}),
      },
    },
    spec: {
      containers: [{ name: 'web', image: 'example-nginx:dev' }],
      ...(options.gated === false ? {} : { readinessGates: [{ conditionType: SERVING }] }),
    },
  });

const condition = (type: string, status: string) => ({
  type,
  status,
  reason: 'Test',
  message: 'set by the test',
  lastTransitionTime: '2026-12-07T00:00:00Z',
});

interface PodStatus {
  metadata: { resourceVersion: string; managedFields?: { manager: string; subresource?: string }[] };
  status: { conditions?: { type: string; status: string }[]; phase?: string };
}

const podObject = async (name: string) =>
  JSON.parse(await kubectl(['get', 'pod', name, '-n', NS, '-o', 'json', '--show-managed-fields'])) as PodStatus;
const servingOf = async (name: string) =>
  (await podObject(name)).status.conditions?.find((entry) => entry.type === SERVING)?.status ?? null;

let adminToken = '';

/** A strategic merge patch of pods/status as the admin's own client sends it: the refusal, or null. */
async function patchStatusAsAdmin(name: string, patch: unknown, options: { namespace?: string; query?: string } = {}) {
  const path = `/api/v1/namespaces/${options.namespace ?? NS}/pods/${name}/status?fieldManager=maintenance-switch-serving${options.query ?? ''}`;
  const answer = await apiCall(adminToken, 'PATCH', path, patch, STRATEGIC);
  return answer.status === 200 ? null : `${answer.status} ${answer.body}`;
}

/** As the kubelet would: the page pod's Ready condition. */
const setReady = (name: string, status: 'True' | 'False') =>
  kubectl([
    'patch',
    'pod',
    name,
    '-n',
    NS,
    '--subresource=status',
    '--type=strategic',
    '-p',
    JSON.stringify({ status: { conditions: [condition('Ready', status)] } }),
  ]);

describe.skipIf(skipReason !== null)('the sidecar-free mode, on a real API server', () => {
  let dir = '';
  let admin: ServiceProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'serving-e2e-'));
    await writeFile(join(dir, 'tokens'), 'e2e-serving-token,release-manager\n');
    for (const namespace of [NS, 'serving-elsewhere']) {
      await kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true']);
      await kubectl(['create', 'namespace', namespace]);
    }
    await applyClusterPart();
    await kubectl(['apply', '-k', copyRecipe('serving-e2e', { namespace: NS, app: 'shop', readinessGate: true })]);
    await kubectl(['create', '-f', '-'], { input: pod('web-1') });
    await kubectl(['create', '-f', '-'], { input: pod('plain-1', { gated: false }) });
    await kubectl(['create', '-f', '-'], { input: pod('forum-1', { app: 'forum' }) });
    await kubectl(['create', '-f', '-'], { input: pod('shop-maintenance-page-1', { gated: false, tier: 'page' }) });
    adminToken = await tokenFor('shop-maintenance-admin', NS);
    // The policy is enforced once the API server has compiled it: probe with dry runs.
    for (let attempt = 0; attempt < 100; attempt++) {
      const probe = await patchStatusAsAdmin(
        'web-1',
        { status: { conditions: [condition('example.com/other', 'True')] } },
        { query: '&dryRun=All' },
      );
      if (probe?.includes('ValidatingAdmissionPolicy')) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error('the serving policy was never enforced');
  });
  afterAll(async () => {
    if (skipReason !== null) return;
    admin?.child.kill('SIGTERM');
    await admin?.exited;
    await applyClusterPart();
    removeRecipes('serving-e2e');
    await rm(dir, { recursive: true, force: true });
    for (const namespace of [NS, 'serving-elsewhere'])
      await kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=false']);
  });

  describe('the serving policy', () => {
    it('lets the admin set the serving condition, True or False, on a gated pod of its app', async () => {
      expect(await patchStatusAsAdmin('web-1', { status: { conditions: [condition(SERVING, 'False')] } })).toBeNull();
      expect(await servingOf('web-1')).toBe('False');
      expect(await patchStatusAsAdmin('web-1', { status: { conditions: [condition(SERVING, 'True')] } })).toBeNull();
      expect(await servingOf('web-1')).toBe('True');
    });

    it.each([
      ['another condition', { status: { conditions: [condition('example.com/other', 'True')] } }, 'may change only the condition'],
      ['the Ready condition', { status: { conditions: [condition('Ready', 'True')] } }, 'may change only the condition'],
      ['the serving condition to Unknown', { status: { conditions: [condition(SERVING, 'Unknown')] } }, 'to True or False'],
      ['the phase', { status: { phase: 'Failed' } }, 'may change no status field'],
      ['the pod IP', { status: { podIP: '10.0.0.66', podIPs: [{ ip: '10.0.0.66' }] } }, 'may change no status field'],
      ['the message', { status: { message: 'evicted', conditions: [condition(SERVING, 'True')] } }, 'may change no status field'],
      [
        'a label, beside the condition',
        { metadata: { labels: { app: 'other' } }, status: { conditions: [condition(SERVING, 'False')] } },
        'may change nothing of a pod but',
      ],
      ['an annotation', { metadata: { annotations: { team: 'mine' } } }, 'may change nothing of a pod but'],
    ])('refuses the admin a status patch of %s', async (_what, patch, message) => {
      const before = await podObject('web-1');
      expect(await patchStatusAsAdmin('web-1', patch)).toContain(message);
      expect((await podObject('web-1')).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    });

    it('refuses the condition on a pod without the readiness gate, and on a pod of another app', async () => {
      const set = { status: { conditions: [condition(SERVING, 'False')] } };
      expect(await patchStatusAsAdmin('plain-1', set)).toContain('carry the readiness gate');
      expect(await patchStatusAsAdmin('forum-1', set)).toContain('pods of its own app');
    });

    it('gives the admin read and status patch on pods in its namespace, and nothing more', async () => {
      const inNs = ['-n', NS];
      for (const verb of ['get', 'list', 'watch']) expect(await canI(ADMIN, verb, 'pods', inNs), verb).toBe(true);
      expect(await canI(ADMIN, 'patch', 'pods/status', inNs)).toBe(true);
      for (const verb of ['create', 'delete', 'update']) expect(await canI(ADMIN, verb, 'pods', inNs), verb).toBe(false);
      expect(await canI(ADMIN, 'update', 'pods/status', inNs)).toBe(false);
      expect(await canI(ADMIN, 'create', 'pods/eviction', inNs)).toBe(false);
      expect(await canI(ADMIN, 'patch', 'pods/status', ['-n', 'serving-elsewhere'])).toBe(false);
    });
  });

  describe('the admin', () => {
    const status = async () => {
      const answer = (await (await fetch(`${admin!.url}/status`)).json()) as {
        serving: {
          guard: { state: string };
          level: string | null;
          pods: number;
          atLevel: number;
          waiting: string[];
          pageWaitSince: string | null;
          failedClosed: boolean;
        };
      };
      return answer.serving;
    };
    const levels = async (names: string[]) => Promise.all(names.map(servingOf));
    const setMode = (mode: string) => kubectl(patchConfigMapArgs(NS, { MAINTENANCE_MODE: mode }, 'shop-maintenance'));

    beforeAll(async () => {
      // A pod of the app created before the admin starts, with no condition yet.
      await kubectl(['create', '-f', '-'], { input: pod('web-2') });
      admin = await spawnService({
        ROLE: 'admin',
        CONFIG_SOURCE: 'api',
        ADMIN_AUTH: 'token',
        ADMIN_TOKEN_FILE: join(dir, 'tokens'),
        POD_NAMESPACE: NS,
        POD_NAME: 'shop-maintenance-admin-e2e',
        APP_NAME: 'shop',
        GATE_MODE: 'readiness-gate',
        KUBECONFIG: await kubeconfigForToken(await tokenFor('shop-maintenance-admin', NS), 'serving-admin'),
        LOG_LEVEL: 'info',
      });
    });

    it('finds the policy guarding it, and sets True on the pods that were there before it, with its own field manager', async () => {
      await waitFor('both pods True', async () =>
        (await levels(['web-1', 'web-2'])).every((level) => level === 'True') ? true : undefined,
      );
      expect(await status()).toMatchObject({ guard: { state: 'guarded' }, level: 'True', pods: 2, atLevel: 2, waiting: [] });
      const managers = (await podObject('web-2')).metadata.managedFields?.map((entry) => `${entry.manager}/${entry.subresource ?? ''}`);
      expect(managers).toContain('maintenance-switch-serving/status');
      // Pods without the gate, and those of another app, are left as they are.
      expect(await levels(['plain-1', 'forum-1'])).toEqual([null, null]);
    });

    it('when maintenance starts, takes the pods out only once a page pod is Ready', async () => {
      await setMode('true');
      await waitFor('the admin to wait for the page tier', async () => ((await status()).pageWaitSince !== null ? true : undefined));
      expect(await levels(['web-1', 'web-2'])).toEqual(['True', 'True']);
      await setReady('shop-maintenance-page-1', 'True');
      await waitFor('both pods False', async () =>
        (await levels(['web-1', 'web-2'])).every((level) => level === 'False') ? true : undefined,
      );
      expect(await status()).toMatchObject({ level: 'False', pageWaitSince: null, atLevel: 2 });
    });

    it('sets False on a pod created during maintenance, and True on every pod when it ends and on one created after', async () => {
      await kubectl(['create', '-f', '-'], { input: pod('web-3') });
      await waitFor('the new pod False', async () => ((await servingOf('web-3')) === 'False' ? true : undefined));
      await setMode('false');
      await waitFor('every pod True', async () =>
        (await levels(['web-1', 'web-2', 'web-3'])).every((level) => level === 'True') ? true : undefined,
      );
      await kubectl(['create', '-f', '-'], { input: pod('web-4') });
      await waitFor('the pod created after True', async () => ((await servingOf('web-4')) === 'True' ? true : undefined));
      expect(await status()).toMatchObject({ level: 'True', pods: 4, atLevel: 4, waiting: [] });
    });

    it('holds read-only as maintenance (this mode has no proxy), and says so', async () => {
      await setMode('read-only');
      await waitFor('every pod False', async () =>
        (await levels(['web-1', 'web-2', 'web-3', 'web-4'])).every((level) => level === 'False') ? true : undefined,
      );
      expect(await status()).toMatchObject({ level: 'False', failedClosed: true });
      await setMode('false');
      await waitFor('every pod True again', async () =>
        (await levels(['web-1', 'web-2', 'web-3', 'web-4'])).every((level) => level === 'True') ? true : undefined,
      );
    });

    it('puts a condition changed by hand back to the level (level-triggered)', async () => {
      await kubectl([
        'patch',
        'pod',
        'web-1',
        '-n',
        NS,
        '--subresource=status',
        '--type=strategic',
        '-p',
        JSON.stringify({ status: { conditions: [condition(SERVING, 'False')] } }),
      ]);
      await waitFor('web-1 True again', async () => ((await servingOf('web-1')) === 'True' ? true : undefined));
    });
  });
});
