import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { findBinaries, startControlPlane, type ControlPlane } from '../../scripts/lib/control-plane.ts';
import { buildPlugin } from '../../scripts/lib/plugin.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    envtest: { kubeconfig: string; server: string; kubectl: string } | { skip: string };
  }
}

/** Gateway API CRDs are not built into kube-apiserver; the maintenance-page component needs HTTPRoute. */
async function installGatewayApi(plane: ControlPlane): Promise<void> {
  let dir = process.env.GATEWAY_API_CRDS;
  if (!dir) {
    const { stdout } = await promisify(execFile)('bash', [
      fileURLToPath(new URL('../../scripts/envtest/gateway-api-crds.sh', import.meta.url)),
    ]);
    dir = stdout.trim().split('\n').at(-1)!;
  }
  // Server-side: the CRDs are too large for the last-applied annotation of a client-side apply.
  await plane.kubectl(['apply', '--server-side', '-f', dir]);
  console.log(`[envtest] Gateway API CRDs installed from ${dir}`);
}

/** One real etcd + kube-apiserver for the whole e2e project. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const binaries = findBinaries();
  if (typeof binaries === 'string') {
    // Outside CI the e2e tests are skipped with this reason; in CI a missing binary fails the run.
    if (process.env.CI) throw new Error(binaries);
    console.warn(`\n[e2e] SKIPPED: ${binaries}\n`);
    project.provide('envtest', { skip: binaries });
    return async () => {};
  }
  // The plugin as users get it: the single executable, built from the sources as they are now.
  console.log(`[e2e] plugin built: ${await buildPlugin()}`);
  const plane: ControlPlane = await startControlPlane(binaries, (line) => console.log(`[envtest] ${line}`));
  try {
    await installGatewayApi(plane);
  } catch (error) {
    await plane.stop();
    throw error;
  }
  project.provide('envtest', { kubeconfig: plane.kubeconfig, server: plane.server, kubectl: binaries.kubectl });
  return () => plane.stop();
}
