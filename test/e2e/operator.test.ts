import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyRecipe, removeRecipes } from '../../scripts/lib/recipe.ts';
import { kubeconfigForToken, kubectl, plugin, skipReason, tokenFor } from './cluster.ts';

// An operator as docs/deploy.md makes one: get and patch on the one switch, nothing else in the
// namespace (no list, no Events, no EndpointSlices). The plugin must serve them all the same.
const NS = 'operator-e2e';
const OPERATOR_RBAC = `
apiVersion: v1
kind: ServiceAccount
metadata: {name: operator, namespace: ${NS}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: switch-editor, namespace: ${NS}}
rules:
- {apiGroups: [""], resources: [configmaps], resourceNames: [shop-maintenance], verbs: [get, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: operator, namespace: ${NS}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: switch-editor}
subjects: [{kind: ServiceAccount, name: operator, namespace: ${NS}}]
`;

describe.skipIf(skipReason !== null)('kubectl maintenance for an operator who may only get and patch the switch', () => {
  let kubeconfig = '';
  const asOperator = (args: string[]) => plugin([...args, '-n', NS], kubeconfig);
  const mode = async () =>
    (await kubectl(['get', 'configmap', 'shop-maintenance', '-n', NS, '-o', 'jsonpath={.data.MAINTENANCE_MODE}'])).trim();

  beforeAll(async () => {
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true']);
    await kubectl(['create', 'namespace', NS]);
    await kubectl(['apply', '-k', copyRecipe('operator-e2e', { namespace: NS, app: 'shop' })]);
    await kubectl(['apply', '-f', '-'], { input: OPERATOR_RBAC });
    kubeconfig = await kubeconfigForToken(await tokenFor('operator', NS), 'operator');
  });
  afterAll(async () => {
    if (skipReason !== null) return;
    removeRecipes('operator-e2e');
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
  });

  it('turns maintenance on and off with --app, and reads its status', async () => {
    const on = await asOperator(['on', '--app', 'shop', '--reason', 'operator with get and patch']);
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toContain(`maintenance on in ${NS}/shop-maintenance`);
    expect(await mode()).toBe('true');
    const status = await asOperator(['status', '--app', 'shop']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^maintenance: on /);
    const off = await asOperator(['off', '--app', 'shop', '--reason', 'done']);
    expect(off.code, off.stderr).toBe(0);
    expect(await mode()).toBe('false');
  });

  it('without --app, says in one line how to name the install instead of listing', async () => {
    const status = await asOperator(['status']);
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(/^kubectl maintenance: you may not list the ConfigMaps of namespace operator-e2e .* --app NAME/);
    expect(status.stderr.trim().split('\n')).toHaveLength(1);
  });
});
