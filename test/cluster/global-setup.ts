import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { buildPlugin } from '../../scripts/lib/plugin.ts';
import { findNodeClusterParts, leftovers, nodeClusterSettings, startNodeCluster } from '../../scripts/lib/node-cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    nodeCluster: { kubeconfig: string; kubectl: string; containerdSocket: string; syncFrequency: string } | { skip: string };
  }
}

/** One real single-node cluster for the whole cluster project; teardown must leave nothing behind. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const parts = findNodeClusterParts();
  if (typeof parts === 'string') {
    // Outside CI the cluster tests are skipped with this reason; in CI a missing part fails the run.
    if (process.env.CI) throw new Error(parts);
    console.warn(`\n[cluster] SKIPPED: ${parts}\n`);
    project.provide('nodeCluster', { skip: parts });
    return async () => {};
  }
  console.log(`[cluster] plugin built: ${await buildPlugin()}`);
  const settings = nodeClusterSettings();
  const cluster = await startNodeCluster(parts.binaries, parts.images, settings, (line) => console.log(`[cluster] ${line}`));
  // As a cluster admin does once per cluster, before any install: the cluster part.
  await cluster.kubectl(['apply', '-k', fileURLToPath(new URL('../../kustomize/cluster', import.meta.url))]);
  project.provide('nodeCluster', {
    kubeconfig: cluster.kubeconfig,
    kubectl: parts.binaries.kubectl,
    containerdSocket: cluster.containerdSocket,
    syncFrequency: settings.kubeletSyncFrequency,
  });
  return async () => {
    await cluster.stop();
    const left = await leftovers(settings);
    console.log(`[cluster] teardown left ${left.length === 0 ? 'nothing behind' : left.join(', ')}`);
    if (left.length > 0) throw new Error(`the cluster's teardown left behind: ${left.join(', ')}`);
  };
}
