import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patchConfigMapArgs } from '../../scripts/lib/control-plane.ts';
import { spawnService, type ServiceProcess } from '../helpers/process.ts';
import { copyRecipe, removeRecipes } from '../../scripts/lib/recipe.ts';
import { waitFor } from '../helpers/wait.ts';
import { applyClusterPart, installKedaCrd, kubeconfigForToken, kubectl, plugin, skipReason, tokenFor } from './cluster.ts';

// The autoscaling hold, by the admin, through its own client and its ServiceAccount's real
// token, against a real API server with KEDA's ScaledObject CRD (no KEDA controller, and no
// HPA controller: what is checked is what the admin writes). The install is the recipe's, for
// app "shop", whose Deployment "web" is gated; "blog" is another app's Deployment.
const NS = 'hold-e2e';
const HOLD = 'maintenance-switch.dev/autoscaling-hold';
const PAUSED = 'autoscaling.keda.sh/paused-replicas';

// The app's autoscalers carry its label, as the recipe's gate component sets it: the cluster
// part's hold policy lets the admin change those alone.
const APP_LABEL = { 'maintenance-switch.dev/app': 'shop' };
const hpa = (name: string, target: string, behavior?: object) => ({
  apiVersion: 'autoscaling/v2',
  kind: 'HorizontalPodAutoscaler',
  metadata: { name, namespace: NS, ...(target === 'web' ? { labels: APP_LABEL } : {}) },
  spec: {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target },
    minReplicas: 2,
    maxReplicas: 10,
    metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
    ...(behavior ? { behavior } : {}),
  },
});
const USER_BEHAVIOR = {
  scaleDown: { stabilizationWindowSeconds: 60, selectPolicy: 'Min', policies: [{ type: 'Pods', value: 1, periodSeconds: 30 }] },
};
const scaledObject = {
  apiVersion: 'keda.sh/v1alpha1',
  kind: 'ScaledObject',
  metadata: { name: 'web-queue', namespace: NS, labels: APP_LABEL, annotations: { 'team.example/owner': 'shop' } },
  spec: {
    scaleTargetRef: { name: 'web' },
    triggers: [{ type: 'cpu', metricType: 'Utilization', metadata: { value: '70' } }],
  },
};
const blog = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'blog', namespace: NS },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'blog' } },
    template: { metadata: { labels: { app: 'blog' } }, spec: { containers: [{ name: 'blog', image: 'example-busybox:dev' }] } },
  },
};

interface Held {
  metadata: { annotations?: Record<string, string>; managedFields?: { manager: string }[] };
  spec: Record<string, unknown>;
}
interface HoldView {
  state: string;
  checkedAt: string | null;
  held: { kind: string; name: string; replicas: number; since: string }[];
  problems: { name?: string; problem: string }[];
  reasserted: number;
  keda: boolean;
  guard: { state: string; problem?: string };
}

const get = async (kind: string, name: string): Promise<Held> =>
  JSON.parse(await kubectl(['get', kind, name, '-n', NS, '--show-managed-fields', '-o', 'json'])) as Held;
const apply = (object: object) => kubectl(['apply', '-f', '-'], { input: JSON.stringify(object) });
const setMode = (on: boolean) => kubectl(patchConfigMapArgs(NS, { MAINTENANCE_MODE: String(on) }, 'shop-maintenance'));
const isHeld = (object: Held) =>
  (object.spec.behavior as { scaleDown?: { selectPolicy?: string } } | undefined)?.scaleDown?.selectPolicy === 'Disabled';
/** What the user wrote and the hold must give back: the spec, and the annotations but kubectl's own record. */
const withoutManagedFields = ({ metadata, spec }: Held) => {
  const { 'kubectl.kubernetes.io/last-applied-configuration': _, ...annotations } = metadata.annotations ?? {};
  return { annotations, spec };
};

describe.skipIf(skipReason !== null)('the autoscaling hold, by the admin, on a real API server', () => {
  let admin: ServiceProcess | undefined;
  /** The objects as the user applied them, before any hold. */
  const applied: Record<string, ReturnType<typeof withoutManagedFields>> = {};

  const startAdmin = async (env: Record<string, string> = {}) => {
    admin = await spawnService({
      ROLE: 'admin',
      CONFIG_SOURCE: 'api',
      ADMIN_AUTH: 'none',
      POD_NAMESPACE: NS,
      POD_NAME: 'shop-maintenance-admin-e2e',
      CONFIGMAP_NAME: 'shop-maintenance',
      NUDGE: 'off',
      APP_NAME: 'shop',
      // Released as soon as maintenance ends (the HPA's own window is the default; the unit and node tests cover it).
      AUTOSCALING_HOLD_AFTER_SECONDS: '0',
      KUBECONFIG: await kubeconfigForToken(await tokenFor('shop-maintenance-admin', NS), 'hold-admin'),
      ...env,
    });
  };
  const stopAdmin = async () => {
    admin?.child.kill('SIGTERM');
    await admin?.exited;
    admin = undefined;
  };
  const status = async () => (await (await fetch(`${admin!.url}/status`)).json()) as { maintenance: boolean; autoscaling: HoldView };

  beforeAll(async () => {
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true']);
    await kubectl(['create', 'namespace', NS]);
    // The first look is without KEDA; another test file may have installed its CRD.
    await kubectl(['delete', 'crd', 'scaledobjects.keda.sh', '--ignore-not-found', '--wait=true']);
    await applyClusterPart();
    await kubectl(['apply', '-k', copyRecipe('hold-e2e', { namespace: NS, app: 'shop' })]);
    await apply(blog);
    await apply(hpa('web', 'web'));
    await apply(hpa('web-tuned', 'web', USER_BEHAVIOR));
    await apply(hpa('blog', 'blog'));
    for (const name of ['web', 'web-tuned', 'blog']) applied[name] = withoutManagedFields(await get('hpa', name));
  });
  afterAll(async () => {
    if (skipReason !== null) return;
    await stopAdmin();
    await applyClusterPart();
    removeRecipes('hold-e2e');
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
  });

  it('without the ScaledObject CRD, holds nothing while maintenance is off and says KEDA is absent', async () => {
    await startAdmin();
    const view = await waitFor('the first look', async () => ((await status()).autoscaling.state === 'released' ? status() : undefined));
    expect(view.autoscaling).toMatchObject({ held: [], problems: [], keda: false });
    for (const name of ['web', 'web-tuned', 'blog']) expect(withoutManagedFields(await get('hpa', name))).toEqual(applied[name]);
  });

  it("holds the app's HPAs (scale-down only) and its ScaledObject (paused at the replicas), and not another app's", async () => {
    await installKedaCrd();
    await waitFor('the ScaledObject kind to be served', async () => ((await apply(scaledObject).catch(() => '')) ? true : undefined));
    applied['web-queue'] = withoutManagedFields(await get('scaledobject', 'web-queue'));

    await setMode(true);
    const view = await waitFor('three autoscalers held', async () => {
      const current = (await status()).autoscaling;
      return current.state === 'held' && current.held.length === 3 ? current : undefined;
    });
    expect(view).toMatchObject({ problems: [], keda: true, guard: { state: 'guarded' } });
    expect(view.held.map((held) => `${held.kind}/${held.name}@${held.replicas}`).sort()).toEqual([
      'HorizontalPodAutoscaler/web-tuned@2',
      'HorizontalPodAutoscaler/web@2',
      'ScaledObject/web-queue@2',
    ]);

    const web = await get('hpa', 'web');
    expect(isHeld(web)).toBe(true);
    expect(JSON.parse(web.metadata.annotations![HOLD]!)).toMatchObject({ replicas: 2, behavior: null });
    // Scale-up is the API server's default, as before: only scale-down changed.
    expect((web.spec.behavior as { scaleUp?: { selectPolicy?: string } }).scaleUp?.selectPolicy).toBe('Max');
    expect(web.metadata.managedFields!.map((field) => field.manager)).toContain('maintenance-switch-hold');
    const tuned = await get('hpa', 'web-tuned');
    expect(tuned.spec.behavior).toMatchObject({ scaleDown: { ...USER_BEHAVIOR.scaleDown, selectPolicy: 'Disabled' } });
    expect(JSON.parse(tuned.metadata.annotations![HOLD]!).behavior).toEqual(applied['web-tuned']!.spec.behavior);
    const queue = await get('scaledobject', 'web-queue');
    expect(queue.metadata.annotations).toMatchObject({ [PAUSED]: '2', 'team.example/owner': 'shop' });
    expect(withoutManagedFields(await get('hpa', 'blog'))).toEqual(applied.blog);

    const metrics = await (await fetch(`${admin!.url}/metrics`)).text();
    expect(metrics).toMatch(/^maintenance_autoscaling_held 3$/m);
    // What it will put back is in its own ConfigMap, the same record the objects show.
    const ledger = JSON.parse(await kubectl(['get', 'configmap', 'shop-maintenance-hold', '-n', NS, '-o', 'jsonpath={.data}'])) as Record<
      string,
      string
    >;
    expect(Object.keys(ledger).sort()).toEqual([
      'HorizontalPodAutoscaler.web',
      'HorizontalPodAutoscaler.web-tuned',
      'ScaledObject.web-queue',
    ]);
    expect(ledger['HorizontalPodAutoscaler.web-tuned']).toBe(tuned.metadata.annotations![HOLD]);

    // kubectl maintenance status shows the same, from the records on the objects themselves.
    const shown = await plugin(['status', '-n', NS]);
    expect(shown.code).toBe(0);
    const lines = shown.stdout.split('\n').filter((line) => /held at/.test(line));
    expect(lines.map((line) => line.replace(/since \S+/, 'since T').trim()).sort()).toEqual([
      'autoscaling: held at 2 pods since T (HorizontalPodAutoscaler web)',
      'held at 2 pods since T (HorizontalPodAutoscaler web-tuned)',
      'held at 2 pods since T (ScaledObject web-queue)',
    ]);
  });

  it('holds again an HPA that a replace during maintenance took back to what the user wrote', async () => {
    const before = JSON.parse((await get('hpa', 'web')).metadata.annotations![HOLD]!) as { since: string };
    await kubectl(['replace', '-f', '-'], { input: JSON.stringify(hpa('web', 'web')) });
    // The replace took the record shown on the object too; the hold's own is in its ConfigMap, and comes back whole.
    await waitFor('web held again', async () => {
      const web = await get('hpa', 'web');
      const record = web.metadata.annotations?.[HOLD];
      return isHeld(web) && record && (JSON.parse(record) as { since: string }).since === before.since ? true : undefined;
    });
    applied.web = { ...applied.web!, annotations: {} };
    // A re-apply that keeps the record but resets the policy counts as put back.
    await kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=gitops', '-f', '-'], {
      input: JSON.stringify(hpa('web-tuned', 'web', USER_BEHAVIOR)),
    });
    await waitFor('web-tuned held again', async () => (isHeld(await get('hpa', 'web-tuned')) ? true : undefined));
    expect((await status()).autoscaling.reasserted).toBeGreaterThanOrEqual(1);
  });

  it('restores every object byte for byte when maintenance ends', async () => {
    await setMode(false);
    await waitFor('every hold released', async () => ((await status()).autoscaling.state === 'released' ? true : undefined));
    for (const [kind, name] of [
      ['hpa', 'web'],
      ['hpa', 'web-tuned'],
      ['hpa', 'blog'],
      ['scaledobject', 'web-queue'],
    ] as const)
      expect(withoutManagedFields(await get(kind, name)), name).toEqual(applied[name]);
    expect((await status()).autoscaling.held).toEqual([]);
  });

  it('never acts on a record planted on an HPA by someone who may edit it: reported, not written, no busy loop', async () => {
    // Released in 30 days (past what a timer reaches) into a behavior that would stop scale-up.
    const planted = JSON.stringify({
      app: 'shop',
      since: new Date().toISOString(),
      replicas: 1,
      behavior: { scaleUp: { selectPolicy: 'Disabled' } },
      endedAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    });
    await kubectl(['annotate', 'hpa', 'web', '-n', NS, `${HOLD}=${planted}`]);
    const view = await waitFor('the plant reported', async () => {
      const current = (await status()).autoscaling;
      return current.problems.some((problem) => problem.name === 'web') ? current : undefined;
    });
    expect(view.problems).toEqual([
      { kind: 'HorizontalPodAutoscaler', name: 'web', problem: expect.stringContaining(`not in ConfigMap ${NS}/shop-maintenance-hold`) },
    ]);
    expect(view.held).toEqual([]);
    const before = await get('hpa', 'web');
    // Two more looks of its own (an HPA event each), and the object is as the plant left it.
    for (const round of [1, 2]) await kubectl(['annotate', 'hpa', 'blog', '-n', NS, '--overwrite', `round=${round}`]);
    await waitFor('looked again', async () => ((await status()).autoscaling.checkedAt !== view.checkedAt ? true : undefined));
    const after = await get('hpa', 'web');
    expect(after.spec).toEqual(before.spec);
    expect(after.metadata.managedFields!.filter((field) => field.manager === 'maintenance-switch-hold')).toEqual(
      before.metadata.managedFields!.filter((field) => field.manager === 'maintenance-switch-hold'),
    );
    await kubectl(['annotate', 'hpa', 'web', '-n', NS, `${HOLD}-`]);
    await kubectl(['annotate', 'hpa', 'blog', '-n', NS, 'round-']);
    await waitFor('the problem gone', async () => ((await status()).autoscaling.problems.length === 0 ? true : undefined));
  });

  it('when maintenance ended while no admin ran, the restarted admin puts the hold back', async () => {
    await setMode(true);
    await waitFor('held', async () => ((await status()).autoscaling.held.length === 3 ? true : undefined));
    await stopAdmin();
    await setMode(false);
    expect(isHeld(await get('hpa', 'web'))).toBe(true);
    await startAdmin();
    await waitFor('released by the new admin', async () => ((await status()).autoscaling.state === 'released' ? true : undefined));
    for (const name of ['web', 'web-tuned']) expect(withoutManagedFields(await get('hpa', name)), name).toEqual(applied[name]);
    expect(withoutManagedFields(await get('scaledobject', 'web-queue'))).toEqual(applied['web-queue']);
  });

  it("names each HPA it may not patch, with the API server's refusal, in /status and the metric", async () => {
    const rules = JSON.parse(await kubectl(['get', 'role', 'shop-maintenance-admin', '-n', NS, '-o', 'jsonpath={.rules}'])) as {
      resources: string[];
      verbs: string[];
    }[];
    const index = rules.findIndex((rule) => rule.resources.includes('horizontalpodautoscalers'));
    const setVerbs = (verbs: string[]) =>
      kubectl([
        'patch',
        'role',
        'shop-maintenance-admin',
        '-n',
        NS,
        '--type=json',
        '-p',
        JSON.stringify([{ op: 'replace', path: `/rules/${index}/verbs`, value: verbs }]),
      ]);
    await setVerbs(['get', 'list', 'watch']);
    try {
      await setMode(true);
      const view = await waitFor('the refusals reported', async () => {
        const current = (await status()).autoscaling;
        return current.problems.length === 2 ? current : undefined;
      });
      expect(view.problems.map((problem) => problem.name).sort()).toEqual(['web', 'web-tuned']);
      for (const problem of view.problems)
        expect(problem.problem).toMatch(/^patching HorizontalPodAutoscaler hold-e2e\/web(-tuned)?: HTTP 403: /);
      expect(view.held.map((held) => held.name)).toEqual(['web-queue']);
      expect(await (await fetch(`${admin!.url}/metrics`)).text()).toMatch(/^maintenance_autoscaling_hold_problems 2$/m);
    } finally {
      await setVerbs(['get', 'list', 'watch', 'patch']);
    }
    await waitFor('held once allowed', async () => ((await status()).autoscaling.held.length === 3 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    await setMode(false);
    await waitFor('released', async () => ((await status()).autoscaling.state === 'released' ? true : undefined));
  });

  it('without the cluster part, still holds, and says it is unguarded: in /status, on the switch and through the plugin', async () => {
    await kubectl(['delete', 'validatingadmissionpolicybinding', 'maintenance-switch-hold']);
    try {
      const view = await waitFor(
        'a restarted admin to find the hold unguarded',
        async () => {
          await stopAdmin();
          await startAdmin();
          const first = await waitFor('its first look', async () => {
            const current = (await status()).autoscaling;
            return current.checkedAt ? current : undefined;
          });
          return first.guard.state === 'unguarded' ? first : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      expect(view.guard.problem).toContain('kubectl apply -k kustomize/cluster');
      expect(await (await fetch(`${admin!.url}/metrics`)).text()).toMatch(/^maintenance_autoscaling_hold_guarded 0$/m);
      await setMode(true);
      await waitFor('held, unguarded', async () => ((await status()).autoscaling.held.length === 3 ? true : undefined));
      const shown = await waitFor('the note through the plugin', async () => {
        const line = (await plugin(['status', '-n', NS])).stdout.split('\n').find((text) => text.startsWith('cluster part:'));
        return line?.includes('the hold policy') ? line : undefined;
      });
      expect(shown).toContain('the hold policy (the autoscaling hold is confined by RBAC alone)');
      await setMode(false);
      await waitFor('released', async () => ((await status()).autoscaling.state === 'released' ? true : undefined));
    } finally {
      await applyClusterPart();
    }
    await stopAdmin();
    await startAdmin();
    await waitFor(
      'guarded again, and the note gone',
      async () => {
        const guarded = (await status()).autoscaling.guard.state === 'guarded';
        const note = await kubectl(['get', 'configmap', 'shop-maintenance', '-n', NS, '-o', 'jsonpath={.metadata.annotations}']);
        return guarded && !note.includes('cluster-part') ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  });

  it('with AUTOSCALING_HOLD=off holds nothing', async () => {
    await stopAdmin();
    await startAdmin({ AUTOSCALING_HOLD: 'off' });
    await setMode(true);
    await waitFor('the admin in maintenance', async () => ((await status()).maintenance ? true : undefined));
    expect((await status()).autoscaling).toMatchObject({ state: 'off', held: [] });
    expect(withoutManagedFields(await get('hpa', 'web'))).toEqual(applied.web);
    await setMode(false);
  });
});
