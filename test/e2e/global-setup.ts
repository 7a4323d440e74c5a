import type { TestProject } from 'vitest/node';
import { findBinaries, startControlPlane, type ControlPlane } from '../../scripts/envtest/control-plane.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    envtest: { kubeconfig: string; server: string; kubectl: string; dir: string } | { skip: string };
  }
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
  const plane: ControlPlane = await startControlPlane(binaries, (line) => console.log(`[envtest] ${line}`));
  project.provide('envtest', { kubeconfig: plane.kubeconfig, server: plane.server, kubectl: binaries.kubectl, dir: plane.dir });
  return () => plane.stop();
}
