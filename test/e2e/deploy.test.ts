import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinaries, startControlPlane, writeTokenKubeconfig, type Binaries, type ControlPlane } from '../support/control-plane.ts';
import { ANNOTATIONS } from '../../src/config/configmap-writer.ts';
import { spawnService, type ServiceProcess } from '../helpers/process.ts';
import { waitFor } from '../helpers/wait.ts';
import { NAMESPACE, ROOT, skipReason } from './cluster.ts';

const BASE = join(ROOT, 'k8s');
const PLUGIN = join(ROOT, 'bin');

// Its own control plane: a clean cluster, as a platform engineer's first `kubectl apply -k` meets it.
describe.skipIf(skipReason !== null)('deploying with kubectl apply -k', () => {
  let plane: ControlPlane;
  let binaries: Binaries;
  let admin: ServiceProcess;
  const mode = async () => (await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.data.MAINTENANCE_MODE}'])).trim();

  /** Runs the plugin the way kubectl runs it: found on PATH as kubectl-maintenance. */
  const plugin = async (args: string[]) => {
    const child = spawn(binaries.kubectl, ['maintenance', ...args], {
      env: { ...process.env, KUBECONFIG: plane.kubeconfig, PATH: `${PLUGIN}:${dirname(binaries.kubectl)}:${process.env.PATH}` },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    return { code, stdout, stderr };
  };

  beforeAll(async () => {
    const found = findBinaries();
    if (typeof found === 'string') throw new Error(found);
    binaries = found;
    plane = await startControlPlane(binaries);
    await plane.kubectl(['apply', '-k', BASE]);
    const tokenFile = join(plane.dir, 'admin-tokens');
    await writeFile(tokenFile, 'e2e-admin-token,release-manager\n');
    // The admin tier as deployed: its own service account, patching through the API.
    const adminToken = (await plane.kubectl(['create', 'token', 'sample-app-admin', '-n', NAMESPACE])).trim();
    const kubeconfig = await writeTokenKubeconfig(plane.kubeconfig, adminToken, 'admin-sa', NAMESPACE);
    admin = await spawnService({
      ROLE: 'admin',
      CONFIG_SOURCE: 'api',
      POD_NAMESPACE: NAMESPACE,
      ADMIN_AUTH: 'token',
      ADMIN_TOKEN_FILE: tokenFile,
      KUBECONFIG: kubeconfig,
    });
  });

  afterAll(async () => {
    admin?.child.kill('SIGTERM');
    await admin?.exited;
    await plane?.stop();
  });

  it('creates a ConfigMap that holds no toggled key, so maintenance starts off', async () => {
    expect(await mode()).toBe('');
  });

  it('keeps maintenance on across client-side and server-side re-applies after an admin turned it on', async () => {
    const response = await fetch(`${admin.url}/admin/api/maintenance`, {
      method: 'PUT',
      headers: { Authorization: 'Bearer e2e-admin-token', 'Content-Type': 'application/json' },
      body: JSON.stringify({ enabled: true, reason: 'release 42', message: 'Back at 22:00 UTC' }),
    });
    expect(response.status).toBe(200);
    expect(await mode()).toBe('true');

    await plane.kubectl(['apply', '-k', BASE]);
    expect(await mode()).toBe('true');

    await plane.kubectl(['apply', '--server-side', '-k', BASE]);
    expect(await mode()).toBe('true');

    await plane.kubectl(['apply', '--server-side', '-k', BASE]);
    await plane.kubectl(['apply', '-k', BASE]);
    expect(await mode()).toBe('true');
    const message = await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.data.MAINTENANCE_MESSAGE}']);
    expect(message).toBe('Back at 22:00 UTC');
  });

  it('lets the kubectl plugin show and toggle maintenance, recording who and why', async () => {
    const status = await plugin(['status', '-n', NAMESPACE]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^maintenance: on/);
    expect(status.stdout).toContain('token:release-manager');

    const missingReason = await plugin(['off', '-n', NAMESPACE]);
    expect(missingReason.code).toBe(2);
    expect(missingReason.stderr).toContain('--reason is required');
    expect(await mode()).toBe('true');

    const off = await plugin(['off', '-n', NAMESPACE, '--reason', 'release 42 "done"\nall green']);
    expect(off.stderr).toBe('');
    expect(off.code).toBe(0);
    expect(off.stdout).toMatch(/^maintenance off in sample-app\/app-config \(resourceVersion \d+\), by envtest-admin/);
    expect(await mode()).toBe('false');
    const annotations = JSON.parse(
      await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.metadata.annotations}']),
    ) as Record<string, string>;
    expect(annotations[ANNOTATIONS.changedBy]).toBe('envtest-admin');
    expect(annotations[ANNOTATIONS.reason]).toBe('release 42 "done"\nall green');
    expect(Date.parse(annotations[ANNOTATIONS.changedAt]!)).not.toBeNaN();

    const on = await plugin(['on', '-n', NAMESPACE, '--reason', 'again', '--message', 'Ünïcode \\ and "quotes"']);
    expect(on.code).toBe(0);
    expect(await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.data.MAINTENANCE_MESSAGE}'])).toBe('Ünïcode \\ and "quotes"');
    // The admin tier, following the API, sees what the plugin wrote.
    await waitFor('the admin tier to see the change', async () => {
      const current = (await (await fetch(`${admin.url}/status`)).json()) as { maintenance: boolean; config: { message: string } };
      return current.maintenance && current.config.message === 'Ünïcode \\ and "quotes"' ? true : undefined;
    });
  });

  it('reports a conflict from the plugin instead of overwriting a newer change', async () => {
    const seen = (await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.metadata.resourceVersion}'])).trim();
    await plane.kubectl(['patch', 'configmap', 'app-config', '-n', NAMESPACE, '--type=merge', '-p', '{"data":{"MAINTENANCE_MESSAGE":"someone else"}}']);
    const stale = await plugin(['off', '-n', NAMESPACE, '--reason', 'stale', '--if-version', seen]);
    expect(stale.code).toBe(3);
    expect(stale.stderr).toContain(`conflict: sample-app/app-config changed after resourceVersion ${seen} was read; nothing was written.`);
    expect(await mode()).toBe('true');
  });
});
