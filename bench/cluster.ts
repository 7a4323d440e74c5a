// npm run bench:cluster: fleet convergence on a real single-node cluster. Not a test: it
// prints numbers. For each toggle, the time from the ConfigMap patch to the moment the user
// Service's EndpointSlices agree with it: no user endpoint ready for "on", every one ready for
// "off"; and, watching the public Service's EndpointSlices, how long it had no ready endpoint
// at all around the flip (the page tier's job is that this is 0). With the API watch and with
// the nudged volume at 2 and at 10 user replicas, and with the volume at the kubelet's own sync
// (NUDGE=off); and, for the nudge, how often a pod needed a second nudge (the race between the
// pod event and the kubelet's own ConfigMap watch) and how long those flips took.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runKubectl, patchConfigMapArgs } from '../scripts/lib/control-plane.ts';
import { startNodeClusterFromEnvironment } from '../scripts/lib/node-cluster.ts';
import { watchReadyEndpoints, type ReadyWatch } from '../scripts/lib/endpoint-watch.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const API_TOGGLES = Number(process.env.BENCH_CLUSTER_API_TOGGLES ?? 10);
const VOLUME_TOGGLES = Number(process.env.BENCH_CLUSTER_VOLUME_TOGGLES ?? 5);
const NAMESPACE = 'sample-app';
/** The page tier's replicas in the base: the public Service's ready endpoints during maintenance. */
const PAGE_REPLICAS = 2;

const { cluster, binaries } = await startNodeClusterFromEnvironment();
const { settings } = cluster;
const kubectl = (args: string[]) => runKubectl(binaries.kubectl, cluster.kubeconfig, args);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cluster.stop().finally(() => process.exit(130)));
}

async function userEndpoints(): Promise<boolean[]> {
  const slices = JSON.parse(
    await kubectl(['get', 'endpointslices', '-n', NAMESPACE, '-l', 'kubernetes.io/service-name=sample-app-user', '-o', 'json']),
  ) as {
    items: { endpoints?: { conditions?: { ready?: boolean; terminating?: boolean } }[] }[];
  };
  return slices.items.flatMap((slice) =>
    (slice.endpoints ?? []).filter((endpoint) => !endpoint.conditions?.terminating).map((endpoint) => endpoint.conditions?.ready === true),
  );
}

/**
 * Patches the switch; returns the milliseconds until the user EndpointSlices agree, and how long
 * the public Service had no ready endpoint until it settled (one tier ready: page for on, users for off).
 */
async function toggle(on: boolean, replicas: number, publicWatch: ReadyWatch): Promise<{ converged: number; empty: number }> {
  const start = Date.now();
  await kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MODE: String(on) }));
  const deadline = start + 300_000;
  let converged = 0;
  for (;;) {
    const ready = await userEndpoints();
    if (converged === 0 && ready.length === replicas && ready.every((value) => value === !on)) converged = Date.now() - start;
    // Settled: for on, the page pod is in; for off, all user pods are, and the page pod has left.
    if (converged > 0 && publicWatch.ready === (on ? PAGE_REPLICAS : replicas)) return { converged, empty: publicWatch.emptyMs(start) };
    if (Date.now() > deadline)
      throw new Error(`no convergence within 300 s (endpoints: ${JSON.stringify(ready)}, public ready ${publicWatch.ready})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The admin's nudge status: how many pods the last change had to nudge again. */
async function lastRetried(): Promise<number | null> {
  const address = (
    await kubectl(['get', 'service', 'sample-app-maintenance-admin', '-n', NAMESPACE, '-o', 'jsonpath={.spec.clusterIP}'])
  ).trim();
  const status = (await (await fetch(`http://${address}:8080/status`)).json()) as { nudge?: { lastRound: { retried: number } | null } };
  return status.nudge?.lastRound?.retried ?? null;
}

async function toggles(label: string, count: number, replicas: number, race = false) {
  const publicWatch = watchReadyEndpoints(binaries.kubectl, cluster.kubeconfig, NAMESPACE, 'sample-app-maintenance-public');
  const on: number[] = [];
  const off: number[] = [];
  const empty: number[] = [];
  const renudged: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      for (const direction of [true, false]) {
        const result = await toggle(direction, replicas, publicWatch);
        (direction ? on : off).push(result.converged);
        empty.push(result.empty);
        // "Off" has no readiness grace: a pod nudged again there had remounted the old data.
        if (race && !direction && ((await lastRetried()) ?? 0) > 0) renudged.push(result.converged);
      }
    }
  } finally {
    publicWatch.stop();
  }
  if (race)
    raceRows.push(
      `| ${label} | ${off.length} | ${renudged.length} | ${renudged.length ? (Math.max(...renudged) / 1000).toFixed(2) : '-'} |`,
    );
  if (publicWatch.changes < count * 2)
    throw new Error(`the public Service watch saw only ${publicWatch.changes} changes in ${count * 2} flips`);
  rows.push(summary(`${label}, on`, on), summary(`${label}, off`, off));
  emptyRows.push(
    `| ${label} | ${empty.length} | ${(empty.reduce((sum, ms) => sum + ms, 0) / 1000).toFixed(2)} | ${(Math.max(...empty) / 1000).toFixed(2)} |`,
  );
}

async function deploy(overlay: string, replicas: number): Promise<void> {
  await kubectl(['apply', '-k', join(ROOT, overlay)]);
  await kubectl(['scale', 'deployment/sample-app-user', '-n', NAMESPACE, `--replicas=${replicas}`]);
  await kubectl(['rollout', 'status', 'deployment/sample-app-user', '-n', NAMESPACE, '--timeout=300s']);
  // Not the page tier: it is Available only during maintenance.
  await kubectl([
    'wait',
    '--for=condition=Available',
    'deployment/sample-app-user',
    'deployment/sample-app-maintenance-admin',
    '-n',
    NAMESPACE,
    '--timeout=300s',
  ]);
  for (;;) {
    const ready = await userEndpoints();
    if (ready.length === replicas && ready.every(Boolean)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function summary(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  const s = (ms: number) => (ms / 1000).toFixed(2);
  return `| ${label} | ${samples.length} | ${s(at(0.5))} | ${s(at(0.95))} | ${s(sorted.at(-1)!)} |`;
}

const rows: string[] = [];
const emptyRows: string[] = [];
const raceRows: string[] = [];
try {
  for (const replicas of [2, 10]) {
    await deploy('kustomize/overlays/local-api-watch', replicas);
    console.error(`api-watch: ${API_TOGGLES} toggles each way at ${replicas} user replicas ...`);
    await toggles(`api-watch, ${replicas} replicas`, API_TOGGLES, replicas);
  }
  // The volume source: the local overlay (the page tier on the API watch, the demo's user pods on the volume), nudged.
  await kubectl(['delete', '-k', join(ROOT, 'kustomize/overlays/local-api-watch'), '--wait=true', '--ignore-not-found']);
  for (const replicas of [2, 10]) {
    await deploy('kustomize/overlays/local', replicas);
    console.error(`nudge: ${API_TOGGLES} toggles each way at ${replicas} user replicas ...`);
    await toggles(`volume, nudged, ${replicas} replicas`, API_TOGGLES, replicas, true);
  }
  // Then the same without the nudge, at the kubelet's own sync.
  await deploy('kustomize/overlays/local', 2);
  await kubectl(['set', 'env', 'deployment/sample-app-maintenance-admin', '-n', NAMESPACE, 'NUDGE=off']);
  await kubectl(['rollout', 'status', 'deployment/sample-app-maintenance-admin', '-n', NAMESPACE, '--timeout=300s']);
  console.error(
    `volume: ${VOLUME_TOGGLES} toggles each way at 2 user replicas, NUDGE=off, kubelet syncFrequency ${settings.kubeletSyncFrequency} ...`,
  );
  await toggles(`volume, NUDGE=off (syncFrequency ${settings.kubeletSyncFrequency}), 2 replicas`, VOLUME_TOGGLES, 2);
} finally {
  await cluster.stop();
}

const cpu = (await import('node:os')).cpus()[0]?.model.trim() ?? 'unknown CPU';
console.log(`
Machine: ${cpu}, ${(await import('node:os')).cpus().length} cores, Node ${process.version}, kubelet v1.37.2 on containerd 1.6, ${new Date().toISOString().slice(0, 10)}
Fleet convergence: from the ConfigMap patch to the user Service's EndpointSlices agreeing with it (seconds).

| source, replicas, direction | toggles | p50 | p95 | max |
|---|---:|---:|---:|---:|
${rows.join('\n')}

The public Service (user pods and the page tier) with no ready endpoint at all, watched through its
EndpointSlices from each patch until the flip settled (seconds):

| source, replicas | flips | total | longest |
|---|---:|---:|---:|
${emptyRows.join('\n')}

The nudge's race: "off" flips in which the admin had to nudge a pod again (it had remounted the
old data), and the longest of those flips (seconds):

| source, replicas | off flips | nudged again | longest |
|---|---:|---:|---:|
${raceRows.join('\n')}
`);
