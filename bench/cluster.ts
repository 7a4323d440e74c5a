// npm run bench:cluster: fleet convergence on a real single-node cluster. Not a test: it
// prints numbers. Each flip goes through one of the three ways people toggle (the admin API with
// an operator's token, the plugin, a real `kubectl edit`), in turn, and measures from the write:
// - each pod's own time to follow, from its /status (`lastLoadedAt`): every user pod and every
//   page pod, so p99 is over pods, not flips;
// - the user Service's EndpointSlices agreeing with it (no user endpoint ready for "on", every
//   one ready for "off");
// - how long the public Service had no ready endpoint at all (watched, every change timestamped;
//   the page tier's job is that this is 0);
// - for the nudge, the race: pods the admin had to nudge again because they had not applied the
//   change 1.5 s after the first nudge (the pod's sync ran before the kubelet's own ConfigMap
//   watch had the new data), and how long those pods took.
// Paths: the API watch and the nudged volume at 2 and at 10 user replicas, then the volume at
// the kubelet's own sync (NUDGE=off).
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runKubectl, runPlugin } from '../scripts/lib/control-plane.ts';
import { startNodeClusterFromEnvironment } from '../scripts/lib/node-cluster.ts';
import { watchReadyEndpoints, type ReadyWatch } from '../scripts/lib/endpoint-watch.ts';
import { modes, type ModeRows } from './modes.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const API_TOGGLES = Number(process.env.BENCH_CLUSTER_API_TOGGLES ?? 10);
const NUDGE_TOGGLES = Number(process.env.BENCH_CLUSTER_NUDGE_TOGGLES ?? 20);
const VOLUME_TOGGLES = Number(process.env.BENCH_CLUSTER_VOLUME_TOGGLES ?? 5);
const MODE_TOGGLES = Number(process.env.BENCH_CLUSTER_MODE_TOGGLES ?? 20);
/** Which parts to run, comma-separated: api, nudge, off, herd, modes (all by default). */
const LEGS = new Set((process.env.BENCH_CLUSTER_LEGS ?? 'api,nudge,off,herd,modes').split(','));
const NAMESPACE = 'sample-app';
/** The page tier's replicas in the base: the public Service's ready endpoints during maintenance. */
const PAGE_REPLICAS = 2;
/** Where every pod of the install answers /status. */
const STATUS_PORT = 9901;

const { cluster, binaries } = await startNodeClusterFromEnvironment();
const { settings } = cluster;
const kubectl = (args: string[], options: { env?: NodeJS.ProcessEnv } = {}) =>
  runKubectl(binaries.kubectl, cluster.kubeconfig, args, options);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cluster.stop().finally(() => process.exit(130)));
}
// The cluster part, once per cluster: the policy that guards every install's nudge.
await kubectl(['apply', '-k', join(ROOT, 'kustomize/cluster')]);

type Method = 'admin API' | 'plugin' | 'kubectl edit';
const METHODS: Method[] = ['admin API', 'plugin', 'kubectl edit'];

/** A token of an operator allowed to change the switch (the documented Role), for the admin API. */
async function operatorToken(): Promise<string> {
  await runKubectl(binaries.kubectl, cluster.kubeconfig, ['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'bench-operator', namespace: NAMESPACE } },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'Role',
          metadata: { name: 'bench-operator', namespace: NAMESPACE },
          rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['app-config'], verbs: ['get', 'patch'] }],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'bench-operator', namespace: NAMESPACE },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'bench-operator' },
          subjects: [{ kind: 'ServiceAccount', name: 'bench-operator', namespace: NAMESPACE }],
        },
      ],
    }),
  });
  return (await kubectl(['create', 'token', 'bench-operator', '-n', NAMESPACE])).trim();
}

async function serviceAddress(name: string): Promise<string> {
  return (await kubectl(['get', 'service', name, '-n', NAMESPACE, '-o', 'jsonpath={.spec.clusterIP}'])).trim();
}

/** Turns maintenance on or off one way; resolves once the write was acknowledged. */
async function write(on: boolean, method: Method, token: string): Promise<void> {
  if (method === 'admin API') {
    const response = await fetch(`http://${await serviceAddress('sample-app-maintenance-admin')}:8080/admin/api/maintenance`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ enabled: on, reason: 'bench:cluster' }),
    });
    if (response.status !== 200) throw new Error(`PUT /admin/api/maintenance: ${response.status} ${await response.text()}`);
  } else if (method === 'plugin') {
    const result = await runPlugin(binaries.kubectl, cluster.kubeconfig, [on ? 'on' : 'off', '--reason', 'bench:cluster', '-n', NAMESPACE]);
    if (result.code !== 0) throw new Error(`kubectl maintenance ${on ? 'on' : 'off'}: ${result.stderr}`);
  } else {
    await kubectl(['edit', 'configmap', 'app-config', '-n', NAMESPACE], {
      env: { KUBE_EDITOR: `sed -i -e 's/MAINTENANCE_MODE: "${!on}"/MAINTENANCE_MODE: "${on}"/'` },
    });
  }
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

/** The running pods of a tier: name → IP. */
async function podAddresses(component: string): Promise<Map<string, string>> {
  const list = JSON.parse(
    await kubectl(['get', 'pods', '-n', NAMESPACE, '-l', `app.kubernetes.io/component=${component}`, '-o', 'json']),
  ) as { items: { metadata: { name: string; deletionTimestamp?: string }; status: { podIP?: string } }[] };
  return new Map(
    list.items
      .filter((pod) => pod.metadata.deletionTimestamp === undefined && pod.status.podIP)
      .map((pod) => [pod.metadata.name, pod.status.podIP!]),
  );
}

/** A pod's /status: whether it is in maintenance, and when it loaded the config it applies. */
async function podStatus(address: string): Promise<{ maintenance: boolean; loadedAt: number } | null> {
  try {
    const response = await fetch(`http://${address}:${STATUS_PORT}/status`, { signal: AbortSignal.timeout(1_000) });
    const status = (await response.json()) as { maintenance?: boolean; lastLoadedAt?: string | null };
    return typeof status.maintenance === 'boolean' && status.lastLoadedAt
      ? { maintenance: status.maintenance, loadedAt: Date.parse(status.lastLoadedAt) }
      : null;
  } catch {
    return null;
  }
}

interface FlipResult {
  /** The user Service's EndpointSlices agreeing with the write, ms after it. */
  converged: number;
  /** The public Service with no ready endpoint, ms. */
  empty: number;
  /** Each user pod's and page pod's time to follow, ms after the write. */
  users: Map<string, number>;
  pages: Map<string, number>;
}

/** Writes the switch; returns when every user and page pod follows and both Services settled. */
async function flip(on: boolean, replicas: number, method: Method, token: string, publicWatch: ReadyWatch): Promise<FlipResult> {
  const [userPods, pagePods] = await Promise.all([podAddresses('user'), podAddresses('page')]);
  if (userPods.size !== replicas) throw new Error(`${userPods.size} user pods running, not ${replicas}`);
  const start = Date.now();
  await write(on, method, token);
  const deadline = start + 300_000;
  const users = new Map<string, number>();
  const pages = new Map<string, number>();
  const follow = async (pods: Map<string, string>, into: Map<string, number>) =>
    Promise.all(
      [...pods]
        .filter(([name]) => !into.has(name))
        .map(async ([name, address]) => {
          const status = await podStatus(address);
          if (status?.maintenance === on) into.set(name, Math.max(0, status.loadedAt - start));
        }),
    );
  let converged = 0;
  for (;;) {
    const [ready] = await Promise.all([userEndpoints(), follow(userPods, users), follow(pagePods, pages)]);
    if (converged === 0 && ready.length === replicas && ready.every((value) => value === !on)) converged = Date.now() - start;
    // Settled: for on, the page pods are in; for off, all user pods are, and the page pods have left.
    const settled = converged > 0 && publicWatch.ready === (on ? PAGE_REPLICAS : replicas);
    if (settled && users.size === userPods.size && pages.size === pagePods.size)
      return { converged, empty: publicWatch.emptyMs(start), users, pages };
    if (Date.now() > deadline)
      throw new Error(
        `no convergence within 300 s (endpoints: ${JSON.stringify(ready)}, public ready ${publicWatch.ready}, pods followed ${users.size}/${userPods.size} and ${pages.size}/${pagePods.size})`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The admin's last nudge round: how many pods it had to nudge again. */
async function lastRetried(): Promise<number> {
  const response = await fetch(`http://${await serviceAddress('sample-app-maintenance-admin')}:8080/status`);
  const status = (await response.json()) as { nudge?: { lastRound: { retried: number } | null } | null };
  return status.nudge?.lastRound?.retried ?? 0;
}

const rows = {
  pods: [] as string[],
  pages: [] as string[],
  endpoints: [] as string[],
  empty: [] as string[],
  race: [] as string[],
  herd: [] as string[],
};
const modeRows: ModeRows = { rounds: [], endpoints: [], empty: [], writes: [], memory: [] };

async function toggles(label: string, count: number, replicas: number, options: { race?: boolean } = {}) {
  const token = await operatorToken();
  const publicWatch = watchReadyEndpoints(binaries.kubectl, cluster.kubeconfig, NAMESPACE, 'sample-app-maintenance-public');
  const samples = { on: newSamples(), off: newSamples() };
  const empty: number[] = [];
  let raced = 0;
  const racedFollow: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      for (const on of [true, false]) {
        // Both directions through each method in turn: admin API, plugin, kubectl edit.
        const method = METHODS[(i * 2 + (on ? 0 : 1)) % METHODS.length]!;
        const result = await flip(on, replicas, method, token, publicWatch);
        console.error(
          `  ${label}, ${on ? 'on' : 'off'} by ${method}: pods ${seconds(Math.max(...result.users.values()))}, endpoints ${seconds(result.converged)}`,
        );
        const into = samples[on ? 'on' : 'off'];
        into.pods.push(...result.users.values());
        into.pages.push(...result.pages.values());
        into.endpoints.push(result.converged);
        empty.push(result.empty);
        if (options.race) {
          const retried = await lastRetried();
          raced += retried;
          // The pods nudged again are the slowest of the flip.
          racedFollow.push(...[...result.users.values(), ...result.pages.values()].sort((a, b) => b - a).slice(0, retried));
        }
      }
    }
  } finally {
    publicWatch.stop();
  }
  if (publicWatch.changes < count * 2)
    throw new Error(`the public Service watch saw only ${publicWatch.changes} changes in ${count * 2} flips`);
  for (const direction of ['on', 'off'] as const) {
    rows.pods.push(summary(`${label}, ${direction}`, samples[direction].pods));
    rows.pages.push(summary(`${label}, ${direction}`, samples[direction].pages));
    rows.endpoints.push(summary(`${label}, ${direction}`, samples[direction].endpoints));
  }
  rows.empty.push(`| ${label} | ${empty.length} | ${seconds(empty.reduce((sum, ms) => sum + ms, 0))} | ${seconds(Math.max(...empty))} |`);
  if (options.race) {
    const podFlips = samples.on.pods.length + samples.off.pods.length + samples.on.pages.length + samples.off.pages.length;
    rows.race.push(
      `| ${label} | ${count * 2} | ${podFlips} | ${raced} | ${racedFollow.length ? seconds(Math.max(...racedFollow)) : '-'} |`,
    );
  }
}

const newSamples = () => ({ pods: [] as number[], pages: [] as number[], endpoints: [] as number[] });

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
  const admin = await serviceAddress('sample-app-maintenance-admin');
  const deadline = Date.now() + 300_000;
  for (;;) {
    const ready = await userEndpoints();
    // The admin answers through its Service: kube-proxy has its endpoint.
    const answers = await fetch(`http://${admin}:8080/status`, { signal: AbortSignal.timeout(1_000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (answers && ready.length === replicas && ready.every(Boolean) && (await podAddresses('user')).size === replicas) return;
    if (Date.now() > deadline) throw new Error(`${overlay} at ${replicas} replicas not ready within 300 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const seconds = (ms: number) => (ms / 1000).toFixed(2);

function summary(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return `| ${label} | ${samples.length} | ${seconds(at(0.5))} | ${seconds(at(0.99))} | ${seconds(sorted.at(-1)!)} |`;
}

/**
 * The crowd that comes back when maintenance ends: HERD_CLIENTS clients, each on a fresh
 * connection after the other, through the public Service from the moment of "off" for
 * HERD_SECONDS, against a fleet of `replicas` (2: what an HPA leaves after maintenance without
 * the hold; 4: what the hold keeps). Counts the app's answers, the 503 page (before the pods are
 * back) and failures, with the latency of the app's answers.
 */
/** One GET on a connection of its own (so kube-proxy picks an endpoint each time): its status. */
function freshGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

const HERD_CLIENTS = Number(process.env.BENCH_CLUSTER_HERD_CLIENTS ?? 64);
const HERD_SECONDS = Number(process.env.BENCH_CLUSTER_HERD_SECONDS ?? 10);
async function herd(replicas: number): Promise<void> {
  await deploy('demo/local', replicas);
  const token = await operatorToken();
  const publicWatch = watchReadyEndpoints(binaries.kubectl, cluster.kubeconfig, NAMESPACE, 'sample-app-maintenance-public');
  try {
    await flip(true, replicas, 'admin API', token, publicWatch);
    const address = await serviceAddress('sample-app-maintenance-public');
    const counts = { app: 0, page: 0, failed: 0 };
    const latencies: number[] = [];
    const start = Date.now();
    let firstApp = 0;
    const until = start + HERD_SECONDS * 1000;
    const clients = Array.from({ length: HERD_CLIENTS }, async () => {
      // Bounded per client too: every request takes an ephemeral port for a minute (TIME_WAIT).
      for (let sent = 0; Date.now() < until && sent < 200; sent++) {
        const began = performance.now();
        try {
          const status = await freshGet(`http://${address}:8080/`);
          if (status === 200) {
            counts.app++;
            latencies.push(performance.now() - began);
            firstApp ||= Date.now() - start;
          } else if (status === 503) counts.page++;
          else counts.failed++;
        } catch {
          counts.failed++;
        }
      }
    });
    await write(false, 'admin API', token);
    await Promise.all(clients);
    const sorted = latencies.sort((a, b) => a - b);
    const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!.toFixed(1) : '-');
    rows.herd.push(
      `| ${replicas} | ${HERD_CLIENTS} | ${counts.app + counts.page + counts.failed} | ${counts.app} | ${counts.page} | ${counts.failed} | ${seconds(firstApp)} | ${at(0.5)} | ${at(0.99)} | ${sorted.length ? sorted.at(-1)!.toFixed(1) : '-'} |`,
    );
  } finally {
    publicWatch.stop();
  }
}

try {
  if (LEGS.has('api'))
    for (const replicas of [2, 10]) {
      await deploy('demo/local-api-watch', replicas);
      console.error(`api-watch: ${API_TOGGLES} toggles each way at ${replicas} user replicas ...`);
      await toggles(`api-watch, ${replicas} replicas`, API_TOGGLES, replicas);
    }
  // The volume source: the local overlay (the page tier on the API watch, the demo's user pods on the volume), nudged.
  await kubectl(['delete', '-k', join(ROOT, 'demo/local-api-watch'), '--wait=true', '--ignore-not-found']);
  if (LEGS.has('nudge'))
    for (const replicas of [2, 10]) {
      await deploy('demo/local', replicas);
      console.error(`nudge: ${NUDGE_TOGGLES} toggles each way at ${replicas} user replicas ...`);
      await toggles(`volume, nudged, ${replicas} replicas`, NUDGE_TOGGLES, replicas, { race: true });
    }
  if (LEGS.has('herd'))
    for (const replicas of [2, 4]) {
      console.error(`herd: ${HERD_CLIENTS} clients for ${HERD_SECONDS} s from "off", at ${replicas} user replicas ...`);
      await herd(replicas);
      // The last run's ports out of TIME_WAIT before the next.
      await new Promise((resolve) => setTimeout(resolve, 60_000));
    }
  if (LEGS.has('modes')) {
    console.error(`modes: the recipe at 10 replicas, with the gate sidecar and sidecar-free, ${MODE_TOGGLES} toggles each way ...`);
    await modes(
      { kubectl, kubectlBinary: binaries.kubectl, kubeconfig: cluster.kubeconfig, containerdSocket: cluster.containerdSocket },
      MODE_TOGGLES,
      modeRows,
      process.env.BENCH_CLUSTER_MODES ? (process.env.BENCH_CLUSTER_MODES.split(',') as ('sidecar' | 'readiness-gate')[]) : undefined,
    );
  }
  if (LEGS.has('off')) {
    // Then the same without the nudge, at the kubelet's own sync, once no admin that nudges is left.
    await deploy('demo/local', 2);
    const nudging = [...(await podAddresses('admin')).keys()];
    await kubectl(['set', 'env', 'deployment/sample-app-maintenance-admin', '-n', NAMESPACE, 'NUDGE=off']);
    await kubectl(['rollout', 'status', 'deployment/sample-app-maintenance-admin', '-n', NAMESPACE, '--timeout=300s']);
    await kubectl(['wait', '--for=delete', '-n', NAMESPACE, '--timeout=120s', ...nudging.map((name) => `pod/${name}`)]);
    console.error(
      `volume: ${VOLUME_TOGGLES} toggles each way at 2 user replicas, NUDGE=off, kubelet syncFrequency ${settings.kubeletSyncFrequency} ...`,
    );
    await toggles(`volume, NUDGE=off (syncFrequency ${settings.kubeletSyncFrequency}), 2 replicas`, VOLUME_TOGGLES, 2);
  }
} finally {
  await cluster.stop();
}

const { cpus } = await import('node:os');
console.log(`
Machine: ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}, kubelet v1.37.2 on containerd 1.6, ${new Date().toISOString().slice(0, 10)}
Flips through the admin API, the plugin and kubectl edit in turn. Seconds from the write.

Each user pod following, from its own /status (lastLoadedAt); samples are pods × flips:

| source, replicas, direction | samples | p50 | p99 | max |
|---|---:|---:|---:|---:|
${rows.pods.join('\n')}

Each page pod following (the page tier watches the API on every path):

| source, replicas, direction | samples | p50 | p99 | max |
|---|---:|---:|---:|---:|
${rows.pages.join('\n')}

The user Service's EndpointSlices agreeing with the write (no ready user endpoint for "on", all
ready for "off"; "on" includes the pods' 6 s readiness grace):

| source, replicas, direction | flips | p50 | p99 | max |
|---|---:|---:|---:|---:|
${rows.endpoints.join('\n')}

The public Service (user pods and the page tier) with no ready endpoint at all, watched through its
EndpointSlices from each write until the flip settled:

| source, replicas | flips | total | longest |
|---|---:|---:|---:|
${rows.empty.join('\n')}

The nudge's race: pods the admin nudged again because they had not applied the change 1.5 s
after the first nudge, and the longest time to follow among them:

| source, replicas | flips | pod flips | nudged again | longest |
|---|---:|---:|---:|---:|
${rows.race.join('\n')}

The crowd when maintenance ends: ${HERD_CLIENTS} clients, one request after another on fresh
connections, through the public Service for ${HERD_SECONDS} s from the "off" write, at the fleet an
HPA leaves without the hold (2) and the one the hold keeps (4). "Page" is the 503 page while the
pods come back; "failed" is anything else (a refused or reset connection, a timeout, a 5xx).
Latency of the app's answers, in milliseconds:

| user pods | clients | requests | app | page | failed | first app answer (s) | p50 | p99 | max |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.herd.join('\n')}

The two modes side by side: the recipe, your app (nginx) at 10 replicas, with the gate sidecar
(components/gate, nudged) and sidecar-free (components/readiness-gate). Seconds from the write
to the app Service's EndpointSlices agreeing (every endpoint out for "on", in for "off"):

| mode, direction | flips | p50 | p99 | max |
|---|---:|---:|---:|---:|
${modeRows.endpoints.join('\n')}

The public Service with no ready endpoint at all, from each write until the flip settled:

| mode | flips | total | longest |
|---|---:|---:|---:|
${modeRows.empty.join('\n')}

The admin's writes to the API per flip, summed over its pods (a conflict: the other admin pod had
written the pod first; it is not written again):

| mode | admin pods | writes | per flip | conflicts per flip |
|---|---:|---|---:|---:|
${modeRows.writes.join('\n')}

Sidecar-free, each flip's round of status patches (the admin pod that wrote): pods written, and
how long from its first write to its last answer, at NUDGE_QPS 400 and 32 in flight:

| mode | flips | pods per round | mean ms | max ms | patches per second |
|---|---:|---:|---:|---:|---:|
${modeRows.rounds.join('\n')}

Memory our containers use after the flips (working set from their cgroups, MiB):

| mode | gates | gates, total | admins | admins, total | page pods | page, total | all of ours |
|---|---:|---:|---:|---:|---:|---:|---:|
${modeRows.memory.join('\n')}
`);
