// The gate's proxy mode against Debian's nginx, in front of the same upstream, in the same run:
// saturation throughput (req/s, p50, p99), then latency at half of the gate's saturation rate.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request, type IncomingMessage } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { writeVolumeAtomically } from '../src/config/kubelet-volume.ts';

const NGINX = process.env.BENCH_NGINX ?? '/usr/sbin/nginx';
/** A load generator in C (Debian's wrk): optional, for a saturation that no JavaScript client caps. */
const WRK = process.env.BENCH_WRK ?? '/usr/bin/wrk';

/** wrk's report as one JSON line, from the summary and latency (microseconds) it hands its `done` hook. */
const WRK_REPORT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"microseconds":%d,"failed":%d,"p50":%d,"p99":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;

/** The gate's NODE_OPTIONS as components/gate gives them to the sidecar, so it is measured as it runs. */
export const GATE_NODE_OPTIONS = (() => {
  const sidecar = readFileSync(new URL('../kustomize/components/gate/sidecar.yaml', import.meta.url), 'utf8');
  const value = /- name: NODE_OPTIONS\n\s+value: (.+)/.exec(sidecar)?.[1];
  if (value === undefined) throw new Error('kustomize/components/gate/sidecar.yaml sets no NODE_OPTIONS');
  return value.trim();
})();

export interface ProxyTarget {
  name: string;
  port: number;
  pid: number;
}

export interface ProxyResults {
  targets: Record<
    'direct' | 'gate' | 'gateReadOnly' | 'nginx' | 'bareProxy' | 'honoProxy',
    { rps: number; p50: number; p99: number; fixedRateP50: number; fixedRateP99: number; cpuMicrosPerRequest: number }
  >;
  fixedRate: number;
  gateRssMiB: { start: number; afterLoad: number };
  /** Read-only over off, CPU per request: the median of each round's ratio (the same gate, measured one after the other). */
  readOnlyOverOff: number;
  /** A GraphQL query sent with POST: through the gate with read-only off (streamed), and on (read whole, parsed, judged). */
  graphql: { plain: Sample; judged: Sample };
  /** Saturated by wrk, a generator in C, or why not. */
  native: Record<NativeTarget, Sample> | string;
}

const NATIVE_TARGETS = ['direct', 'gate', 'nginx', 'bareProxy'] as const;
type NativeTarget = (typeof NATIVE_TARGETS)[number];

type Sample = { rps: number; p50: number; p99: number; cpuMicrosPerRequest: number };

/** What autocannon sends: GET / unless said otherwise. */
interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

const GET_ROOT: LoadRequest = { method: 'GET', path: '/' };
/** A GraphQL query of a realistic size (about 400 bytes), as a single-page app sends it. */
const GRAPHQL_QUERY: LoadRequest = {
  method: 'POST',
  path: '/graphql',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({
    operationName: 'Orders',
    query:
      'query Orders($first: Int!, $after: String) { viewer { id name orders(first: $first, after: $after) { edges { node { id number placedAt total { amount currency } lines { sku quantity } } } pageInfo { hasNextPage endCursor } } } }',
    variables: { first: 20, after: null },
  }),
};

/** A process's CPU time so far (user + system), in microseconds, from /proc/PID/stat. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (USER_HZ, 100 on Linux).
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts a process that logs `{"msg":"listening",...}` as JSON and returns that line. */
async function startLogged(args: string[], env: Record<string, string>): Promise<{ child: ChildProcess; line: Record<string, number> }> {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<Record<string, number>>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      try {
        const entry = JSON.parse(text) as Record<string, number> & { msg?: string };
        if (entry.msg === 'listening') resolve(entry);
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
  return { child, line };
}

/** One `GET /` on a fresh connection: the answer's head, or null when nothing answers. */
function getRoot(port: number): Promise<IncomingMessage | null> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.on('error', () => resolve(null));
    req.end();
  });
}

/** Asks `GET /` every `intervalMs` until an answer is what `wanted` says, at most `attempts` times. */
async function waitForAnswer(port: number, wanted: (res: IncomingMessage) => boolean, attempts: number, intervalMs: number, what: string) {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const res = await getRoot(port);
    if (res !== null && wanted(res)) return;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`port ${port}: ${what} within ${(attempts * intervalMs) / 1000} s`);
}

const waitForHttp = (port: number) => waitForAnswer(port, (res) => res.statusCode === 200, 100, 50, 'no 200');

/** Waits until the gate's answers say (or no longer say) read-only: the switch has reached its data path. */
const waitForMode = (port: number, readOnly: boolean) =>
  waitForAnswer(
    port,
    (res) => (res.headers['maintenance-mode'] === 'read-only') === readOnly,
    200,
    25,
    `read-only not turned ${readOnly ? 'on' : 'off'}`,
  );

/** Closed-loop saturation with autocannon: every connection sends its next request as soon as the last one is answered. */
async function saturate(
  name: string,
  port: number,
  seconds: number,
  connections: number,
  pid: number,
  load: LoadRequest = GET_ROOT,
): Promise<Sample> {
  const cpuBefore = cpuMicros(pid);
  const result = await autocannon({
    url: `http://127.0.0.1:${port}${load.path}`,
    method: load.method,
    ...(load.headers ? { headers: load.headers } : {}),
    ...(load.body !== undefined ? { body: load.body } : {}),
    connections,
    duration: seconds,
  });
  const cpu = cpuMicros(pid) - cpuBefore;
  if (result.non2xx > 0 || result.errors > 0) {
    console.error(
      `proxy: ${name}: ${result.non2xx} non-2xx, ${result.errors} errors (${result.timeouts} timeouts) of ${result.requests.total}`,
    );
  }
  if (result.non2xx + result.errors > result.requests.total / 1000) throw new Error(`${name}: too many failed requests to measure`);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuMicrosPerRequest: cpu / Math.max(1, result.requests.total),
  };
}

/**
 * Closed-loop saturation with wrk: one thread, as autocannon has, at about 14 µs of CPU per
 * request (mostly the kernel's), where autocannon spends 25 µs of JavaScript and caps the
 * lighter targets on two cores.
 */
async function saturateWithWrk(
  name: string,
  port: number,
  seconds: number,
  connections: number,
  pid: number,
  script: string,
): Promise<Sample> {
  const cpuBefore = cpuMicros(pid);
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(WRK, ['-t1', `-c${connections}`, `-d${seconds}s`, '-s', script, `http://127.0.0.1:${port}/`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk against ${name} exited with ${code}`))));
  });
  const cpu = cpuMicros(pid) - cpuBefore;
  const line = output.split('\n').find((text) => text.startsWith('{"requests"'));
  if (line === undefined) throw new Error(`wrk against ${name} printed no report:\n${output}`);
  const report = JSON.parse(line) as { requests: number; microseconds: number; failed: number; p50: number; p99: number };
  if (report.failed > report.requests / 1000) throw new Error(`${name}: ${report.failed} of ${report.requests} failed under wrk`);
  return {
    rps: (report.requests * 1_000_000) / report.microseconds,
    p50: report.p50 / 1000,
    p99: report.p99 / 1000,
    cpuMicrosPerRequest: cpu / Math.max(1, report.requests),
  };
}

/**
 * Open-loop load at a fixed rate, timed per request with the monotonic clock in microseconds
 * (autocannon rounds to whole milliseconds, too coarse for a 0.5 ms budget). Bounded in count.
 * The client is undici's pool, which costs less CPU per request than node:http's: on two cores
 * the generator shares the CPU with the proxy and the upstream. (autocannon's own rate limit is
 * no open loop: each connection sends its quota at the start of every second, then waits.)
 */
async function fixedRate(port: number, rate: number, seconds: number): Promise<{ p50: number; p99: number }> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 32 });
  const total = Math.min(Math.round(rate * seconds), 200_000);
  const latencies: number[] = [];
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const pending: Promise<void>[] = [];
  // dispatch with a handler that keeps nothing: no body stream or promise per request, so the
  // generator takes less of the two cores from what it measures.
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const sent = performance.now();
      let status = 0;
      pool.dispatch(
        { method: 'GET', path: '/' },
        {
          onRequestStart() {},
          onResponseStart(_controller, statusCode) {
            status = statusCode;
          },
          onResponseData() {},
          onResponseEnd() {
            if (status !== 200) {
              reject(new Error(`port ${port} answered ${status} at a fixed rate`));
              return;
            }
            latencies.push(performance.now() - sent);
            resolve();
          },
          onResponseError(_controller, error) {
            reject(error);
          },
        },
      );
    });
  for (let index = 0; index < total; index++) {
    const due = started + (index * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(one());
  }
  await Promise.all(pending);
  await pool.close();
  const generator = process.cpuUsage(cpuBefore);
  console.error(`proxy: the fixed-rate generator spent ${((generator.user + generator.system) / total).toFixed(1)} µs of CPU per request`);
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)]!;
  return { p50: at(50), p99: at(99) };
}

/**
 * The targets in the order round `round` (from 1) measures them: each round starts one further
 * on, so no target always runs first, or always right after the same neighbour.
 */
export function rotated<T>(targets: readonly T[], round: number): T[] {
  const start = (round - 1) % targets.length;
  return [...targets.slice(start), ...targets.slice(0, start)];
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

export async function benchProxy(options: {
  seconds: number;
  rounds: number;
  connections: number;
  nodeOptions: string;
}): Promise<ProxyResults | string> {
  if (!existsSync(NGINX)) return `no nginx at ${NGINX} (apt-get install nginx-light, or set BENCH_NGINX)`;
  const root = await mkdtemp(join(tmpdir(), 'maint-proxy-bench-'));
  const children: ChildProcess[] = [];
  try {
    const upstream = await startLogged(['bench/upstream.mjs'], {});
    children.push(upstream.child);
    const upstreamPort = upstream.line.port!;

    const startGate = async (name: string, config: Record<string, string>) => {
      const configDir = join(root, name);
      await writeVolumeAtomically(configDir, config);
      const started = await startLogged(['dist/main.js'], {
        ROLE: 'gate',
        PORT: '0',
        PROXY_PORT: '0',
        HOST: '127.0.0.1',
        CONFIG_DIR: configDir,
        CONFIG_SOURCE: 'volume',
        BYPASS_KEY_DIR: join(root, 'no-key'),
        UPSTREAM: `http://127.0.0.1:${upstreamPort}`,
        GATE_TRAFFIC: 'all',
        POD_NAME: 'bench',
        LOG_LEVEL: 'info',
        NODE_OPTIONS: options.nodeOptions,
      });
      children.push(started.child);
      return started;
    };
    const off = { MAINTENANCE_MODE: 'false' };
    // Read-only, every GET judged (method, allowed paths, GraphQL paths) and passed.
    const readOnly = { MAINTENANCE_MODE: 'read-only', MAINTENANCE_ALLOW_PATHS: '/login,/webhooks', MAINTENANCE_GRAPHQL_PATHS: '/graphql' };
    // One gate measured in both modes, its switch flipped live before each load as a pod's is:
    // two identical processes differ by 3 to 20% from one another, more than the judging costs.
    const gate = await startGate('gate', off);
    const gateModes: Partial<Record<string, Record<string, string>>> = { gate: off, gateReadOnly: readOnly };
    const prepare = async (name: string) => {
      const config = gateModes[name];
      if (config === undefined) return;
      await writeVolumeAtomically(join(root, 'gate'), config);
      await waitForMode(gate.line.proxyPort!, config === readOnly);
    };
    // The GraphQL loads on gates of their own, so that their garbage weighs on no other row.
    const graphqlGates = {
      plain: await startGate('graphql-off', { MAINTENANCE_MODE: 'false' }),
      judged: await startGate('graphql-read-only', readOnly),
    };

    const nginxPort = await freePort();
    const nginxConf = join(root, 'nginx.conf');
    await writeFile(
      nginxConf,
      `
worker_processes 1;
daemon off;
# One process, so its CPU time is all of nginx's (the bench reads it from /proc).
master_process off;
pid ${root}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${root}/client_body;
  proxy_temp_path ${root}/proxy;
  fastcgi_temp_path ${root}/fastcgi;
  uwsgi_temp_path ${root}/uwsgi;
  scgi_temp_path ${root}/scgi;
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${nginxPort};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`,
    );
    const nginx = spawn(NGINX, ['-c', nginxConf, '-p', root], { stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(nginx);

    const honoProxy = await startLogged(['bench/hono-proxy.mjs'], { UPSTREAM: `http://127.0.0.1:${upstreamPort}` });
    children.push(honoProxy.child);
    const bareProxy = await startLogged(['bench/bare-proxy.mjs'], {
      UPSTREAM: `http://127.0.0.1:${upstreamPort}`,
      NODE_OPTIONS: options.nodeOptions,
    });
    children.push(bareProxy.child);

    const targets = {
      direct: upstreamPort,
      gate: gate.line.proxyPort!,
      gateReadOnly: gate.line.proxyPort!,
      nginx: nginxPort,
      bareProxy: bareProxy.line.port!,
      honoProxy: honoProxy.line.port!,
    };
    // Whose CPU time each row counts: the proxy's own process (the upstream's, for direct).
    const pids = {
      direct: upstream.child.pid!,
      gate: gate.child.pid!,
      gateReadOnly: gate.child.pid!,
      nginx: nginx.pid!,
      bareProxy: bareProxy.child.pid!,
      honoProxy: honoProxy.child.pid!,
    };
    for (const port of Object.values(targets)) await waitForHttp(port);
    const gatePid = gate.child.pid!;
    const rssStart = rssMiB(gatePid);

    const samples: Record<keyof typeof targets, Sample[]> = {
      direct: [],
      gate: [],
      gateReadOnly: [],
      nginx: [],
      bareProxy: [],
      honoProxy: [],
    };
    const graphqlSamples = { plain: [] as Sample[], judged: [] as Sample[] };
    const wrkScript = join(root, 'report.lua');
    await writeFile(wrkScript, WRK_REPORT);
    const nativeSamples = existsSync(WRK) ? Object.fromEntries(NATIVE_TARGETS.map((name) => [name, [] as Sample[]])) : null;
    for (let round = 1; round <= options.rounds; round++) {
      console.error(`proxy: round ${round}/${options.rounds} (${options.seconds} s per target, ${options.connections} connections) ...`);
      for (const [name, port] of rotated(Object.entries(targets) as [keyof typeof targets, number][], round)) {
        await prepare(name);
        samples[name].push(await saturate(name, port, options.seconds, options.connections, pids[name]));
      }
      if (nativeSamples !== null) {
        await prepare('gate');
        for (const name of rotated(NATIVE_TARGETS, round))
          nativeSamples[name]!.push(
            await saturateWithWrk(name, targets[name], options.seconds, options.connections, pids[name], wrkScript),
          );
      }
      for (const kind of ['plain', 'judged'] as const) {
        const { line, child } = graphqlGates[kind];
        graphqlSamples[kind].push(
          await saturate(`graphql ${kind}`, line.proxyPort!, options.seconds, options.connections, child.pid!, GRAPHQL_QUERY),
        );
      }
    }
    const medianSample = (list: Sample[]): Sample => ({
      rps: median(list.map((s) => s.rps)),
      p50: median(list.map((s) => s.p50)),
      p99: median(list.map((s) => s.p99)),
      cpuMicrosPerRequest: median(list.map((s) => s.cpuMicrosPerRequest)),
    });
    const saturated = Object.fromEntries(Object.entries(samples).map(([name, list]) => [name, medianSample(list)])) as Record<
      keyof typeof targets,
      Sample
    >;

    const rate = Math.round(saturated.gate.rps / 2);
    // Interleaved as the saturated rounds are, so a burst of noise on the machine lands on one
    // round of each target rather than on one target; hono/proxy cannot hold this rate.
    const timed = Object.entries(targets).filter(([name]) => saturated[name as keyof typeof targets].rps > rate) as [
      keyof typeof targets,
      number,
    ][];
    const fixedSamples = Object.fromEntries(timed.map(([name]) => [name, [] as { p50: number; p99: number }[]]));
    for (let round = 1; round <= options.rounds; round++) {
      console.error(`proxy: latency at ${rate} req/s (half of the gate's saturation), round ${round}/${options.rounds} ...`);
      for (const [name, port] of rotated(timed, round)) {
        await prepare(name);
        fixedSamples[name]!.push(await fixedRate(port, rate, options.seconds));
      }
    }
    const fixed = Object.fromEntries(
      Object.keys(targets).map((name) => {
        const list = fixedSamples[name] ?? [];
        return [name, { p50: median(list.map((s) => s.p50)), p99: median(list.map((s) => s.p99)) }];
      }),
    ) as Record<keyof typeof targets, { p50: number; p99: number }>;
    const rssAfter = rssMiB(gatePid);

    return {
      targets: {
        direct: { ...saturated.direct, fixedRateP50: fixed.direct.p50, fixedRateP99: fixed.direct.p99 },
        gate: { ...saturated.gate, fixedRateP50: fixed.gate.p50, fixedRateP99: fixed.gate.p99 },
        gateReadOnly: { ...saturated.gateReadOnly, fixedRateP50: fixed.gateReadOnly.p50, fixedRateP99: fixed.gateReadOnly.p99 },
        nginx: { ...saturated.nginx, fixedRateP50: fixed.nginx.p50, fixedRateP99: fixed.nginx.p99 },
        bareProxy: { ...saturated.bareProxy, fixedRateP50: fixed.bareProxy.p50, fixedRateP99: fixed.bareProxy.p99 },
        honoProxy: { ...saturated.honoProxy, fixedRateP50: fixed.honoProxy.p50, fixedRateP99: fixed.honoProxy.p99 },
      },
      fixedRate: rate,
      gateRssMiB: { start: rssStart, afterLoad: rssAfter },
      readOnlyOverOff: median(
        samples.gateReadOnly.map((sample, round) => sample.cpuMicrosPerRequest / samples.gate[round]!.cpuMicrosPerRequest),
      ),
      graphql: { plain: medianSample(graphqlSamples.plain), judged: medianSample(graphqlSamples.judged) },
      native:
        nativeSamples === null
          ? `no wrk at ${WRK} (apt-get install wrk, or set BENCH_WRK)`
          : (Object.fromEntries(NATIVE_TARGETS.map((name) => [name, medianSample(nativeSamples[name]!)])) as Record<NativeTarget, Sample>),
    };
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await rm(root, { recursive: true, force: true });
  }
}

export function proxyTable(results: ProxyResults | string): string {
  if (typeof results === 'string') return `\nProxy: skipped: ${results}\n`;
  const { direct, gate, gateReadOnly, nginx, bareProxy, honoProxy } = results.targets;
  const { plain, judged } = results.graphql;
  const fmt = (value: number, digits = 1) => value.toFixed(digits);
  const row = (name: string, target: typeof gate) =>
    `| ${name} | ${fmt(target.rps, 0)} | ${fmt(target.cpuMicrosPerRequest, 1)} | ${fmt(target.p50, 0)} / ${fmt(target.p99, 0)} | ${Number.isNaN(target.fixedRateP99) ? '(cannot hold this rate)' : `${fmt(target.fixedRateP50 * 1000, 0)} / ${fmt(target.fixedRateP99 * 1000, 0)}`} |`;
  return `
Proxy mode: the same upstream (bench/upstream.mjs, 1 KiB answers) direct, through the gate, and through nginx
(Debian's, one process, proxy_pass with upstream keepalive). Rounds interleave the targets; each figure is
the median over rounds. CPU per request is the proxy process's own user + system time (the upstream's,
for the direct row) over the requests of the round, from /proc: it holds on a busy machine, where req/s
shares two cores with the load generator and the upstream.

| target | req/s (saturated) | CPU µs / request | p50 / p99 (ms, saturated) | p50 / p99 (µs) at ${results.fixedRate} req/s |
|---|---:|---:|---:|---:|
${row('upstream direct', direct)}
${row('through the gate', gate)}
${row('through the gate, read-only (each GET judged, passed)', gateReadOnly)}
${row('through nginx', nginx)}
${row("through a bare node:http + undici proxy (no checks: the floor of the gate's design)", bareProxy)}
${row('through hono/proxy (the alternative)', honoProxy)}

| measure | value | target |
|---|---:|---|
| gate / nginx throughput | ${fmt(gate.rps / nginx.rps, 3)} | >= 0.65 |
| gate / nginx CPU per request | ${fmt(gate.cpuMicrosPerRequest / nginx.cpuMicrosPerRequest, 2)} | <= 3.5 |
| gate / nginx p99 at half saturation | ${fmt(gate.fixedRateP99 / nginx.fixedRateP99, 2)} | <= 2 |
| read-only judging: CPU per request, read-only / off (median of the rounds' ratios) | ${fmt(results.readOnlyOverOff, 3)} | <= 1.05 |
| GraphQL query over POST: CPU µs per request, off (streamed) / read-only (read, parsed, judged) | ${fmt(plain.cpuMicrosPerRequest, 1)} / ${fmt(judged.cpuMicrosPerRequest, 1)} (${fmt(judged.cpuMicrosPerRequest / plain.cpuMicrosPerRequest, 2)}×) | reported |
| GraphQL query over POST: req/s, off / read-only | ${fmt(plain.rps, 0)} / ${fmt(judged.rps, 0)} | reported |
| gate p50 added at half saturation (ms) | ${fmt(gate.fixedRateP50 - direct.fixedRateP50, 3)} | <= 0.5 |
| nginx p50 added at half saturation (ms) | ${fmt(nginx.fixedRateP50 - direct.fixedRateP50, 3)} | |
| gate / bare node:http + undici proxy CPU per request (what the gate's rules cost) | ${fmt(gate.cpuMicrosPerRequest / bareProxy.cpuMicrosPerRequest, 2)} | |
| hono/proxy / gate throughput | ${fmt(honoProxy.rps / gate.rps, 3)} | |
| gate RSS after start / after load (MiB) | ${fmt(results.gateRssMiB.start)} / ${fmt(results.gateRssMiB.afterLoad)} | |
${nativeTable(results.native)}`;
}

/** The same saturation by wrk, whose cost per request is a fraction of autocannon's: what caps each target then is the target. */
function nativeTable(native: ProxyResults['native']): string {
  if (typeof native === 'string') return `\nSaturated by wrk: skipped: ${native}\n`;
  const { direct, gate, nginx, bareProxy } = native;
  const fmt = (value: number, digits = 1) => value.toFixed(digits);
  const row = (name: string, target: Sample) =>
    `| ${name} | ${fmt(target.rps, 0)} | ${fmt(target.cpuMicrosPerRequest, 1)} | ${fmt(target.p50, 2)} / ${fmt(target.p99, 2)} |`;
  return `
Saturated by wrk (C, one thread, the same connections and seconds; median of the same rounds):

| target | req/s | CPU µs / request | p50 / p99 (ms) |
|---|---:|---:|---:|
${row('upstream direct', direct)}
${row('through the gate', gate)}
${row('through nginx', nginx)}
${row('through a bare node:http + undici proxy', bareProxy)}

| measure | value |
|---|---:|
| gate / nginx throughput | ${fmt(gate.rps / nginx.rps, 3)} |
| gate / nginx CPU per request | ${fmt(gate.cpuMicrosPerRequest / nginx.cpuMicrosPerRequest, 2)} |
| gate / bare node:http + undici proxy CPU per request | ${fmt(gate.cpuMicrosPerRequest / bareProxy.cpuMicrosPerRequest, 2)} |
`;
}
