import { patchConfigMapArgs } from '../../scripts/lib/control-plane.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkedFetch } from '../helpers/contract.ts';
import { spawnService, type ServiceProcess } from '../helpers/process.ts';
import { waitFor } from '../helpers/wait.ts';
import { NAMESPACE, applyBase, kubeconfigForToken, kubectl, plugin, skipReason, tokenFor } from './cluster.ts';

// No kubelet and no EndpointSlice controller here: the test writes the user Service's
// EndpointSlices itself, as the controller would, and watches the admin tier follow them.
const PEOPLE = `
apiVersion: v1
kind: ServiceAccount
metadata: {name: fleet-operator, namespace: ${NAMESPACE}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: fleet-operator, namespace: ${NAMESPACE}}
rules: [{apiGroups: [""], resources: [configmaps], resourceNames: [app-config], verbs: [get, patch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: fleet-operator, namespace: ${NAMESPACE}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: fleet-operator}
subjects: [{kind: ServiceAccount, name: fleet-operator, namespace: ${NAMESPACE}}]
`;

function slice(name: string, pods: Record<string, boolean>, service = 'sample-app-user'): string {
  return JSON.stringify({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: NAMESPACE,
      labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Object.entries(pods).map(([pod, ready], index) => ({
      addresses: [`10.244.9.${index + 10}`],
      conditions: { ready, serving: ready, terminating: false },
      targetRef: { kind: 'Pod', name: pod, namespace: NAMESPACE },
    })),
  });
}

interface Fleet {
  service: string;
  serving: number;
  notServing: number;
  terminating: number;
  converged: boolean;
  lagging: string[];
  pods: { name: string; state: string; since: string }[];
  changedAt: string | null;
  convergedAt: string | null;
  convergenceSeconds: number | null;
  ungated: string[];
  gateProblem: string | null;
}
type State = { enabled: boolean; effective: { active: boolean; cause: string | null }; fleet: Fleet };

/** Reads Server-Sent Events from the admin stream into a list, until stopped. */
function openStream(url: string, token: string) {
  const controller = new AbortController();
  const events: { event: string; data: string }[] = [];
  const done = (async () => {
    const response = await checkedFetch(url, { headers: { Authorization: `Bearer ${token}` }, signal: controller.signal });
    if (response.status !== 200) throw new Error(`stream answered ${response.status}`);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(
          block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trimStart()]),
        );
        events.push({ event: fields.event ?? 'message', data: fields.data ?? '' });
      }
    }
  })().catch((error: Error) => {
    if (error.name !== 'AbortError') throw error;
  });
  return {
    events,
    states: () => events.filter((e) => e.event === 'state').map((e) => JSON.parse(e.data) as State),
    close: () => controller.abort(),
    done,
  };
}

describe.skipIf(skipReason !== null)('the fleet, from the user Service EndpointSlices, on a real API server', () => {
  let admin: ServiceProcess;
  let token = '';
  const api = (path: string, init: RequestInit = {}) =>
    checkedFetch(`${admin.url}${path}`, {
      ...init,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...init.headers },
    });
  const state = async () => (await (await api('/admin/api/maintenance')).json()) as State;

  beforeAll(async () => {
    await applyBase();
    await kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MODE: 'false' }));
    await kubectl(['apply', '-f', '-'], { input: PEOPLE });
    await kubectl(['delete', 'endpointslices', '-n', NAMESPACE, '-l', 'kubernetes.io/service-name=sample-app-user', '--ignore-not-found']);
    await kubectl(['apply', '-f', '-'], { input: slice('sample-app-user-a', { 'user-1': true, 'user-2': true }) });
    token = await tokenFor('fleet-operator');
    admin = await spawnService({
      ROLE: 'admin',
      CONFIG_SOURCE: 'api',
      ADMIN_AUTH: 'kubernetes',
      POD_NAMESPACE: NAMESPACE,
      POD_NAME: 'sample-app-admin-fleet',
      FLEET_SERVICE: 'sample-app-user',
      // The pods that mount the switch: which pods of the fleet carry a gate. Nothing to nudge here.
      NUDGE_SERVICE: 'sample-app-maintenance-pods',
      NUDGE: 'off',
      KUBECONFIG: await kubeconfigForToken(await tokenFor('sample-app-maintenance-admin'), 'admin-sa-fleet'),
      LOG_LEVEL: 'info',
    });
  });

  afterAll(async () => {
    admin?.child.kill('SIGTERM');
    await admin?.exited;
    for (const service of ['sample-app-user', 'sample-app-maintenance-pods'])
      await kubectl(['delete', 'endpointslices', '-n', NAMESPACE, '-l', `kubernetes.io/service-name=${service}`, '--ignore-not-found']);
  });

  it('shows the fleet in GET /admin/api/maintenance: 2 serving, converged while maintenance is off', async () => {
    const current = await waitFor('the fleet to be listed', async () => {
      const answer = await state();
      return answer.fleet?.serving === 2 ? answer : undefined;
    });
    expect(current.effective).toEqual({ active: false, readOnly: false, mode: 'off', cause: null, nextChangeAt: null });
    expect(current.fleet).toMatchObject({
      service: 'sample-app-user',
      serving: 2,
      notServing: 0,
      terminating: 0,
      converged: true,
      lagging: [],
    });
    expect(current.fleet.pods.map((pod) => [pod.name, pod.state])).toEqual([
      ['user-1', 'serving'],
      ['user-2', 'serving'],
    ]);
  });

  it('streams each change within one event: the flip, each endpoint leaving, and the convergence, with its time', async () => {
    const stream = openStream(`${admin.url}/admin/api/stream`, token);
    try {
      await waitFor('the first state event', () => (stream.states().length >= 1 ? true : undefined));
      const on = await api('/admin/api/maintenance', { method: 'PUT', body: JSON.stringify({ enabled: true, reason: 'fleet e2e' }) });
      expect(on.status).toBe(200);
      const flipped = await waitFor('a state event with maintenance on', () => stream.states().find((s) => s.effective.active));
      expect(flipped.fleet).toMatchObject({ converged: false, lagging: ['user-1', 'user-2'] });
      expect(flipped.fleet.changedAt).not.toBeNull();

      // The kubelet would now fail the pods' readiness; the controller writes the slice.
      await kubectl(['apply', '-f', '-'], { input: slice('sample-app-user-a', { 'user-1': false, 'user-2': true }) });
      const half = await waitFor('user-1 out', () => stream.states().find((s) => s.fleet.notServing === 1));
      expect(half.fleet.lagging).toEqual(['user-2']);
      await kubectl(['apply', '-f', '-'], { input: slice('sample-app-user-a', { 'user-1': false, 'user-2': false }) });
      const converged = await waitFor('convergence', () => stream.states().find((s) => s.effective.active && s.fleet.converged));
      expect(converged.fleet).toMatchObject({ serving: 0, notServing: 2, lagging: [] });
      expect(converged.fleet.convergenceSeconds).toBeGreaterThan(0);
      expect(Date.parse(converged.fleet.convergedAt!) - Date.parse(converged.fleet.changedAt!)).toBe(
        Math.round(converged.fleet.convergenceSeconds! * 1000),
      );
    } finally {
      stream.close();
      await stream.done;
    }
    const metrics = await (await checkedFetch(`${admin.url}/metrics`)).text();
    expect(metrics).toMatch(/^maintenance_fleet_endpoints\{state="not_serving"\} 2$/m);
    expect(metrics).toMatch(/^maintenance_convergence_seconds_count 1$/m);
  });

  it('refuses the stream without a token, and to a caller who may not read', async () => {
    expect((await checkedFetch(`${admin.url}/admin/api/stream`)).status).toBe(401);
    const stranger = await tokenFor('sample-app-user');
    expect((await checkedFetch(`${admin.url}/admin/api/stream`, { headers: { Authorization: `Bearer ${stranger}` } })).status).toBe(403);
  });

  it('kubectl maintenance off --wait: times out with exit 4 naming the pods still out, then succeeds once they are back', async () => {
    const setSlice = (pods: Record<string, boolean>) => kubectl(['apply', '-f', '-'], { input: slice('sample-app-user-a', pods) });
    await setSlice({ 'user-1': false, 'user-2': false });
    const late = await plugin(['off', '--reason', 'fleet e2e', '--wait', '--timeout', '2s', '-n', NAMESPACE]);
    expect(late, JSON.stringify(late)).toMatchObject({ code: 4 });
    expect(late.stdout).toMatch(/^maintenance off in sample-app\/app-config/m);
    expect(late.stdout).toMatch(/^ {2}0\.\d s: 0 serving, 2 out of service, 0 terminating$/m);
    expect(late.stderr).toContain('timed out after 2s: still out of service: user-1,user-2 (0 serving)');

    // Already off: nothing is written; --wait still waits for the fleet.
    const before = (
      await kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.metadata.resourceVersion}'])
    ).trim();
    const waiting = plugin(['off', '--reason', 'again', '--wait', '--timeout', '60s', '-n', NAMESPACE]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await setSlice({ 'user-1': true, 'user-2': false });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await setSlice({ 'user-1': true, 'user-2': true });
    const done = await waiting;
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/^maintenance is already off in sample-app\/app-config; nothing was written$/m);
    expect(done.stdout).toMatch(/1 serving, 1 out of service, 0 terminating$/m);
    expect(done.stdout).toMatch(/^converged in \d+\.\d s: every endpoint of sample-app-user serves users$/m);
    expect((await kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.metadata.resourceVersion}'])).trim()).toBe(
      before,
    );
  });

  it('kubectl maintenance on --wait: converges when no endpoint serves; status shows the fleet', async () => {
    const waiting = plugin(['on', '--reason', 'fleet e2e', '--wait', '-n', NAMESPACE]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await kubectl(['apply', '-f', '-'], { input: slice('sample-app-user-a', { 'user-1': false, 'user-2': false }) });
    const done = await waiting;
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/^converged in \d+\.\d s: no endpoint of sample-app-user serves users$/m);
    const status = await plugin(['status', '-n', NAMESPACE]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^fleet: {7}0 of 2 endpoints of sample-app-user serving, 2 out, 0 terminating · converged$/m);
    expect(status.stdout).toMatch(/^ {13}user-1 out$/m);
    const bad = await plugin(['on', '--reason', 'x', '--wait', '--timeout', 'soon', '-n', NAMESPACE]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--timeout must be a number with s, m, h or d');
  });

  it('names the pods behind the Service that carry no gate: in the API, /status and the plugin', async () => {
    const problem = async () => (await state()).fleet.gateProblem;
    expect(await waitFor('no pod with a gate', async () => ((await problem())?.startsWith('no Deployment') ? problem() : undefined))).toBe(
      'no Deployment of this app carries the gate: none of the 2 pods behind Service sample-app-user follows the switch, so users reach them during maintenance; label each Deployment that goes into maintenance maintenance-switch.dev/gate: "true" and apply the install again',
    );
    let status = await plugin(['status', '-n', NAMESPACE]);
    expect(status.stdout).toMatch(
      /^gate: {8}no Deployment of this app carries the gate: none of the 2 pods behind Service sample-app-user /m,
    );

    await kubectl(['apply', '-f', '-'], {
      input: slice('sample-app-maintenance-pods-a', { 'user-1': false }, 'sample-app-maintenance-pods'),
    });
    const one = await waitFor('user-2 alone ungated', async () =>
      (await state()).fleet.ungated.join() === 'user-2' ? state() : undefined,
    );
    expect(one.fleet.gateProblem).toBe(
      '1 of the 2 pods behind Service sample-app-user carry no gate and keep serving during maintenance (user-2); label each Deployment that goes into maintenance maintenance-switch.dev/gate: "true" and apply the install again',
    );
    const health = (await (await checkedFetch(`${admin.url}/status`)).json()) as { gate: { ungated: string[]; problem: string | null } };
    expect(health.gate).toEqual({ ungated: ['user-2'], problem: one.fleet.gateProblem });
    status = await plugin(['status', '-n', NAMESPACE]);
    expect(status.stdout).toMatch(
      /^gate: {8}1 of the 2 pods behind Service sample-app-user carry no gate and keep serving during maintenance \(user-2\)/m,
    );

    await kubectl(['apply', '-f', '-'], {
      input: slice('sample-app-maintenance-pods-a', { 'user-1': false, 'user-2': false }, 'sample-app-maintenance-pods'),
    });
    await waitFor('every pod gated', async () => ((await problem()) === null ? true : undefined));
    expect((await plugin(['status', '-n', NAMESPACE])).stdout).not.toMatch(/^gate:/m);
  });
});
