import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinaries, startControlPlane, type ControlPlane, patchConfigMapArgs } from '../../scripts/lib/control-plane.ts';
import { spawnService, type ServiceProcess } from '../helpers/process.ts';
import { waitFor } from '../helpers/wait.ts';
import { NAMESPACE, ROOT, skipReason } from './cluster.ts';

// Its own control plane, because this test stops the API server under the watch.
describe.skipIf(skipReason !== null)('the API-watch source when the API server goes away', () => {
  let plane: ControlPlane;
  let user: ServiceProcess;
  const readyz = async () => {
    const response = await fetch(`${user.url}/readyz`);
    await response.text();
    return response.status;
  };

  beforeAll(async () => {
    const binaries = findBinaries();
    if (typeof binaries === 'string') throw new Error(binaries);
    plane = await startControlPlane(binaries);
    await plane.kubectl(['apply', '-k', join(ROOT, 'demo/local-api-watch')]);
    await plane.kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MODE: 'false' }));
    user = await spawnService({
      ROLE: 'user',
      CONFIG_SOURCE: 'api',
      POD_NAMESPACE: NAMESPACE,
      KUBECONFIG: plane.kubeconfig,
      LOG_LEVEL: 'info',
    });
    await waitFor('ready', async () => ((await readyz()) === 200 ? true : undefined));
  });

  afterAll(async () => {
    user?.child.kill('SIGTERM');
    await user?.exited;
    await plane?.stop();
  });

  it('restarts the stopped informer with backoff and sees changes made after the API server returns', async () => {
    await plane.restartApiServer();
    await plane.kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MODE: 'true' }));
    await waitFor('/readyz 503', async () => ((await readyz()) === 503 ? true : undefined), { timeoutMs: 60_000 });

    const messages = user.logs().map((line) => line.msg);
    expect(messages).toContain('watch failed; restarting');
    const status = (await (await fetch(`${user.url}/status`)).json()) as { api: { connection: string; lastError: string | null } };
    expect(status.api.connection).toBe('watching');
    expect(status.api.lastError).toBeNull();
  });
});
