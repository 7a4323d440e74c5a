import { beforeAll, describe, expect, it } from 'vitest';
import { NAMESPACE, apiRequest, applyBase, canI, installKedaCrd, kubectl, skipReason, tokenFor } from './cluster.ts';

const ADMIN_SA = `system:serviceaccount:${NAMESPACE}:sample-app-maintenance-admin`;
const USER_SA = `system:serviceaccount:${NAMESPACE}:sample-app-user`;

describe.skipIf(skipReason !== null)('RBAC of the base manifests, on a real API server', () => {
  let adminToken = '';

  beforeAll(async () => {
    await applyBase();
    // can-i answers "no" for a resource the API server does not serve.
    await installKedaCrd();
    await kubectl(['create', 'configmap', 'other-config', '-n', NAMESPACE, '--from-literal=KEY=value']);
    await kubectl(['create', 'secret', 'generic', 'db-password', '-n', NAMESPACE, '--from-literal=password=hunter2']);
    adminToken = await tokenFor('sample-app-maintenance-admin');
  });

  it('lets the admin service account get, list, watch and patch app-config, and create events (kubectl auth can-i)', async () => {
    for (const verb of ['get', 'list', 'watch', 'patch']) {
      expect(await canI(ADMIN_SA, verb, 'configmaps/app-config'), verb).toBe(true);
    }
    expect(await canI(ADMIN_SA, 'create', 'events.events.k8s.io')).toBe(true);
    // The history: the Events about app-config.
    expect(await canI(ADMIN_SA, 'list', 'events.events.k8s.io')).toBe(true);
    // The fleet: read-only, EndpointSlices only.
    for (const verb of ['get', 'list', 'watch']) expect(await canI(ADMIN_SA, verb, 'endpointslices.discovery.k8s.io'), verb).toBe(true);
    for (const verb of ['create', 'update', 'patch', 'delete'])
      expect(await canI(ADMIN_SA, verb, 'endpointslices.discovery.k8s.io'), verb).toBe(false);
  });

  it('gives the admin service account nothing else (kubectl auth can-i)', async () => {
    expect(await canI(ADMIN_SA, 'patch', 'configmaps/other-config')).toBe(false);
    expect(await canI(ADMIN_SA, 'get', 'configmaps/other-config')).toBe(false);
    expect(await canI(ADMIN_SA, 'update', 'configmaps/app-config')).toBe(false);
    expect(await canI(ADMIN_SA, 'delete', 'configmaps/app-config')).toBe(false);
    expect(await canI(ADMIN_SA, 'create', 'configmaps')).toBe(false);
    expect(await canI(ADMIN_SA, 'get', 'secrets')).toBe(false);
    expect(await canI(ADMIN_SA, 'list', 'secrets')).toBe(false);
    expect(await canI(ADMIN_SA, 'get', 'configmaps/app-config', ['-n', 'default'])).toBe(false);
    expect(await canI(ADMIN_SA, 'list', 'endpointslices.discovery.k8s.io', ['-n', 'default'])).toBe(false);
    expect(await canI(ADMIN_SA, 'list', 'pods')).toBe(false);
    expect(await canI(ADMIN_SA, 'list', 'endpoints')).toBe(false);
    for (const verb of ['update', 'patch', 'delete', 'watch']) expect(await canI(ADMIN_SA, verb, 'events.events.k8s.io'), verb).toBe(false);
  });

  it('lets the admin hold autoscalers (get, list, watch, patch HPAs; get, list, patch ScaledObjects) and read Deployments, and nothing more', async () => {
    for (const verb of ['get', 'list', 'watch', 'patch'])
      expect(await canI(ADMIN_SA, verb, 'horizontalpodautoscalers.autoscaling'), verb).toBe(true);
    for (const verb of ['create', 'update', 'delete', 'deletecollection'])
      expect(await canI(ADMIN_SA, verb, 'horizontalpodautoscalers.autoscaling'), verb).toBe(false);
    expect(await canI(ADMIN_SA, 'patch', 'horizontalpodautoscalers.autoscaling', ['--subresource=status'])).toBe(false);
    for (const verb of ['get', 'list', 'patch']) expect(await canI(ADMIN_SA, verb, 'scaledobjects.keda.sh'), verb).toBe(true);
    for (const verb of ['create', 'update', 'delete']) expect(await canI(ADMIN_SA, verb, 'scaledobjects.keda.sh'), verb).toBe(false);
    expect(await canI(ADMIN_SA, 'get', 'deployments.apps')).toBe(true);
    for (const verb of ['list', 'watch', 'create', 'update', 'patch', 'delete'])
      expect(await canI(ADMIN_SA, verb, 'deployments.apps'), verb).toBe(false);
    expect(await canI(ADMIN_SA, 'patch', 'deployments.apps', ['--subresource=scale'])).toBe(false);
    for (const other of ['replicasets.apps', 'statefulsets.apps']) expect(await canI(ADMIN_SA, 'patch', other), other).toBe(false);
    expect(await canI(ADMIN_SA, 'patch', 'horizontalpodautoscalers.autoscaling', ['-n', 'default'])).toBe(false);
    // Its records: get and patch on its own ConfigMap alone.
    for (const verb of ['get', 'patch']) expect(await canI(ADMIN_SA, verb, 'configmaps/sample-app-maintenance-hold'), verb).toBe(true);
    for (const verb of ['update', 'delete']) expect(await canI(ADMIN_SA, verb, 'configmaps/sample-app-maintenance-hold'), verb).toBe(false);
  });

  it('gives the user service account no API access at all', async () => {
    expect(await canI(USER_SA, 'get', 'configmaps/app-config')).toBe(false);
    expect(await canI(USER_SA, 'list', 'pods')).toBe(false);
  });

  it('holds for real requests made with a TokenRequest token of the admin service account', async () => {
    const base = `/api/v1/namespaces/${NAMESPACE}`;
    expect(await apiRequest(adminToken, 'GET', `${base}/configmaps/app-config`)).toBe(200);
    expect(await apiRequest(adminToken, 'GET', `${base}/configmaps?fieldSelector=metadata.name%3Dapp-config`)).toBe(200);
    expect(
      await apiRequest(adminToken, 'PATCH', `${base}/configmaps/app-config`, { metadata: { annotations: { 'e2e/touched': 'yes' } } }),
    ).toBe(200);

    // A list without the field selector is a list of every ConfigMap: refused.
    expect(await apiRequest(adminToken, 'GET', `${base}/configmaps`)).toBe(403);
    expect(await apiRequest(adminToken, 'GET', `${base}/configmaps/other-config`)).toBe(403);
    expect(await apiRequest(adminToken, 'PATCH', `${base}/configmaps/other-config`, { data: { KEY: 'x' } })).toBe(403);
    expect(await apiRequest(adminToken, 'GET', `${base}/secrets/db-password`)).toBe(403);
    expect(await apiRequest(adminToken, 'GET', `${base}/secrets`)).toBe(403);
    expect(await apiRequest(adminToken, 'DELETE', `${base}/configmaps/app-config`)).toBe(403);
    expect(await kubectl(['get', 'configmap', 'other-config', '-n', NAMESPACE, '-o', 'jsonpath={.data.KEY}'])).toBe('value');
  });

  it('gives the admin service account no cluster-wide right: it checks callers with their own tokens', async () => {
    expect(await canI(ADMIN_SA, 'create', 'tokenreviews.authentication.k8s.io')).toBe(false);
    expect(await canI(ADMIN_SA, 'create', 'subjectaccessreviews.authorization.k8s.io')).toBe(false);
    expect(await kubectl(['get', 'clusterrolebindings', '-l', 'app.kubernetes.io/name=maintenance-switch', '-o', 'name'])).toBe('');
  });
});
