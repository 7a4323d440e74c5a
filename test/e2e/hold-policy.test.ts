import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyRecipe, removeRecipes } from '../../scripts/lib/recipe.ts';
import { apiCall, applyClusterPart, installKedaCrd, kubectl, skipReason, tokenFor } from './cluster.ts';

// The admin may patch every HPA and ScaledObject of its namespace (RBAC cannot name them); the
// cluster part's hold policy confines that to what the autoscaling hold changes, on its own
// app's autoscalers, in the API server. No controllers run here: the API is what is tested.
const NS = 'hold-policy';
const HOLD = 'maintenance-switch.dev/autoscaling-hold';
const PAUSED = 'autoscaling.keda.sh/paused-replicas';

const hpa = (name: string, labels: Record<string, string>) => ({
  apiVersion: 'autoscaling/v2',
  kind: 'HorizontalPodAutoscaler',
  metadata: { name, namespace: NS, labels, annotations: { team: 'shop' } },
  spec: {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    minReplicas: 2,
    maxReplicas: 10,
    metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
  },
});
const scaledObject = {
  apiVersion: 'keda.sh/v1alpha1',
  kind: 'ScaledObject',
  metadata: { name: 'queue', namespace: NS, labels: { 'maintenance-switch.dev/app': 'shop' } },
  spec: {
    scaleTargetRef: { name: 'web' },
    minReplicaCount: 1,
    maxReplicaCount: 10,
    triggers: [{ type: 'cpu', metricType: 'Utilization', metadata: { value: '70' } }],
  },
};

let adminToken = '';

/** A merge patch as the admin's own client sends it: the refusal, or null when it went through. */
async function patchAsAdmin(kind: 'hpa' | 'scaledobject', name: string, patch: unknown, query = '') {
  const path =
    kind === 'hpa'
      ? `/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers/${name}`
      : `/apis/keda.sh/v1alpha1/namespaces/${NS}/scaledobjects/${name}`;
  const answer = await apiCall(adminToken, 'PATCH', `${path}?fieldManager=maintenance-switch-hold${query}`, patch);
  return answer.status === 200 ? null : `${answer.status} ${answer.body}`;
}

const SCALE_DOWN_ONLY = 'may change only how an HPA scales down';
const METADATA = "may change only the autoscaling hold's annotations";

describe.skipIf(skipReason !== null)('the hold policy, on a real API server', () => {
  beforeAll(async () => {
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true']);
    await kubectl(['create', 'namespace', NS]);
    await applyClusterPart();
    await installKedaCrd();
    await kubectl(['apply', '-k', copyRecipe('hold-policy', { namespace: NS, app: 'shop' })]);
    for (const object of [
      hpa('web', { 'maintenance-switch.dev/app': 'shop' }),
      hpa('blog', { 'maintenance-switch.dev/app': 'blog' }),
      hpa('bare', {}),
      scaledObject,
    ])
      await kubectl(['create', '-f', '-'], { input: JSON.stringify(object) });
    adminToken = await tokenFor('shop-maintenance-admin', NS);
    // Enforced once the API server has compiled it: probe with dry runs.
    for (let attempt = 0; attempt < 100; attempt++) {
      if ((await patchAsAdmin('hpa', 'web', { metadata: { labels: { probe: 'x' } } }, '&dryRun=All')) !== null) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error('the hold policy was never enforced');
  });
  afterAll(async () => {
    if (skipReason !== null) return;
    removeRecipes('hold-policy');
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
  });

  it("lets the admin hold and release its app's HPA and ScaledObject as the hold does", async () => {
    const record = JSON.stringify({ app: 'shop', since: '2026-12-07T00:00:00.000Z', replicas: 2, behavior: null });
    expect(
      await patchAsAdmin('hpa', 'web', {
        metadata: { annotations: { [HOLD]: record } },
        spec: { behavior: { scaleDown: { selectPolicy: 'Disabled' } } },
      }),
    ).toBeNull();
    const held = JSON.parse(await kubectl(['get', 'hpa', 'web', '-n', NS, '-o', 'json'])) as {
      spec: { behavior: { scaleDown: { selectPolicy: string } } };
    };
    expect(held.spec.behavior.scaleDown.selectPolicy).toBe('Disabled');
    expect(await patchAsAdmin('hpa', 'web', { metadata: { annotations: { [HOLD]: null } }, spec: { behavior: null } })).toBeNull();
    expect(await kubectl(['get', 'hpa', 'web', '-n', NS, '-o', 'jsonpath={.spec.behavior}'])).toBe('');

    expect(await patchAsAdmin('scaledobject', 'queue', { metadata: { annotations: { [HOLD]: record, [PAUSED]: '3' } } })).toBeNull();
    expect(await patchAsAdmin('scaledobject', 'queue', { metadata: { annotations: { [HOLD]: null, [PAUSED]: null } } })).toBeNull();
  });

  it.each([
    ['minReplicas', { spec: { minReplicas: 1 } }, SCALE_DOWN_ONLY],
    ['maxReplicas', { spec: { maxReplicas: 20 } }, SCALE_DOWN_ONLY],
    ['the target', { spec: { scaleTargetRef: { name: 'blog' } } }, SCALE_DOWN_ONLY],
    [
      'the metrics',
      { spec: { metrics: [{ type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 99 } } }] } },
      SCALE_DOWN_ONLY,
    ],
    ['scale-up, disabled', { spec: { behavior: { scaleUp: { selectPolicy: 'Disabled' } } } }, SCALE_DOWN_ONLY],
    ['a label', { metadata: { labels: { 'maintenance-switch.dev/app': 'blog' } } }, METADATA],
    ['another annotation', { metadata: { annotations: { team: 'mine' } } }, METADATA],
    ['finalizers', { metadata: { finalizers: ['example.com/hold'] } }, METADATA],
    ['ownerReferences', { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'n', uid: '1' }] } }, METADATA],
    [
      'managedFields, forging another owner',
      {
        metadata: {
          annotations: { [HOLD]: '{}' },
          managedFields: [
            {
              manager: 'argocd-controller',
              operation: 'Apply',
              apiVersion: 'autoscaling/v2',
              time: '2020-01-01T00:00:00Z',
              fieldsType: 'FieldsV1',
              fieldsV1: { 'f:spec': { 'f:minReplicas': {} } },
            },
          ],
        },
      },
      METADATA,
    ],
  ])("refuses the admin a change of an HPA's %s", async (_what, patch, message) => {
    expect(await patchAsAdmin('hpa', 'web', patch)).toContain(message);
  });

  it('once the HPA has a behavior, refuses the admin any change of its scale-up', async () => {
    expect(await patchAsAdmin('hpa', 'web', { spec: { behavior: { scaleDown: { selectPolicy: 'Disabled' } } } })).toBeNull();
    expect(await patchAsAdmin('hpa', 'web', { spec: { behavior: { scaleUp: { stabilizationWindowSeconds: 3600 } } } })).toContain(
      SCALE_DOWN_ONLY,
    );
    expect(await patchAsAdmin('hpa', 'web', { spec: { behavior: null } })).toBeNull();
  });

  it.each([
    ['its spec', { spec: { maxReplicaCount: 20 } }, "may not change a ScaledObject's spec"],
    ['a pause below its minReplicaCount', { metadata: { annotations: { [PAUSED]: '0' } } }, 'must be a number within'],
    ['a pause above its maxReplicaCount', { metadata: { annotations: { [PAUSED]: '11' } } }, 'must be a number within'],
    ['a pause that is not a number', { metadata: { annotations: { [PAUSED]: '2; rm' } } }, 'must be a number within'],
    ['another annotation', { metadata: { annotations: { 'autoscaling.keda.sh/paused': 'true' } } }, METADATA],
  ])("refuses the admin a change of a ScaledObject's %s", async (_what, patch, message) => {
    expect(await patchAsAdmin('scaledobject', 'queue', patch)).toContain(message);
  });

  it("refuses the admin another app's autoscaler and an unlabelled one, naming the label; anyone else may change them", async () => {
    const hold = { spec: { behavior: { scaleDown: { selectPolicy: 'Disabled' } } } };
    for (const name of ['blog', 'bare'])
      expect(await patchAsAdmin('hpa', name, hold), name).toContain('labelled with its app (maintenance-switch.dev/app)');
    expect(await kubectl(['patch', 'hpa', 'bare', '-n', NS, '--type=merge', '-p', JSON.stringify({ spec: { minReplicas: 3 } })])).toContain(
      'patched',
    );
  });

  it('refuses the admin the status subresource, create and delete (RBAC first)', async () => {
    const status = await apiCall(adminToken, 'PATCH', `/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers/web/status`, {
      status: { desiredReplicas: 0 },
    });
    expect(status.status).toBe(403);
    const removed = await apiCall(adminToken, 'DELETE', `/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers/web`);
    expect(removed.status).toBe(403);
  });
});
