import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPlugin } from '../../scripts/lib/control-plane.ts';
import { copyRecipe, removeRecipes } from '../../scripts/lib/recipe.ts';
import { waitFor } from '../helpers/wait.ts';
import { clusterIp, endpoints, get, isReady, kubeconfig, kubectl, kubectlBinary, podsMatching, since, skipReason } from './node.ts';

// The recipe of the README with components/gate-proxy in place of components/gate: users pass
// through each pod's gate, which enforces read-only. Under a bounded loop of reads and writes
// through the public Service, the switch goes from off to read-only and back with the plugin.
// The stand-in app is Debian's nginx serving a static page: it answers a read 200 and a write
// 405, so a 405 is a write that reached the app, and a 503 marked read-only one the gate kept
// from it. No assertion is about time; the times are printed.
const NS = 'read-only';
const WAIT = { timeoutMs: 300_000, intervalMs: 250 };
/** The bounds of the load: at most this many requests, for at most this long. */
const MAX_REQUESTS = 50_000;
const MAX_LOAD_MS = 120_000;

interface Exchange {
  method: 'GET' | 'POST';
  sentAt: number;
  answeredAt: number;
  status: number;
  marked: boolean;
  body: string;
  error?: string;
}

describe.skipIf(skipReason !== null)('read-only mode on a real node, users through the gates (components/gate-proxy)', () => {
  let publicUrl: string;
  const plugin = (args: string[]) => runPlugin(kubectlBinary(), kubeconfig(), [...args, '-n', NS, '--app', 'shop']);
  const gatePods = () => podsMatching('app=web', NS);
  /** Every gate's own word on what is in effect, from its status port. */
  const everyGateSays = async (mode: 'off' | 'read-only') => {
    const pods = await gatePods();
    const says = await Promise.all(
      pods.map(async (pod) => ((await get(`http://${pod.status.podIP}:9901/status`)).body.includes(`"mode":"${mode}"`) ? 1 : 0)),
    );
    return pods.length === 2 && says.every((one) => one === 1) ? true : undefined;
  };

  beforeAll(async () => {
    if (skipReason !== null) return;
    await kubectl(['create', 'namespace', NS]);
    const dir = copyRecipe('read-only', { namespace: NS, app: 'shop', image: { newName: 'maintenance-switch', newTag: 'dev' } });
    const file = join(dir, 'kustomization.yaml');
    const text = readFileSync(file, 'utf8');
    const withProxy = text.replace(/^ {2}- \.\.\/\.\.\/kustomize\/components\/gate\n/m, '  - ../../kustomize/components/gate-proxy\n');
    expect(withProxy).not.toBe(text);
    writeFileSync(file, withProxy);
    await kubectl(['apply', '-k', dir]);
    // Not the page tier: its pods are Ready only while no pod of the app serves.
    for (const deployment of ['web', 'shop-maintenance-admin'])
      await kubectl(['rollout', 'status', `deployment/${deployment}`, '-n', NS, '--timeout=300s']);
    publicUrl = `http://${await clusterIp('shop-maintenance-public', NS)}:8080`;
  });
  afterAll(async () => {
    if (skipReason !== null) return;
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true', '--timeout=300s']);
    removeRecipes('read-only');
  });

  it('sends users through the gates: reads get the app, writes reach it while read-only is off', async () => {
    const pods = await gatePods();
    expect(pods.filter(isReady)).toHaveLength(2);
    // Through the gate: its port is the public Service's target. The page tier, Ready while the
    // app was not yet, leaves the Service once the app's pods serve.
    const podIps = pods.map((pod) => pod.status.podIP).sort();
    await waitFor(
      "the public Service to hold the app's pods alone",
      async () => {
        const ready = [...(await endpoints('shop-maintenance-public', NS)).entries()].filter(([, isReadyNow]) => isReadyNow);
        return JSON.stringify(ready.map(([address]) => address).sort()) === JSON.stringify(podIps) ? true : undefined;
      },
      WAIT,
    );
    // kube-proxy applies the EndpointSlices a moment later (seconds on a busy node): until then a
    // new connection may still be sent to the page tier, which answers it and closes it.
    await waitFor(
      'kube-proxy to send ten new connections in a row to the gates',
      async () => {
        for (let attempt = 0; attempt < 10; attempt++)
          if (!(await get(`${publicUrl}/`)).body.includes('Hello from nginx')) return undefined;
        return true;
      },
      WAIT,
    );
    const read = await get(`${publicUrl}/`);
    expect(read.status).toBe(200);
    expect(read.body).toContain('Hello from nginx');
    expect(read.headers['maintenance-mode']).toBeUndefined();
    // nginx refuses a write to its static page: 405 is a write that reached the app.
    expect((await post(`${publicUrl}/`)).status).toBe(405);
  });

  it('off to read-only and back under load: every write after the flip gets 503 and never reaches the app, every read gets it, nothing fails', async () => {
    const exchanges: Exchange[] = [];
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    let stop = false;
    const started = Date.now();
    const load = (async () => {
      for (let index = 0; index < MAX_REQUESTS && !stop && Date.now() - started < MAX_LOAD_MS; index++)
        exchanges.push(await exchange(publicUrl, index % 2 === 0 ? 'GET' : 'POST', agent));
    })();
    try {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const switchedAt = Date.now();
      const on = await plugin(['read-only', '--reason', 'catalogue migration']);
      expect(on.stderr).toBe('');
      expect(on.code).toBe(0);
      await waitFor('every gate to say read-only', () => everyGateSays('read-only'), WAIT);
      const readOnlyAt = Date.now();
      console.log(`[read-only] plugin to every gate read-only: ${since(switchedAt)}`);
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      const offAt = Date.now();
      expect((await plugin(['off', '--reason', 'migration done'])).code).toBe(0);
      await waitFor('every gate to say off', () => everyGateSays('off'), WAIT);
      const backAt = Date.now();
      console.log(`[read-only] plugin to every gate off: ${since(offAt)}`);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      stop = true;
      await load;

      const failed = exchanges.filter((one) => one.error !== undefined || ![200, 405, 503].includes(one.status));
      expect(failed, 'requests that failed otherwise').toEqual([]);
      const reads = exchanges.filter((one) => one.method === 'GET');
      expect(reads.filter((one) => one.status !== 200 || !one.body.includes('Hello from nginx'))).toEqual([]);
      const writes = exchanges.filter((one) => one.method === 'POST');
      const whileReadOnly = writes.filter((one) => one.sentAt >= readOnlyAt && one.answeredAt <= offAt);
      const before = writes.filter((one) => one.answeredAt <= switchedAt);
      const after = writes.filter((one) => one.sentAt >= backAt);
      expect(whileReadOnly.length).toBeGreaterThan(10);
      expect(
        whileReadOnly.filter((one) => one.status !== 503 || !one.marked),
        'writes while read-only that were not refused',
      ).toEqual([]);
      expect(before.length).toBeGreaterThan(0);
      expect(after.length).toBeGreaterThan(0);
      expect(
        [...before, ...after].filter((one) => one.status !== 405),
        'writes while off that did not reach the app',
      ).toEqual([]);
      // Read-only is the only thing that ever refused a write: no 503 outside the flip.
      expect(writes.filter((one) => one.status === 503 && (one.answeredAt < switchedAt || one.sentAt > backAt))).toEqual([]);
      // Every answer while read-only says so, a read's too; none does once it is off again.
      expect(reads.filter((one) => one.sentAt >= readOnlyAt && one.answeredAt <= offAt && !one.marked)).toEqual([]);
      expect(exchanges.filter((one) => one.sentAt >= backAt && one.marked)).toEqual([]);
      console.log(
        `[read-only] ${exchanges.length} requests in ${since(started)}: ${reads.length} reads (all 200), ${writes.length} writes: ${before.length + after.length} reached the app while off, ${whileReadOnly.length} refused while read-only`,
      );
    } finally {
      stop = true;
      await load;
      agent.destroy();
    }
  });
});

function post(url: string): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, timeout: 5_000, headers: { 'Content-Type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end('{"order":1}');
  });
}

function exchange(base: string, method: 'GET' | 'POST', agent: Agent): Promise<Exchange> {
  const sentAt = Date.now();
  return new Promise((resolve) => {
    const req = request(`${base}/`, { method, agent, timeout: 5_000, headers: { Accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () =>
        resolve({
          method,
          sentAt,
          answeredAt: Date.now(),
          status: res.statusCode ?? 0,
          marked: res.headers['maintenance-mode'] === 'read-only',
          body: body.slice(0, 200),
        }),
      );
      res.on('error', (error) =>
        resolve({ method, sentAt, answeredAt: Date.now(), status: 0, marked: false, body: '', error: error.message }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error) =>
      resolve({ method, sentAt, answeredAt: Date.now(), status: 0, marked: false, body: '', error: error.message }),
    );
    req.end(method === 'POST' ? '{"order":1}' : undefined);
  });
}
