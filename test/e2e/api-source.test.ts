import { patchConfigMapArgs } from '../../scripts/lib/control-plane.ts';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnService, type ServiceProcess } from '../helpers/process.ts';
import { waitFor } from '../helpers/wait.ts';
import { NAMESPACE, ROOT, configMap, kubeconfigForToken, kubectl, skipReason, tokenFor } from './cluster.ts';

async function readyz(service: ServiceProcess): Promise<number> {
  const response = await fetch(`${service.url}/readyz`);
  await response.text();
  return response.status;
}
const waitForReadyz = (service: ServiceProcess, status: number) =>
  waitFor(`/readyz ${status}`, async () => ((await readyz(service)) === status ? true : undefined));
/** The parts of /status these tests read. */
interface PodStatus extends Record<string, unknown> {
  api: { resourceVersion?: string; connection?: string; found?: boolean };
  lastError: string | null;
}
const status = async (service: ServiceProcess) => (await (await fetch(`${service.url}/status`)).json()) as PodStatus;

describe.skipIf(skipReason !== null)('the API-watch source, on a real API server', () => {
  let user: ServiceProcess;

  beforeAll(async () => {
    await kubectl(['apply', '-k', join(ROOT, 'demo/local-api-watch')]);
    await kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MODE: 'false' }));
    // The user pod's identity from the api-watch component: read-only, app-config only.
    const kubeconfig = await kubeconfigForToken(await tokenFor('sample-app-config-reader'), 'config-reader');
    user = await spawnService({
      ROLE: 'user',
      CONFIG_SOURCE: 'api',
      POD_NAMESPACE: NAMESPACE,
      KUBECONFIG: kubeconfig,
      LOG_LEVEL: 'info',
    });
    await waitForReadyz(user, 200);
  });

  afterAll(async () => {
    user?.child.kill('SIGTERM');
    await user?.exited;
  });

  it('flips readiness after a plain kubectl patch', async () => {
    await kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MODE: 'true' }));
    await waitForReadyz(user, 503);
    const current = await status(user);
    expect(current).toMatchObject({ source: 'api', maintenance: true, api: { connection: 'watching', found: true } });
    expect(current.api.resourceVersion).toBe((await configMap()).metadata.resourceVersion);

    await kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MODE: 'false' }));
    await waitForReadyz(user, 200);
  });

  it('flips readiness after kubectl edit', async () => {
    // kubectl edit runs $KUBE_EDITOR on the object's YAML, then sends the difference as a patch.
    const editor = `sed -i -e 's/MAINTENANCE_MODE: "false"/MAINTENANCE_MODE: "true"/'`;
    await kubectl(['edit', 'configmap', 'app-config', '-n', NAMESPACE], { env: { KUBE_EDITOR: editor } });
    expect((await configMap()).data.MAINTENANCE_MODE).toBe('true');
    await waitForReadyz(user, 503);

    const back = `sed -i -e 's/MAINTENANCE_MODE: "true"/MAINTENANCE_MODE: "false"/'`;
    await kubectl(['edit', 'configmap', 'app-config', '-n', NAMESPACE], { env: { KUBE_EDITOR: back } });
    await waitForReadyz(user, 200);
  });

  it('keeps the last good state on an invalid value and reports it', async () => {
    await kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MODE: 'maybe' }));
    const current = await waitFor('the error in /status', async () => {
      const s = await status(user);
      return s.lastError ? s : undefined;
    });
    expect(current.lastError).toContain('MAINTENANCE_MODE');
    expect(await readyz(user)).toBe(200);
    await kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MODE: 'true' }));
    await waitForReadyz(user, 503);
  });

  it('keeps the last good state when the ConfigMap is deleted, and picks it up when it is created again', async () => {
    await kubectl(['delete', 'configmap', 'app-config', '-n', NAMESPACE]);
    const current = await waitFor('the deletion in /status', async () => {
      const s = await status(user);
      return s.lastError?.includes('deleted') ? s : undefined;
    });
    expect(current).toMatchObject({ maintenance: true, api: { found: false } });
    expect(await readyz(user)).toBe(503);

    await kubectl(['create', 'configmap', 'app-config', '-n', NAMESPACE, '--from-literal=MAINTENANCE_MODE=false']);
    await waitForReadyz(user, 200);
    expect((await status(user)).lastError).toBeNull();
  });
});
