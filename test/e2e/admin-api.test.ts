import { patchConfigMapArgs } from '../../scripts/lib/control-plane.ts';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkedFetch } from '../helpers/contract.ts';
import { ANNOTATIONS } from '../../src/config/configmap-writer.ts';
import { parseConfig } from '../../src/config/parse.ts';
import { spawnService, type ServiceProcess } from '../helpers/process.ts';
import { waitFor } from '../helpers/wait.ts';
import { NAMESPACE, ROOT, configMap, kubeconfigForToken, kubectl, plugin, skipReason, tokenFor } from './cluster.ts';

/** Two people: one whom cluster RBAC lets patch app-config, one who may only read it. */
const PEOPLE_RBAC = `
apiVersion: v1
kind: ServiceAccount
metadata: {name: operator, namespace: ${NAMESPACE}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: viewer, namespace: ${NAMESPACE}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: app-config-editor, namespace: ${NAMESPACE}}
rules:
- {apiGroups: [""], resources: [configmaps], resourceNames: [app-config], verbs: [get, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: app-config-viewer, namespace: ${NAMESPACE}}
rules:
- {apiGroups: [""], resources: [configmaps], resourceNames: [app-config], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: operator, namespace: ${NAMESPACE}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: app-config-editor}
subjects: [{kind: ServiceAccount, name: operator, namespace: ${NAMESPACE}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: viewer, namespace: ${NAMESPACE}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: app-config-viewer}
subjects: [{kind: ServiceAccount, name: viewer, namespace: ${NAMESPACE}}]
`;

describe.skipIf(skipReason !== null)('the admin API on a real API server (ADMIN_AUTH=kubernetes)', () => {
  let admin: ServiceProcess;
  let user: ServiceProcess;
  let operatorToken = '';
  let viewerToken = '';

  const put = (token: string | null, body: unknown) =>
    checkedFetch(`${admin.url}/admin/api/maintenance`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const get = (token: string | null) =>
    checkedFetch(`${admin.url}/admin/api/maintenance`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  const userReadyz = async () => {
    const response = await checkedFetch(`${user.url}/readyz`);
    await response.text();
    return response.status;
  };

  beforeAll(async () => {
    await kubectl(['apply', '-k', join(ROOT, 'demo/local-api-watch')]);
    await kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MODE: 'false' }));
    await kubectl(['apply', '-f', '-'], { input: PEOPLE_RBAC });
    operatorToken = await tokenFor('operator');
    viewerToken = await tokenFor('viewer');
    // Each process authenticates as its pod's service account would.
    admin = await spawnService({
      ROLE: 'admin',
      CONFIG_SOURCE: 'api',
      ADMIN_AUTH: 'kubernetes',
      POD_NAMESPACE: NAMESPACE,
      POD_NAME: 'sample-app-admin-e2e',
      APP_NAME: 'sample-app',
      // The demo's switch keeps its old name; nothing here nudges.
      CONFIGMAP_NAME: 'app-config',
      NUDGE_SERVICE: 'none',
      KUBECONFIG: await kubeconfigForToken(await tokenFor('sample-app-maintenance-admin'), 'admin-sa'),
      LOG_LEVEL: 'info',
    });
    user = await spawnService({
      ROLE: 'user',
      CONFIG_SOURCE: 'api',
      POD_NAMESPACE: NAMESPACE,
      KUBECONFIG: await kubeconfigForToken(await tokenFor('sample-app-config-reader'), 'reader-sa'),
      LOG_LEVEL: 'info',
    });
    await waitFor('user ready', async () => ((await userReadyz()) === 200 ? true : undefined));
  });

  afterAll(async () => {
    for (const service of [admin, user]) service?.child.kill('SIGTERM');
    await Promise.all([admin?.exited, user?.exited]);
  });

  it('answers 401 without a token and with a garbage token, and writes nothing', async () => {
    const before = (await configMap()).metadata.resourceVersion;
    const anonymous = await put(null, { enabled: true, reason: 'no token' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await put('not-a-real-token', { enabled: true, reason: 'garbage' })).status).toBe(401);
    expect((await get(null)).status).toBe(401);
    expect((await configMap()).metadata.resourceVersion).toBe(before);
  });

  it('lets a user who may only read see the state, and answers 403 to their change', async () => {
    const before = (await configMap()).metadata.resourceVersion;
    const read = await get(viewerToken);
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ enabled: false, resourceVersion: before });
    const change = await put(viewerToken, { enabled: true, reason: 'I should not be able to' });
    expect(change.status).toBe(403);
    expect(((await change.json()) as { message: string }).message).toContain('system:serviceaccount:sample-app:viewer');
    expect((await configMap()).metadata.resourceVersion).toBe(before);
  });

  it('lets a user whom RBAC lets patch toggle: the ConfigMap, its annotations, an Event, and the user pods follow', async () => {
    const response = await put(operatorToken, { enabled: true, reason: 'database upgrade OPS-42', message: 'Back at 22:00 UTC' });
    expect(response.status).toBe(200);
    const state = (await response.json()) as Record<string, unknown>;
    expect(state).toMatchObject({
      enabled: true,
      message: 'Back at 22:00 UTC',
      changedBy: 'system:serviceaccount:sample-app:operator',
      reason: 'database upgrade OPS-42',
    });

    const stored = await configMap();
    expect(stored.data.MAINTENANCE_MODE).toBe('true');
    expect(stored.metadata.resourceVersion).toBe(state.resourceVersion);
    expect(stored.metadata.annotations?.[ANNOTATIONS.changedBy]).toBe('system:serviceaccount:sample-app:operator');
    expect(stored.metadata.annotations?.[ANNOTATIONS.reason]).toBe('database upgrade OPS-42');
    expect(Date.parse(stored.metadata.annotations?.[ANNOTATIONS.changedAt] ?? '')).not.toBeNaN();

    const events = JSON.parse(await kubectl(['get', 'events.events.k8s.io', '-n', NAMESPACE, '-o', 'json'])) as {
      items: { reason: string; note: string; regarding: { kind: string; name: string }; reportingInstance: string }[];
    };
    // Other test files share this API server and namespace: find this toggle's Event by its reason.
    const event = events.items.find((item) => item.reason === 'MaintenanceEnabled' && item.note.includes('database upgrade OPS-42'));
    expect(event).toMatchObject({ regarding: { kind: 'ConfigMap', name: 'app-config' }, reportingInstance: 'sample-app-admin-e2e' });
    expect(event?.note).toContain('database upgrade OPS-42');

    expect(
      admin.logs().some((line) => line.msg === 'maintenance toggled' && line.actor === 'system:serviceaccount:sample-app:operator'),
    ).toBe(true);
    await waitFor('the user pod to leave readiness', async () => ((await userReadyz()) === 503 ? true : undefined));
  });

  it('records the Event of a toggle whose reason is long multi-byte text, cut to 1,024 bytes on a character boundary', async () => {
    const reason = `メンテナンス${'日'.repeat(494)}`;
    expect(reason).toHaveLength(500);
    const response = await put(operatorToken, { enabled: false, reason });
    expect(response.status).toBe(200);
    const event = await waitFor('the Event of the toggle', async () => {
      const events = JSON.parse(await kubectl(['get', 'events.events.k8s.io', '-n', NAMESPACE, '-o', 'json'])) as {
        items: { reason: string; note: string }[];
      };
      return events.items.find((item) => item.reason === 'MaintenanceDisabled' && item.note.includes('メンテナンス'));
    });
    expect(Buffer.byteLength(event.note)).toBeLessThanOrEqual(1024);
    expect(Buffer.byteLength(event.note)).toBeGreaterThan(1000);
    expect(event.note).toMatch(/^system:serviceaccount:sample-app:operator turned maintenance off: メンテナンス日+…$/);
    expect(event.note).not.toContain('\uFFFD');
  });

  it('lists the latest changes newest first, with who, why and what each set, and a hand edit as a change made outside', async () => {
    const window = { start: '2031-01-01T00:00:00Z', end: '2031-01-01T01:00:00Z' };
    expect((await put(operatorToken, { enabled: false, reason: 'history: a window', ...window })).status).toBe(200);
    type History = { changes: { at: string; by: string; reason: string | null; what: string; outside: boolean }[] };
    const history = async () =>
      (await (
        await checkedFetch(`${admin.url}/admin/api/history`, { headers: { Authorization: `Bearer ${viewerToken}` } })
      ).json()) as History;
    const withWindow = await waitFor('the window change in the history', async () => {
      const { changes } = await history();
      return changes[0]?.reason === 'history: a window' ? changes : undefined;
    });
    // What changed, not what stayed: the switch was off already.
    expect(withWindow[0]).toMatchObject({
      by: 'system:serviceaccount:sample-app:operator',
      what: 'window 2031-01-01T00:00:00Z → 2031-01-01T01:00:00Z',
      outside: false,
    });
    // The toggles of the earlier tests are there too, newest first.
    expect(withWindow.some((change) => change.what.startsWith('switch on') && change.reason === 'database upgrade OPS-42')).toBe(true);
    expect([...withWindow].sort((a, b) => b.at.localeCompare(a.at))).toEqual(withWindow);
    expect(withWindow.length).toBeLessThanOrEqual(20);

    await kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MESSAGE: 'patched by hand' }));
    // Recorded by the admin, which saw it: by its field manager, with what it changed.
    const top = await waitFor('the hand edit in the history', async () => {
      const [first] = (await history()).changes;
      return first?.outside && first.what === 'message set' ? first : undefined;
    });
    expect(top).toMatchObject({ by: 'kubectl-patch', reason: null, outside: true });
    // Put the switch back as the later tests expect it.
    expect((await put(operatorToken, { enabled: false, reason: 'history: clean up', start: null, end: null })).status).toBe(200);
  });

  it('keeps the history past its Events and a restart of the admin, and bounded to the last 100 changes', async () => {
    type History = { changes: { at: string; by: string; reason: string | null; what: string }[] };
    const history = async () =>
      (await (
        await checkedFetch(`${admin.url}/admin/api/history`, { headers: { Authorization: `Bearer ${viewerToken}` } })
      ).json()) as History;
    for (const [index, enabled] of [true, false, true].entries())
      expect((await put(operatorToken, { enabled, reason: `durable ${index}` })).status).toBe(200);
    await kubectl(['delete', 'events.events.k8s.io', '--all', '-n', NAMESPACE]);
    admin.child.kill('SIGTERM');
    await admin.exited;
    admin = await spawnService({
      ROLE: 'admin',
      CONFIG_SOURCE: 'api',
      ADMIN_AUTH: 'kubernetes',
      POD_NAMESPACE: NAMESPACE,
      POD_NAME: 'sample-app-admin-e2e-2',
      APP_NAME: 'sample-app',
      // The demo's switch keeps its old name; nothing here nudges.
      CONFIGMAP_NAME: 'app-config',
      NUDGE_SERVICE: 'none',
      KUBECONFIG: await kubeconfigForToken(await tokenFor('sample-app-maintenance-admin'), 'admin-sa'),
      LOG_LEVEL: 'info',
    });
    const kept = (await history()).changes.slice(0, 3);
    expect(kept.map((change) => [change.reason, change.what, change.by])).toEqual([
      ['durable 2', 'switch on', 'system:serviceaccount:sample-app:operator'],
      ['durable 1', 'switch off', 'system:serviceaccount:sample-app:operator'],
      ['durable 0', 'switch on', 'system:serviceaccount:sample-app:operator'],
    ]);

    // kubectl maintenance history reads the same, with the Events gone.
    const shown = await plugin(['history', '-n', NAMESPACE]);
    expect(shown.code).toBe(0);
    expect(shown.stdout.split('\n').slice(0, 3)).toEqual([
      expect.stringMatching(/^\d{4}-\d\d-\d\dT\S+Z {2}system:serviceaccount:sample-app:operator changed switch on: durable 2$/),
      expect.stringMatching(/ changed switch off: durable 1$/),
      expect.stringMatching(/ changed switch on: durable 0$/),
    ]);

    // 100 more (bounded in count: one request each, in turn).
    for (let index = 0; index < 100; index++)
      expect((await put(operatorToken, { enabled: index % 2 === 0, reason: `bounded ${index}` })).status).toBe(200);
    const stored = JSON.parse(
      await kubectl(['get', 'configmap', 'sample-app-maintenance-history', '-n', NAMESPACE, '-o', 'jsonpath={.data}']),
    ) as Record<string, string>;
    const entries = Object.keys(stored).filter((key) => key !== 'last');
    expect(entries).toHaveLength(100);
    expect(Buffer.byteLength(JSON.stringify(stored))).toBeLessThan(256 * 1024);
    expect(Object.values(stored).some((value) => value.includes('durable 0'))).toBe(false);
    expect((await history()).changes[0]).toMatchObject({ reason: 'bounded 99', what: 'switch off' });
    // Put the switch back as the later tests expect it.
    expect((await put(operatorToken, { enabled: false, reason: 'durable: clean up' })).status).toBe(200);
  });

  it('refuses bad input with 400 naming the field, and writes nothing', async () => {
    const before = (await configMap()).metadata.resourceVersion;
    const cases: [unknown, string][] = [
      ['{"enabled": tru', 'body'],
      [{ enabled: false, reason: 'x', colour: 'red' }, 'colour'],
      [{ enabled: 'yes', reason: 'x' }, 'enabled'],
      [{ enabled: false }, 'reason'],
      [{ enabled: false, reason: '   ' }, 'reason'],
      [{ enabled: false, reason: 'x'.repeat(501) }, 'reason'],
      [{ enabled: false, reason: 'x', message: 'm'.repeat(2001) }, 'message'],
      [{ enabled: false, reason: 'x', start: 'tomorrow' }, 'start'],
      [{ enabled: false, reason: 'x', start: '2026-12-01T10:00:00Z', end: '2026-12-01T09:00:00Z' }, 'end'],
      [{ enabled: false, reason: 'x', retryAfterSeconds: 1.5 }, 'retryAfterSeconds'],
      [[1, 2], 'body'],
    ];
    for (const [body, field] of cases) {
      const response = await put(operatorToken, body);
      const answer = (await response.json()) as { field: string; message: string };
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(answer.field, JSON.stringify(body)).toBe(field);
      expect(answer.message).toContain(field);
    }
    expect((await configMap()).metadata.resourceVersion).toBe(before);
  });

  it('gives exactly one success and one 409 to two concurrent changes carrying the same resourceVersion', async () => {
    const { resourceVersion } = (await (await get(operatorToken)).json()) as { resourceVersion: string };
    const responses = await Promise.all([
      put(operatorToken, { enabled: false, reason: 'first', resourceVersion }),
      put(operatorToken, { enabled: false, reason: 'second', resourceVersion, message: 'different' }),
    ]);
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([200, 409]);
    const conflict = (await responses.find((response) => response.status === 409)!.json()) as { error: string; message: string };
    expect(conflict.error).toBe('conflict');
    expect(conflict.message).toMatch(/changed by someone else/);

    const stored = await configMap();
    const winner = responses.find((response) => response.status === 200)!;
    expect(stored.metadata.resourceVersion).toBe(((await winner.json()) as { resourceVersion: string }).resourceVersion);
    expect(stored.data.MAINTENANCE_MODE).toBe('false');
    await waitFor('the user pod to return', async () => ((await userReadyz()) === 200 ? true : undefined));
  });

  it('never stores an invalid config, whatever the interleaving of concurrent changes that conflict', async () => {
    expect((await put(operatorToken, { enabled: false, reason: 'clear the window', start: null, end: null })).status).toBe(200);
    // Each change is valid alone; together they would put the end before the start.
    const bodies = Array.from({ length: 16 }, (_, i) =>
      i % 2 === 0
        ? { enabled: false, reason: `start ${i}`, start: '2030-01-02T00:00:00Z', end: null }
        : { enabled: false, reason: `end ${i}`, end: '2030-01-01T00:00:00Z', start: null },
    );
    const statuses = await Promise.all(
      bodies.map(async (body) => {
        const response = await put(operatorToken, body);
        await response.text();
        return response.status;
      }),
    );
    for (const status of statuses) expect([200, 400, 409]).toContain(status);
    expect(statuses).toContain(200);
    const stored = await configMap();
    const parsed = parseConfig(stored.data);
    expect(parsed.ok, parsed.ok ? '' : parsed.error).toBe(true);
    expect((await put(operatorToken, { enabled: false, reason: 'clear the window', start: null, end: null })).status).toBe(200);
  });

  it('answers a malformed resourceVersion with 400 naming the field, and writes nothing', async () => {
    const before = (await configMap()).metadata.resourceVersion;
    const response = await put(operatorToken, { enabled: true, reason: 'x', resourceVersion: 'abc; drop' });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_request', field: 'resourceVersion' });
    expect((await configMap()).metadata.resourceVersion).toBe(before);
  });

  it('ends a panel session within the documented 10 s once its ServiceAccount is deleted', async () => {
    await kubectl(['create', 'serviceaccount', 'short-lived', '-n', NAMESPACE]);
    await kubectl([
      'create',
      'rolebinding',
      'short-lived',
      '-n',
      NAMESPACE,
      '--role=app-config-editor',
      `--serviceaccount=${NAMESPACE}:short-lived`,
    ]);
    const login = await checkedFetch(`${admin.url}/admin/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: await tokenFor('short-lived') }),
    });
    expect(login.status).toBe(200);
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const replay = () =>
      checkedFetch(`${admin.url}/admin/api/maintenance`, {
        method: 'PUT',
        headers: { Cookie: cookie, 'X-CSRF-Token': csrfToken, 'Content-Type': 'application/json' },
        body: JSON.stringify({ enabled: false, reason: 'session replay' }),
      });
    expect((await replay()).status).toBe(200);
    await kubectl(['delete', 'serviceaccount', 'short-lived', '-n', NAMESPACE]);
    const status = await waitFor(
      'the session to end',
      async () => {
        const response = await replay();
        return response.status === 200 ? undefined : response.status;
      },
      { timeoutMs: 40_000, intervalMs: 500 },
    );
    expect([401, 403]).toContain(status);
    await kubectl(['delete', 'rolebinding', 'short-lived', '-n', NAMESPACE]);
  });

  it('answers 404 for every /admin path on the user role', async () => {
    for (const path of ['/admin', '/admin/', '/admin/api/maintenance', '/admin/session']) {
      expect((await checkedFetch(`${user.url}${path}`)).status, path).toBe(404);
    }
  });
});
