import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubectlError } from '../../scripts/lib/control-plane.ts';
import { copyRecipe, removeRecipes } from '../../scripts/lib/recipe.ts';
import { apiCall, applyClusterPart, CLUSTER_POLICY, canI, kubectl, skipReason, tokenFor } from './cluster.ts';

// The admin may patch pods; the ValidatingAdmissionPolicy of the install confines that to one
// annotation, in the API server. Pods here never run (no kubelet): the API is what is tested.
const NS = 'nudged';
const ADMIN = `system:serviceaccount:${NS}:shop-maintenance-admin`;
const NUDGE = 'maintenance-switch.dev/nudge';

const pod = (name: string, app: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: 'web', 'maintenance-switch.dev/app': app }, annotations: { team: 'shop' } },
    spec: { containers: [{ name: 'web', image: 'example-nginx:dev' }] },
  });

let adminToken = '';

/**
 * A merge patch as the admin's own client sends it (a real token of its ServiceAccount, its own
 * field manager, no GET first): the refusal's message, or null when it went through.
 */
async function patchAsAdmin(name: string, patch: unknown, options: { namespace?: string; query?: string; subresource?: string } = {}) {
  const query = `?fieldManager=maintenance-switch-nudge${options.query?.replace(/^\?/, '&') ?? ''}`;
  const path = `/api/v1/namespaces/${options.namespace ?? NS}/pods/${name}${options.subresource ? `/${options.subresource}` : ''}${query}`;
  const answer = await apiCall(adminToken, 'PATCH', path, patch);
  return answer.status === 200 ? null : `${answer.status} ${answer.body}`;
}

/** The same with kubectl --as, which reads the pod first. */
async function kubectlPatchAs(who: string, name: string, patch: unknown): Promise<string | null> {
  try {
    await kubectl(['patch', 'pod', name, '-n', NS, `--as=${who}`, '--type=merge', '-p', JSON.stringify(patch)]);
    return null;
  } catch (error) {
    if (error instanceof KubectlError) return error.message;
    throw error;
  }
}

describe.skipIf(skipReason !== null)('the nudge policy, on a real API server', () => {
  beforeAll(async () => {
    for (const namespace of [NS, 'elsewhere']) {
      await kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true']);
      await kubectl(['create', 'namespace', namespace]);
    }
    await applyClusterPart();
    await kubectl(['apply', '-k', copyRecipe('nudge-policy', { namespace: NS, app: 'shop' })]);
    await kubectl(['create', '-f', '-'], { input: pod('web-1', 'shop') });
    await kubectl(['create', '-f', '-'], { input: pod('forum-1', 'forum') });
    await kubectl(['create', '-f', '-'], { input: pod('web-1', 'shop').replaceAll(`"namespace":"${NS}"`, '"namespace":"elsewhere"') });
    adminToken = await tokenFor('shop-maintenance-admin', NS);
    // The policy is enforced once the API server has compiled it: probe with dry runs.
    for (let attempt = 0; attempt < 100; attempt++) {
      if ((await patchAsAdmin('web-1', { metadata: { labels: { probe: 'x' } } }, { query: '?dryRun=All' })) !== null) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error('the ValidatingAdmissionPolicy was never enforced');
  });
  afterAll(async () => {
    if (skipReason !== null) return;
    removeRecipes('nudge-policy');
    // The cluster part is every install's: whole again for the tests after this one.
    await applyClusterPart();
    for (const namespace of [NS, 'elsewhere']) await kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=false']);
  });

  it('lets the admin set the nudge annotation on a pod of its app, to a number', async () => {
    expect(await patchAsAdmin('web-1', { metadata: { annotations: { [NUDGE]: '1764590000123' } } })).toBeNull();
    const annotations = JSON.parse(await kubectl(['get', 'pod', 'web-1', '-n', NS, '-o', 'jsonpath={.metadata.annotations}']));
    expect(annotations).toEqual({ team: 'shop', [NUDGE]: '1764590000123' });
  });

  it.each([
    ['an image', { spec: { containers: [{ name: 'web', image: 'evil:1' }] } }, 'may change only the annotation'],
    ['a label', { metadata: { labels: { app: 'other' } } }, 'may change only the annotation'],
    ['another annotation', { metadata: { annotations: { team: 'mine' } } }, 'may change only the annotation'],
    ['a new annotation beside the nudge', { metadata: { annotations: { [NUDGE]: '2', extra: 'x' } } }, 'may change only the annotation'],
    [
      'ownerReferences',
      { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'n', uid: '1' }] } },
      'may change only the annotation',
    ],
    ['finalizers', { metadata: { finalizers: ['example.com/hold'] } }, 'may change only the annotation'],
    [
      'managedFields, forging another owner and time',
      {
        metadata: {
          annotations: { [NUDGE]: '5' },
          managedFields: [
            {
              manager: 'kubectl-client-side-apply',
              operation: 'Update',
              apiVersion: 'v1',
              time: '2020-01-01T00:00:00Z',
              fieldsType: 'FieldsV1',
              fieldsV1: { 'f:metadata': { 'f:labels': { 'f:app': {} } } },
            },
          ],
        },
      },
      'may change only the annotation',
    ],
    ['generateName', { metadata: { annotations: { [NUDGE]: '6' }, generateName: 'evil-' } }, 'may change only the annotation'],
    ['the nudge to something not a number', { metadata: { annotations: { [NUDGE]: 'rm -rf' } } }, 'must be a number'],
  ])('refuses the admin a patch of %s', async (_what, patch, message) => {
    expect(await patchAsAdmin('web-1', patch)).toContain(message);
    expect(await kubectlPatchAs(ADMIN, 'web-1', patch), 'kubectl --as reads the pod first, which the admin may not').toContain(
      'cannot get resource "pods"',
    );
  });

  it('refuses the same nudge made under the name of another field manager, whose entry it would change', async () => {
    const path = `/api/v1/namespaces/${NS}/pods/web-1?fieldManager=kubectl-edit`;
    const answer = await apiCall(adminToken, 'PATCH', path, { metadata: { annotations: { [NUDGE]: '7' } } });
    expect(`${answer.status} ${answer.body}`).toContain('may change only the annotation');
  });

  it('refuses the admin a pod of another app, and lets anyone else change that pod as before', async () => {
    expect(await patchAsAdmin('forum-1', { metadata: { annotations: { [NUDGE]: '3' } } })).toContain(
      'may only touch the pods of its own app',
    );
    // The cluster admin is not this install's admin: the policy lets it be.
    expect(await kubectl(['label', 'pod', 'forum-1', '-n', NS, 'touched=yes'])).toContain('labeled');
  });

  it('refuses the admin pods/status, another namespace, create, delete and eviction (RBAC, then the policy)', async () => {
    expect(await patchAsAdmin('web-1', { status: { message: 'x' } }, { subresource: 'status' })).toMatch(/^403 .*forbidden/);
    expect(await patchAsAdmin('web-1', { metadata: { annotations: { [NUDGE]: '4' } } }, { namespace: 'elsewhere' })).toMatch(
      /^403 .*forbidden/,
    );
    const inNs = ['-n', NS];
    expect(await canI(ADMIN, 'patch', 'pods', inNs)).toBe(true);
    for (const verb of ['get', 'list', 'create', 'delete', 'update']) expect(await canI(ADMIN, verb, 'pods', inNs), verb).toBe(false);
    for (const sub of ['pods/eviction', 'pods/exec', 'pods/status', 'pods/binding'])
      expect(await canI(ADMIN, 'create', sub, inNs), sub).toBe(false);
    expect(await canI(ADMIN, 'patch', 'pods', ['-n', 'elsewhere'])).toBe(false);
  });

  it('stops guarding once its binding is gone: the admin could then change a label (which the admin detects, see the nudge)', async () => {
    await kubectl(['delete', 'validatingadmissionpolicybinding', CLUSTER_POLICY]);
    let accepted: string | null = 'refused';
    for (let attempt = 0; attempt < 100 && accepted !== null; attempt++) {
      accepted = await patchAsAdmin('web-1', { metadata: { labels: { probe: 'unguarded' } } }, { query: '?dryRun=All' });
      if (accepted !== null) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(accepted).toBeNull();
  });
});
