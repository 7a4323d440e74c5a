// npm run bench: propagation latency, throughput against a bare Hono baseline, and memory.
// Not a test: it prints numbers; nothing here passes or fails on timing.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { writeVolumeAtomically } from '../src/config/kubelet-volume.ts';
import { demoPage } from '../src/http/pages.ts';
import { findBinaries, startControlPlane } from '../scripts/lib/control-plane.ts';
import { benchProxy, cpuMicros, GATE_NODE_OPTIONS, proxyTable, rotated } from './proxy.ts';

const TOGGLES = Number(process.env.BENCH_TOGGLES ?? 300);
const API_TOGGLES = Number(process.env.BENCH_API_TOGGLES ?? 100);
const LOAD_SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONNECTIONS = 20;
/** The service runs with the Node options its image sets, so the numbers are the image's. */
const IMAGE_NODE_OPTIONS = /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(readFileSync('Dockerfile', 'utf8'))?.[1] ?? '';

interface Service {
  child: ChildProcessWithoutNullStreams;
  port: number;
  stop(): Promise<void>;
}

async function startProcess(script: string, env: Record<string, string>): Promise<Service> {
  const child = spawn(process.execPath, [script], { env: { PATH: process.env.PATH ?? '', ...env } });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === 'listening' && entry.port) resolve(entry.port);
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return {
    child,
    port,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function readyStatus(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/readyz', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function measurePropagation(port: number, dir: string): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < TOGGLES + 10; i++) {
    const on = i % 2 === 0;
    let swappedAt = 0;
    await writeVolumeAtomically(
      dir,
      { MAINTENANCE_MODE: String(on), MAINTENANCE_MESSAGE: `toggle ${i}` },
      {
        afterStep: (step) => {
          if (step === 'rename-data') swappedAt = performance.now();
        },
      },
    );
    const expected = on ? 503 : 200;
    while ((await readyStatus(port)) !== expected) {
      // poll as fast as the connection allows
    }
    if (i >= 10) samples.push(performance.now() - swappedAt); // the first 10 warm up
  }
  return samples.sort((a, b) => a - b);
}

/** Requests per second under load, and the server process's own CPU time per request (steadier on a busy machine). */
async function throughput(target: { port: number; child: { pid?: number } }, path: string): Promise<{ rps: number; cpu: number }> {
  const cpuBefore = cpuMicros(target.child.pid!);
  const result = await autocannon({
    url: `http://127.0.0.1:${target.port}${path}`,
    connections: CONNECTIONS,
    duration: LOAD_SECONDS,
  });
  const cpu = cpuMicros(target.child.pid!) - cpuBefore;
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${path}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, cpu: cpu / Math.max(1, result.requests.total) };
}

/**
 * The api-watch path against a real kube-apiserver (when the envtest binaries are there): from
 * sending a merge patch of app-config to /readyz answering the new state.
 */
async function measureApiPropagation(): Promise<number[] | string> {
  const binaries = findBinaries();
  if (typeof binaries === 'string') return binaries;
  const plane = await startControlPlane(binaries);
  try {
    await plane.kubectl(['create', 'namespace', 'bench']);
    await plane.kubectl(['create', 'configmap', 'app-config', '-n', 'bench', '--from-literal=MAINTENANCE_MODE=false']);
    const kubeconfig = readFileSync(plane.kubeconfig, 'utf8');
    const field = (name: string) => Buffer.from(new RegExp(`${name}: (\\S+)`).exec(kubeconfig)![1]!, 'base64');
    const tls = { ca: field('certificate-authority-data'), cert: field('client-certificate-data'), key: field('client-key-data') };
    const patch = (body: string) =>
      new Promise<void>((resolve, reject) => {
        const req = httpsRequest(
          `${plane.server}/api/v1/namespaces/bench/configmaps/app-config`,
          {
            method: 'PATCH',
            ...tls,
            headers: { 'Content-Type': 'application/merge-patch+json' },
          },
          (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`PATCH answered ${res.statusCode}`))));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const user = await startProcess('dist/main.js', {
      ROLE: 'user',
      PORT: '0',
      HOST: '127.0.0.1',
      CONFIG_SOURCE: 'api',
      POD_NAMESPACE: 'bench',
      KUBECONFIG: plane.kubeconfig,
      LOG_LEVEL: 'info',
    });
    try {
      while ((await readyStatus(user.port)) !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
      const samples: number[] = [];
      for (let i = 0; i < API_TOGGLES + 5; i++) {
        const on = i % 2 === 0;
        const started = performance.now();
        await patch(JSON.stringify({ data: { MAINTENANCE_MODE: String(on) } }));
        while ((await readyStatus(user.port)) !== (on ? 503 : 200));
        if (i >= 5) samples.push(performance.now() - started);
      }
      return samples.sort((a, b) => a - b);
    } finally {
      await user.stop();
    }
  } finally {
    await plane.stop();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const machine = () =>
  `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
const proxyOptions = {
  seconds: LOAD_SECONDS,
  rounds: ROUNDS,
  connections: CONNECTIONS,
  nodeOptions: process.env.BENCH_GATE_NODE_OPTIONS ?? GATE_NODE_OPTIONS,
};

// BENCH_ONLY=proxy: the proxy comparison alone.
if (process.env.BENCH_ONLY === 'proxy') {
  console.log(
    `\n${machine()}\nThe gate runs with the sidecar's NODE_OPTIONS="${proxyOptions.nodeOptions}".\n${proxyTable(await benchProxy(proxyOptions))}`,
  );
  process.exit(0);
}

const root = await mkdtemp(join(tmpdir(), 'maint-bench-'));
const dir = join(root, 'app-config');
await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });

const ours = await startProcess('dist/main.js', {
  ROLE: 'user',
  PORT: '0',
  HOST: '127.0.0.1',
  CONFIG_DIR: dir,
  POD_NAME: 'bench',
  LOG_LEVEL: 'info',
  NODE_OPTIONS: process.env.BENCH_SERVICE_NODE_OPTIONS ?? IMAGE_NODE_OPTIONS,
});
// The baseline runs with the same NODE_OPTIONS, so the ratio is this service's code against bare
// Hono's; what the image's small semi-space costs in CPU and saves in memory is a flag of its own.
const bare = await startProcess('bench/bare-app.mjs', {
  BARE_BODY: demoPage('bench', 'user'),
  NODE_OPTIONS: process.env.BENCH_SERVICE_NODE_OPTIONS ?? IMAGE_NODE_OPTIONS,
});
await new Promise((resolve) => setTimeout(resolve, 1000));
const rssStart = rssMiB(ours.child.pid!);
const bareRssStart = rssMiB(bare.child.pid!);

// BENCH_ONLY=user: the user path against bare Hono alone (no propagation, API or proxy runs).
const userOnly = process.env.BENCH_ONLY === 'user';
console.error(userOnly ? 'propagation: skipped (BENCH_ONLY=user)' : `propagation: ${TOGGLES} toggles ...`);
const latencies = userOnly ? [Number.NaN] : await measurePropagation(ours.port, dir);
await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });
while ((await readyStatus(ours.port)) !== 200);

const rps = { bare: [] as number[], root: [] as number[], readyz: [] as number[] };
const cpu = { bare: [] as number[], root: [] as number[], readyz: [] as number[] };
const record = (key: keyof typeof rps, measured: { rps: number; cpu: number }) => {
  rps[key].push(measured.rps);
  cpu[key].push(measured.cpu);
};
for (let round = 1; round <= ROUNDS; round++) {
  console.error(`throughput: round ${round}/${ROUNDS} (${LOAD_SECONDS} s per target, ${CONNECTIONS} connections) ...`);
  for (const key of rotated(['bare', 'root', 'readyz'] as const, round))
    record(key, await throughput(key === 'bare' ? bare : ours, key === 'readyz' ? '/readyz' : '/'));
}
const rssAfter = rssMiB(ours.child.pid!);
console.error(`api-watch propagation: ${API_TOGGLES} toggles against a real kube-apiserver ...`);
const bareRssAfter = rssMiB(bare.child.pid!);
await Promise.all([ours.stop(), bare.stop()]);
const apiLatencies = userOnly ? 'BENCH_ONLY=user' : await measureApiPropagation();
const proxy = userOnly ? 'BENCH_ONLY=user' : process.env.BENCH_PROXY === '0' ? 'BENCH_PROXY=0' : await benchProxy(proxyOptions);
await rm(root, { recursive: true, force: true });
agent.destroy();

const fmt = (value: number, digits = 1) => value.toFixed(digits);
const bareRps = median(rps.bare);
console.log(`
${machine()}
Both run with the image's NODE_OPTIONS="${process.env.BENCH_SERVICE_NODE_OPTIONS ?? IMAGE_NODE_OPTIONS}".

| measure | this service | baseline (bare Hono) | ratio | target |
|---|---:|---:|---:|---|
| swap-to-flip p50 (ms, ${latencies.length} toggles) | ${fmt(percentile(latencies, 50), 2)} | | | |
| swap-to-flip p95 (ms) | ${fmt(percentile(latencies, 95), 2)} | | | |
| swap-to-flip p99 (ms) | ${fmt(percentile(latencies, 99), 2)} | | | <= 20 |
${
  typeof apiLatencies === 'string'
    ? `| api-watch patch-to-flip | skipped: ${apiLatencies} | | | |`
    : `| api-watch patch-to-flip p50 / p95 / p99 (ms, ${apiLatencies.length} toggles) | ${[50, 95, 99].map((p) => fmt(percentile(apiLatencies, p), 1)).join(' / ')} | | | < 1000 |`
}
| req/s \`GET /\` (median of ${ROUNDS}) | ${fmt(median(rps.root), 0)} | ${fmt(bareRps, 0)} | ${fmt(median(rps.root) / bareRps, 3)} | >= 0.95 |
| req/s \`GET /readyz\` (median of ${ROUNDS}) | ${fmt(median(rps.readyz), 0)} | ${fmt(bareRps, 0)} | ${fmt(median(rps.readyz) / bareRps, 3)} | >= 0.95 |
| CPU µs / request \`GET /\` (median) | ${fmt(median(cpu.root))} | ${fmt(median(cpu.bare))} | ${fmt(median(cpu.root) / median(cpu.bare), 3)} | <= 1.05 |
| CPU µs / request \`GET /readyz\` (median) | ${fmt(median(cpu.readyz))} | ${fmt(median(cpu.bare))} | ${fmt(median(cpu.readyz) / median(cpu.bare), 3)} | <= 1.05 |
| RSS after start (MiB) | ${fmt(rssStart)} | ${fmt(bareRssStart)} | ${fmt(rssStart / bareRssStart, 2)} | <= 80 |
| RSS after load (MiB) | ${fmt(rssAfter)} | ${fmt(bareRssAfter)} | ${fmt(rssAfter / bareRssAfter, 2)} | <= 80 |
${proxyTable(proxy)}`);
