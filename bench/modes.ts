// The leg `modes` of npm run bench:cluster: the README's recipe at 10 replicas of your app
// (Debian's nginx), once with the gate sidecar (components/gate) and once sidecar-free
// (components/readiness-gate), flipped through the admin API, the plugin and kubectl edit in
// turn. For each flip, from the write: the app Service's EndpointSlices agreeing with it (every
// endpoint out for "on", every one in for "off"), and the public Service with no ready endpoint at
// all (watched). Per mode: the API writes the admin makes per flip (nudges, or status patches),
// and the memory our containers use, from their cgroups.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { watchReadyEndpoints, type ReadyWatch } from '../scripts/lib/endpoint-watch.ts';
import { copyRecipe, removeRecipes } from '../scripts/lib/recipe.ts';
import { operatorToken, SWITCH_METHODS, writeSwitch } from '../scripts/lib/switch-writers.ts';

export interface ModesContext {
  kubectl(args: string[], options?: { env?: NodeJS.ProcessEnv }): Promise<string>;
  kubectlBinary: string;
  kubeconfig: string;
  containerdSocket: string;
}

type Mode = 'sidecar' | 'readiness-gate';
const NS = 'modes';
const APP = 'shop';
const REPLICAS = 10;

interface PodJson {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  status: {
    podIP?: string;
    containerStatuses?: { name: string; containerID?: string }[];
    initContainerStatuses?: { name: string; containerID?: string }[];
  };
}

export interface ModeRows {
  rounds: string[];
  endpoints: string[];
  empty: string[];
  writes: string[];
  memory: string[];
}

const seconds = (ms: number) => (ms / 1000).toFixed(2);
function summary(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return `| ${label} | ${samples.length} | ${seconds(at(0.5))} | ${seconds(at(0.99))} | ${seconds(sorted.at(-1)!)} |`;
}

export async function modes(context: ModesContext, flips: number, rows: ModeRows, only?: readonly Mode[]): Promise<void> {
  const { kubectl } = context;
  const pods = async (selector: string) =>
    (JSON.parse(await kubectl(['get', 'pods', '-n', NS, '-l', selector, '-o', 'json'])) as { items: PodJson[] }).items.filter(
      (pod) => pod.metadata.deletionTimestamp === undefined,
    );
  // Watched, not polled: every change timestamped as it arrives, and no kubectl run per look
  // to take the two cores from what is measured.
  const waitUntil = async (what: string, check: () => boolean) => {
    const deadline = Date.now() + 300_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`${what}: not within 300 s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  for (const mode of only ?? (['sidecar', 'readiness-gate'] as const)) {
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true', '--timeout=300s']);
    await kubectl(['create', 'namespace', NS]);
    const dir = copyRecipe(`bench-modes-${mode}`, {
      namespace: NS,
      app: APP,
      image: { newName: 'maintenance-switch', newTag: 'dev' },
      readinessGate: mode === 'readiness-gate',
    });
    await kubectl(['apply', '-k', dir]);
    await kubectl(['scale', 'deployment/web', '-n', NS, `--replicas=${REPLICAS}`]);
    for (const deployment of [`${APP}-maintenance-admin`, 'web'])
      await kubectl(['rollout', 'status', `deployment/${deployment}`, '-n', NS, '--timeout=300s']);
    const token = await operatorToken(kubectl, NS, APP);
    const adminUrl = `http://${(await kubectl(['get', 'service', `${APP}-maintenance-admin`, '-n', NS, '-o', 'jsonpath={.spec.clusterIP}'])).trim()}:8080`;
    const target = {
      kubectl,
      kubectlBinary: context.kubectlBinary,
      kubeconfig: context.kubeconfig,
      namespace: NS,
      app: APP,
      adminUrl,
      token,
    };

    const pages = (await pods('maintenance-switch.dev/tier=page')).length;
    const appWatch: ReadyWatch = watchReadyEndpoints(context.kubectlBinary, context.kubeconfig, NS, 'web');
    const publicWatch: ReadyWatch = watchReadyEndpoints(context.kubectlBinary, context.kubeconfig, NS, `${APP}-maintenance-public`);
    // On: no pod of the app ready, so what the public Service holds is the page tier. Off: all of
    // them, and the public Service holds as many, so the page tier has left it.
    const settled = (on: boolean) =>
      on ? appWatch.ready === 0 && publicWatch.ready === pages : appWatch.ready === REPLICAS && publicWatch.ready === REPLICAS;
    await waitUntil('the public Service on the app alone', () => settled(false));
    const admins = await pods('maintenance-switch.dev/tier=admin');
    const writesBefore = await adminWrites(admins);
    const samples = { on: [] as number[], off: [] as number[] };
    const empty: number[] = [];
    /** Sidecar-free: each flip's write round (the admin pod that wrote most), its writes and duration. */
    const rounds: { written: number; ms: number }[] = [];
    try {
      for (let i = 0; i < flips; i++) {
        for (const on of [true, false]) {
          const method = SWITCH_METHODS[(i * 2 + (on ? 0 : 1)) % SWITCH_METHODS.length]!;
          const start = Date.now();
          await writeSwitch(on, method, target, 'bench:cluster');
          await waitUntil(`${mode} ${on ? 'on' : 'off'}: settled`, () => settled(on));
          const converged = appWatch.reachedAt(on ? 0 : REPLICAS, start)! - start;
          samples[on ? 'on' : 'off'].push(converged);
          if (mode === 'readiness-gate') rounds.push(await lastRound(admins, start));
          empty.push(publicWatch.emptyMs(start));
          console.error(
            `  ${mode}, ${on ? 'on' : 'off'} by ${method}: endpoints ${seconds(converged)} s, public Service empty ${empty.at(-1)} ms`,
          );
        }
      }
    } finally {
      appWatch.stop();
      publicWatch.stop();
    }
    const writesAfter = await adminWrites(admins);
    for (const direction of ['on', 'off'] as const) rows.endpoints.push(summary(`${mode}, ${direction}`, samples[direction]));
    rows.empty.push(`| ${mode} | ${empty.length} | ${seconds(empty.reduce((sum, ms) => sum + ms, 0))} | ${seconds(Math.max(...empty))} |`);
    const perFlip = (key: string) => ((writesAfter.get(key) ?? 0) - (writesBefore.get(key) ?? 0)) / (flips * 2);
    rows.writes.push(
      mode === 'sidecar'
        ? `| ${mode} | ${admins.length} | nudges (pods/patch) | ${perFlip('maintenance_nudges_total{result="sent"}').toFixed(1)} | - |`
        : `| ${mode} | ${admins.length} | conditions (pods/status patch) | ${perFlip('maintenance_serving_writes_total{result="written"}').toFixed(1)} | ${perFlip('maintenance_serving_writes_total{result="conflict"}').toFixed(1)} |`,
    );
    if (rounds.length > 0) {
      const written = rounds.reduce((sum, round) => sum + round.written, 0);
      const ms = rounds.reduce((sum, round) => sum + round.ms, 0);
      const slowest = Math.max(...rounds.map((round) => round.ms));
      rows.rounds.push(
        `| ${mode} | ${rounds.length} | ${(written / rounds.length).toFixed(1)} | ${(ms / rounds.length).toFixed(0)} | ${slowest} | ${((written / ms) * 1000).toFixed(0)} |`,
      );
    }
    const memory = await ourMemory(context, await pods(`maintenance-switch.dev/app=${APP}`));
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    rows.memory.push(
      `| ${mode} | ${memory.gate.count} | ${mib(memory.gate.bytes)} | ${memory.admin.count} | ${mib(memory.admin.bytes)} | ${memory.page.count} | ${mib(memory.page.bytes)} | ${mib(memory.gate.bytes + memory.admin.bytes + memory.page.bytes)} |`,
    );
  }
  await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true', '--timeout=300s']);
  removeRecipes('bench-modes-');
}

/** The round of the admin pod that wrote most since `since`, from its /status. */
async function lastRound(admins: PodJson[], since: number): Promise<{ written: number; ms: number }> {
  let best = { written: 0, ms: 0 };
  for (const pod of admins) {
    const status = (await (await fetch(`http://${pod.status.podIP}:9901/status`)).json()) as {
      serving?: { lastRound: { at: string; durationMs: number | null; written: number } | null };
    };
    const round = status.serving?.lastRound;
    if (round && Date.parse(round.at) >= since - 1_000 && round.written > best.written)
      best = { written: round.written, ms: round.durationMs ?? 0 };
  }
  return best;
}

/** The write counters of every admin pod, summed, from their /metrics. */
async function adminWrites(admins: PodJson[]): Promise<Map<string, number>> {
  const sums = new Map<string, number>();
  for (const pod of admins) {
    const text = await (await fetch(`http://${pod.status.podIP}:9901/metrics`)).text();
    for (const match of text.matchAll(/^(maintenance_(?:nudges|serving_writes)_total\{result="\w+"\}) (\d+)$/gm))
      sums.set(match[1]!, (sums.get(match[1]!) ?? 0) + Number(match[2]));
  }
  return sums;
}

/**
 * The memory our containers use, by kind, as the kubelet counts it (the cgroup's usage less its
 * inactive file pages: the working set): the gate sidecars in your pods, the admin and page tiers.
 */
async function ourMemory(context: ModesContext, pods: PodJson[]) {
  const { stdout } = await promisify(execFile)('ctr', ['--address', context.containerdSocket, '-n', 'k8s.io', 'tasks', 'ls']);
  const pidOf = (containerId: string) =>
    Number(
      stdout
        .split('\n')
        .find((row) => row.startsWith(containerId))
        ?.split(/\s+/)[1],
    );
  const totals = { gate: { count: 0, bytes: 0 }, admin: { count: 0, bytes: 0 }, page: { count: 0, bytes: 0 } };
  for (const pod of pods) {
    const tier = pod.metadata.labels?.['maintenance-switch.dev/tier'];
    const ours = [
      ...(pod.status.initContainerStatuses ?? [])
        .filter((container) => container.name === 'maintenance-gate')
        .map((container) => ['gate', container] as const),
      ...(pod.status.containerStatuses ?? [])
        .filter((container) => container.name === 'app' && (tier === 'admin' || tier === 'page'))
        .map((container) => [tier as 'admin' | 'page', container] as const),
    ];
    for (const [kind, container] of ours) {
      const pid = pidOf(container.containerID?.replace(/^containerd:\/\//, '') ?? '');
      if (!pid) throw new Error(`no task for ${pod.metadata.name}/${container.name}`);
      totals[kind].count++;
      totals[kind].bytes += workingSet(pid);
    }
  }
  return totals;
}

function workingSet(pid: number): number {
  const cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  const v1 = /^\d+:memory:(.*)$/m.exec(cgroups)?.[1];
  if (v1 !== undefined && existsSync(join('/sys/fs/cgroup/memory', v1))) {
    const dir = join('/sys/fs/cgroup/memory', v1);
    const stat = readFileSync(join(dir, 'memory.stat'), 'utf8');
    const inactive = Number(/^total_inactive_file (\d+)$/m.exec(stat)?.[1] ?? 0);
    return Number(readFileSync(join(dir, 'memory.usage_in_bytes'), 'utf8')) - inactive;
  }
  const dir = join('/sys/fs/cgroup', /^0::(.*)$/m.exec(cgroups)![1]!);
  const inactive = Number(/^inactive_file (\d+)$/m.exec(readFileSync(join(dir, 'memory.stat'), 'utf8'))?.[1] ?? 0);
  return Number(readFileSync(join(dir, 'memory.current'), 'utf8')) - inactive;
}
