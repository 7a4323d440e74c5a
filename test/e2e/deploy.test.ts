import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findBinaries,
  runPlugin,
  startControlPlane,
  writeTokenKubeconfig,
  type Binaries,
  type ControlPlane,
  patchConfigMapArgs,
} from '../../scripts/lib/control-plane.ts';
import { ANNOTATIONS } from '../../src/config/configmap-writer.ts';
import { spawnService, type ServiceProcess } from '../helpers/process.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeVolumeAtomically } from '../../src/config/kubelet-volume.ts';
import { verifyBypassToken } from '../../src/maintenance/bypass-token.ts';
import { BypassKey } from '../../src/config/bypass-key.ts';
import { systemClock } from '../../src/clock.ts';
import { NAMESPACE, ROOT, skipReason } from './cluster.ts';
import { PLUGIN_DIR } from '../../scripts/lib/plugin.ts';

const BASE = join(ROOT, 'demo/base');
const BYPASS_KEY = 'an-e2e-bypass-key-of-at-least-32-bytes';

// Its own control plane: a clean cluster, as a platform engineer's first `kubectl apply -k` meets it.
describe.skipIf(skipReason !== null)('deploying with kubectl apply -k', () => {
  let plane: ControlPlane;
  let binaries: Binaries;
  let admin: ServiceProcess;
  const mode = async () =>
    (await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.data.MAINTENANCE_MODE}'])).trim();

  /** Runs the plugin the way kubectl runs it: found on PATH as kubectl-maintenance. */
  const plugin = (args: string[]) => runPlugin(binaries.kubectl, plane.kubeconfig, args);

  beforeAll(async () => {
    const found = findBinaries();
    if (typeof found === 'string') throw new Error(found);
    binaries = found;
    plane = await startControlPlane(binaries);
    await plane.kubectl(['apply', '-k', BASE]);
    // The bypass key as the kubelet mounts the Secret maintenance-bypass-key into the admin pod.
    await writeVolumeAtomically(join(plane.dir, 'bypass-key'), { key: BYPASS_KEY });
    const tokenFile = join(plane.dir, 'admin-tokens');
    await writeFile(tokenFile, 'e2e-admin-token,release-manager\n');
    // The admin tier as deployed: its own service account, patching through the API.
    const adminToken = (await plane.kubectl(['create', 'token', 'sample-app-maintenance-admin', '-n', NAMESPACE])).trim();
    const kubeconfig = await writeTokenKubeconfig(plane.kubeconfig, adminToken, 'admin-sa', NAMESPACE);
    admin = await spawnService({
      ROLE: 'admin',
      CONFIG_SOURCE: 'api',
      POD_NAMESPACE: NAMESPACE,
      ADMIN_AUTH: 'token',
      ADMIN_TOKEN_FILE: tokenFile,
      KUBECONFIG: kubeconfig,
      BYPASS_KEY_DIR: join(plane.dir, 'bypass-key'),
    });
  });

  afterAll(async () => {
    admin?.child.kill('SIGTERM');
    await admin?.exited;
    await plane?.stop();
  });

  it('creates a ConfigMap that holds no toggled key, so maintenance starts off', async () => {
    expect(await mode()).toBe('');
  });

  it('keeps maintenance on across client-side and server-side re-applies after an admin turned it on', async () => {
    const response = await fetch(`${admin.url}/admin/api/maintenance`, {
      method: 'PUT',
      headers: { Authorization: 'Bearer e2e-admin-token', 'Content-Type': 'application/json' },
      body: JSON.stringify({ enabled: true, reason: 'release 42', message: 'Back at 22:00 UTC' }),
    });
    expect(response.status).toBe(200);
    expect(await mode()).toBe('true');

    await plane.kubectl(['apply', '-k', BASE]);
    expect(await mode()).toBe('true');

    await plane.kubectl(['apply', '--server-side', '-k', BASE]);
    expect(await mode()).toBe('true');

    await plane.kubectl(['apply', '--server-side', '-k', BASE]);
    await plane.kubectl(['apply', '-k', BASE]);
    expect(await mode()).toBe('true');
    const message = await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.data.MAINTENANCE_MESSAGE}']);
    expect(message).toBe('Back at 22:00 UTC');
  });

  it('lets the kubectl plugin show and toggle maintenance, recording who and why', async () => {
    const status = await plugin(['status', '-n', NAMESPACE]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^maintenance: on/);
    expect(status.stdout).toContain('token:release-manager');

    const missingReason = await plugin(['off', '-n', NAMESPACE]);
    expect(missingReason.code).toBe(2);
    expect(missingReason.stderr).toContain('--reason is required');
    expect(await mode()).toBe('true');

    const off = await plugin(['off', '-n', NAMESPACE, '--reason', 'release 42 "done"\nall green']);
    expect(off.stderr).toBe('');
    expect(off.code).toBe(0);
    expect(off.stdout).toMatch(/^maintenance off in sample-app\/app-config \(resourceVersion \d+\), by envtest-admin/);
    expect(await mode()).toBe('false');
    const annotations = JSON.parse(
      await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.metadata.annotations}']),
    ) as Record<string, string>;
    expect(annotations[ANNOTATIONS.changedBy]).toBe('envtest-admin');
    expect(annotations[ANNOTATIONS.reason]).toBe('release 42 "done"\nall green');
    expect(Date.parse(annotations[ANNOTATIONS.changedAt]!)).not.toBeNaN();

    const on = await plugin(['on', '-n', NAMESPACE, '--reason', 'again', '--message', 'Ünïcode \\ and "quotes"']);
    expect(on.code).toBe(0);
    expect(await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.data.MAINTENANCE_MESSAGE}'])).toBe(
      'Ünïcode \\ and "quotes"',
    );
    // The admin tier, following the API, sees what the plugin wrote.
    await waitFor('the admin tier to see the change', async () => {
      const current = (await (await fetch(`${admin.url}/status`)).json()) as { maintenance: boolean; config: { message: string } };
      return current.maintenance && current.config.message === 'Ünïcode \\ and "quotes"' ? true : undefined;
    });
    // Each toggle is an Event too, so the history has them, newest first.
    const history = await plugin(['history', '-n', NAMESPACE]);
    expect(history.code).toBe(0);
    const lines = history.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+ {2}envtest-admin changed switch on, message set: again$/);
    expect(lines.some((line) => / {2}envtest-admin changed switch off: release 42 "done"/.test(line))).toBe(true);
  });

  it('sets read-only with the plugin and the admin API where it is enforced, and refuses it, writing nothing, where it is not', async () => {
    const readOnly = await plugin(['read-only', '-n', NAMESPACE, '--reason', 'catalogue migration']);
    expect(readOnly.stderr).toBe('');
    expect(readOnly.code).toBe(0);
    expect(readOnly.stdout).toMatch(/^read-only in sample-app\/app-config \(resourceVersion \d+\), by envtest-admin: catalogue migration/);
    expect(readOnly.stdout).toContain('users: read-only: reads reach the application, writes get the maintenance page');
    expect(await mode()).toBe('read-only');
    const status = await plugin(['status', '-n', NAMESPACE]);
    expect(status.stdout).toMatch(/^maintenance: read-only/);
    expect((await plugin(['history', '-n', NAMESPACE])).stdout.split('\n')[0]).toContain('changed switch read-only: catalogue migration');
    expect((await plugin(['off', '-n', NAMESPACE, '--reason', 'done'])).code).toBe(0);

    // The same install, as if its users did not pass through gates (no components/gate-proxy).
    await plane.kubectl(['annotate', 'configmap', 'app-config', '-n', NAMESPACE, 'maintenance-switch.dev/read-only-']);
    try {
      const refused = await plugin(['read-only', '-n', NAMESPACE, '--reason', 'not here']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /^kubectl maintenance: nothing written: read-only mode is not enforced by this install.*components\/gate-proxy/,
      );
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect((await plugin(['status', '-n', NAMESPACE])).stdout).toContain('read-only:   not available here');
      const api = await fetch(`${admin.url}/admin/api/maintenance`, {
        method: 'PUT',
        headers: { Authorization: 'Bearer e2e-admin-token', 'Content-Type': 'application/json' },
        body: JSON.stringify({ mode: 'read-only', reason: 'not here either' }),
      });
      expect(api.status).toBe(409);
      expect(await api.json()).toMatchObject({ error: 'read_only_not_enforced', field: 'mode' });
      expect(await mode()).toBe('false');
    } finally {
      await plane.kubectl(['annotate', 'configmap', 'app-config', '-n', NAMESPACE, 'maintenance-switch.dev/read-only=enforced']);
    }
    expect((await plugin(['on', '-n', NAMESPACE, '--reason', 'back to where the next test starts'])).code).toBe(0);
  });

  it('reports a conflict from the plugin instead of overwriting a newer change', async () => {
    const seen = (
      await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.metadata.resourceVersion}'])
    ).trim();
    await plane.kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MESSAGE: 'someone else' }));
    const stale = await plugin(['off', '-n', NAMESPACE, '--reason', 'stale', '--if-version', seen]);
    expect(stale.code).toBe(3);
    expect(stale.stderr).toContain(`conflict: sample-app/app-config changed after resourceVersion ${seen} was read; nothing was written.`);
    expect(await mode()).toBe('true');
  });

  /** The bypass-link Events recorded on the ConfigMap, newest last. */
  const bypassEvents = async () => {
    const list = JSON.parse(await plane.kubectl(['get', 'events.events.k8s.io', '-n', NAMESPACE, '-o', 'json'])) as {
      items: { reason: string; note: string; action: string; regarding: { kind: string; name: string; uid?: string } }[];
    };
    return list.items.filter((event) => event.reason === 'BypassLinkCreated');
  };

  it('makes a bypass link from the admin API, recorded as an Event on the ConfigMap, with the token in no log', async () => {
    const response = await fetch(`${admin.url}/admin/api/bypass-links`, {
      method: 'POST',
      headers: { Authorization: 'Bearer e2e-admin-token', 'Content-Type': 'application/json' },
      body: JSON.stringify({ reason: 'QA sign-off for release 42', expiresInSeconds: 7200 }),
    });
    expect(response.status).toBe(201);
    const link = (await response.json()) as { id: string; path: string; expiresAt: string };
    const token = new URL(link.path, 'http://x').searchParams.get('token')!;
    expect(verifyBypassToken(Buffer.from(BYPASS_KEY), token, Date.now())).toMatchObject({ ok: true, id: link.id });
    const uid = (await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.metadata.uid}'])).trim();
    const event = (await bypassEvents()).find((candidate) => candidate.note.includes(link.id));
    expect(event).toMatchObject({
      action: 'CreateBypassLink',
      note: `token:release-manager created bypass link ${link.id}, valid until ${link.expiresAt}: QA sign-off for release 42`,
      regarding: { kind: 'ConfigMap', name: 'app-config', uid },
    });
    expect(JSON.stringify(admin.logs())).not.toContain(token.split('.')[3]);
  });

  it('makes a bypass link with the plugin, from the Secret, that the pods accept; refuses bad durations', async () => {
    const noSecret = await plugin(['bypass-link', '-n', NAMESPACE, '--reason', 'QA']);
    expect(noSecret.code).toBe(1);
    expect(noSecret.stderr).toContain('create secret generic maintenance-bypass-key');

    await plane.kubectl(['create', 'secret', 'generic', 'maintenance-bypass-key', '-n', NAMESPACE, `--from-literal=key=${BYPASS_KEY}\n`]);
    for (const duration of ['8', '8w', '30s', '8d']) {
      const refused = await plugin(['bypass-link', '-n', NAMESPACE, '--reason', 'QA', '--for', duration]);
      expect(refused.code, duration).toBe(2);
      expect(refused.stderr, duration).toContain('--for must');
    }
    const before = Date.now();
    const made = await plugin([
      'bypass-link',
      '-n',
      NAMESPACE,
      '--reason',
      'QA from the plugin',
      '--for',
      '2h',
      '--url',
      'https://shop.example.com/',
    ]);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const url = new URL(made.stdout.trim().split('\n').at(-1)!);
    expect(url.origin + url.pathname).toBe('https://shop.example.com/__maintenance/bypass');
    // Signed with the Secret's key (its trailing newline trimmed, as the pods trim it): the pods accept it.
    const verdict = verifyBypassToken(Buffer.from(BYPASS_KEY), url.searchParams.get('token')!, Date.now());
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.expiresAt - before).toBeGreaterThan(2 * 3600_000 - 5000);
    expect(verdict.expiresAt - before).toBeLessThanOrEqual(2 * 3600_000 + 1000);
    const event = (await bypassEvents()).find((candidate) => candidate.note.includes(verdict.id));
    expect(event?.note).toMatch(new RegExp(`^envtest-admin created bypass link ${verdict.id}, valid until \\S+Z: QA from the plugin$`));
  });

  it('records the Event of a plugin bypass link whose reason is long multi-byte text, cut to 1,024 bytes on a character boundary', async () => {
    const reason = `検証${'日'.repeat(498)}`;
    const made = await plugin(['bypass-link', '-n', NAMESPACE, '--reason', reason]);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const id = /bypass link (\S+), valid until/.exec(made.stdout)?.[1];
    const event = (await bypassEvents()).find((candidate) => id !== undefined && candidate.note.includes(id));
    expect(event).toBeDefined();
    expect(Buffer.byteLength(event!.note)).toBeLessThanOrEqual(1024);
    expect(Buffer.byteLength(event!.note)).toBeGreaterThan(1000);
    expect(event!.note).toMatch(/: 検証日+…$/);
    expect(event!.note).not.toContain('\uFFFD');
  });

  it('signs with the bytes the pods read, binary keys too, and runs no helper that could see the key', async () => {
    // Every helper a shell plugin would run logs its command line first, then runs the real one.
    const spy = await mkdtemp(join(tmpdir(), 'plugin-argv-'));
    const log = join(spy, 'argv.log');
    for (const tool of ['openssl', 'od', 'base64', 'tr', 'sed', 'awk', 'head', 'iconv', 'wc', 'date', 'cut', 'sha256sum']) {
      const real = execFileSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      await writeFile(join(spy, tool), `#!/bin/bash\nprintf '%s ' "$0" "$@" >> ${log}\necho >> ${log}\nexec ${real} "$@"\n`, {
        mode: 0o755,
      });
    }
    const keys = [
      randomBytes(40),
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), randomBytes(37)]),
      Buffer.concat([randomBytes(38), Buffer.from([0xc2, 0xa0])]),
      Buffer.concat([randomBytes(39), Buffer.from([0x0b])]),
      Buffer.concat([Buffer.from([0x00, 0x0a]), randomBytes(70), Buffer.from('\n')]),
    ];
    try {
      for (const [index, key] of keys.entries()) {
        const file = join(spy, 'key');
        await writeFile(file, key);
        await plane.kubectl(['delete', 'secret', 'maintenance-bypass-key', '-n', NAMESPACE, '--ignore-not-found']);
        await plane.kubectl(['create', 'secret', 'generic', 'maintenance-bypass-key', '-n', NAMESPACE, `--from-file=key=${file}`]);
        const made = await runPlugin(
          binaries.kubectl,
          plane.kubeconfig,
          ['bypass-link', '-n', NAMESPACE, '--reason', `binary key ${index}`],
          { pathPrefix: spy },
        );
        expect(made.stderr, `key ${index}`).toBe('');
        const token = new URL(made.stdout.trim().split('\n').at(-1)!, 'https://shop.example.com').searchParams.get('token')!;
        // The pods' own reader, on the same bytes as the kubelet would write them.
        const mounted = join(spy, `mounted-${index}`);
        await mkdir(mounted);
        await writeFile(join(mounted, 'key'), key);
        const podKey = new BypassKey(mounted, systemClock, pino({ level: 'silent' }));
        await podKey.refresh();
        expect(podKey.status, `key ${index}`).toEqual({ state: 'loaded' });
        expect(verifyBypassToken(podKey.current, token, Date.now()).ok, `key ${index}`).toBe(true);
        // Signed in the plugin's own process: no helper ran, so no command line ever held the key.
        expect(await readFile(log, 'utf8').catch(() => ''), `key ${index}`).toBe('');
      }
    } finally {
      await plane.kubectl(['delete', 'secret', 'maintenance-bypass-key', '-n', NAMESPACE, '--ignore-not-found']);
      await plane.kubectl(['create', 'secret', 'generic', 'maintenance-bypass-key', '-n', NAMESPACE, `--from-literal=key=${BYPASS_KEY}\n`]);
      await rm(spy, { recursive: true, force: true });
    }
  });

  it('passes no name read from the cluster to kubectl unless it is a Kubernetes name, and never as a flag', async () => {
    // Whoever may patch the switch sets its annotations; the plugin runs with the caller's own credentials.
    const listener = createServer((socket) => {
      contacted++;
      socket.destroy();
    });
    let contacted = 0;
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const trap = `https://127.0.0.1:${(listener.address() as AddressInfo).port}`;
    const annotate = (name: string, value: string) =>
      plane.kubectl(['annotate', 'configmap', 'app-config', '-n', NAMESPACE, '--overwrite', `maintenance-switch.dev/${name}=${value}`]);
    try {
      for (const hostile of [`--server=${trap}`, '--context=other', '--as=system:admin', 'x -o name', '[2J']) {
        await annotate('bypass-key-secret', hostile);
        const link = await plugin(['bypass-link', '-n', NAMESPACE, '--reason', 'QA']);
        expect([hostile, link.code]).toEqual([hostile, 1]);
        expect(link.stderr).toMatch(/maintenance-switch\.dev\/bypass-key-secret .* is not a Kubernetes name/);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for exactly those characters
        expect(link.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
      }
      await annotate('bypass-key-secret', 'maintenance-bypass-key');
      for (const hostile of ['x,kubernetes.io/service-name!=y', '\u001b[2Jmaintenance is OFF', `--server=${trap}`]) {
        await annotate('service', hostile);
        const status = await plugin(['status', '-n', NAMESPACE]);
        expect([hostile, status.code]).toEqual([hostile, 1]);
        expect(status.stderr).toMatch(/maintenance-switch\.dev\/service .* is not a Kubernetes name/);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for exactly those characters
        expect(`${status.stdout}${status.stderr}`).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
      }
      expect(contacted).toBe(0);
    } finally {
      await annotate('service', 'sample-app-user');
      await annotate('bypass-key-secret', 'maintenance-bypass-key');
      listener.close();
    }
  });

  it('escapes control characters in everything status prints from the cluster', async () => {
    const hostile = '\u001b[2K\rmaintenance: off\u0007\u009b31m';
    await plane.kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MESSAGE: hostile, MAINTENANCE_MODE: 'true' }));
    const status = await plugin(['status', '-n', NAMESPACE]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^maintenance: on /);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for exactly those characters
    expect(status.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(status.stdout).toContain('message:     \\x1b[2K\\x0dmaintenance: off\\x07\\x9b31m');
    await plane.kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MESSAGE: 'ok', MAINTENANCE_MODE: 'false' }));
  });

  it('says when the maintenance keys were changed outside the panel and plugin, naming the field manager and time', async () => {
    const state = async () =>
      (await (await fetch(`${admin.url}/admin/api/maintenance`, { headers: { Authorization: 'Bearer e2e-admin-token' } })).json()) as {
        changedBy: string;
        changedOutside: { manager: string | null; time: string | null } | null;
      };
    const on = await plugin(['on', '-n', NAMESPACE, '--reason', 'outside check', '--message', 'trailing newline\n']);
    expect(on.code).toBe(0);
    expect((await state()).changedOutside).toBeNull();
    expect((await plugin(['status', '-n', NAMESPACE])).stdout).not.toContain('changed outside');

    await plane.kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MESSAGE: 'patched by hand' }));
    const patched = await state();
    expect(patched.changedBy).toBe('envtest-admin');
    expect(patched.changedOutside?.manager).toBe('kubectl-patch');
    expect(Date.parse(patched.changedOutside!.time!)).not.toBeNaN();
    const status = await plugin(['status', '-n', NAMESPACE]);
    expect(status.stdout).toMatch(
      /changed outside the panel and plugin since then: kubectl-patch at \S+Z; who did it is in the cluster's audit log/,
    );

    const put = await fetch(`${admin.url}/admin/api/maintenance`, {
      method: 'PUT',
      headers: { Authorization: 'Bearer e2e-admin-token', 'Content-Type': 'application/json' },
      body: JSON.stringify({ enabled: true, reason: 'through the panel again', message: 'from the API' }),
    });
    expect(put.status).toBe(200);
    expect(((await put.json()) as { changedOutside: unknown }).changedOutside).toBeNull();

    // A real kubectl edit, its editor run through KUBE_EDITOR.
    await plane.kubectl(['edit', 'configmap', 'app-config', '-n', NAMESPACE], {
      env: { KUBE_EDITOR: `sed -i -e 's/MAINTENANCE_MESSAGE: from the API/MAINTENANCE_MESSAGE: edited by hand/'` },
    });
    expect(
      (await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.data.MAINTENANCE_MESSAGE}'])).trim(),
    ).toBe('edited by hand');
    expect((await state()).changedOutside?.manager).toBe('kubectl-edit');

    // The plugin's own change is its own again.
    expect((await plugin(['off', '-n', NAMESPACE, '--reason', 'done'])).code).toBe(0);
    expect((await state()).changedOutside).toBeNull();
  });

  it('answers --help with exit 0, and an option without its value with one line and exit 2', async () => {
    const help = await plugin(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage:/);
    expect((await plugin(['on', '--help'])).code).toBe(0);
    for (const args of [
      ['on', '--reason'],
      ['off', '--reason', 'x', '-n'],
      ['schedule', '--reason', 'x', '--start'],
      ['on', '--reason', '--message'],
      ['status', '--app', 'shop,tier=x'],
      ['status', '--service', 'My Service'],
      ['status', '--configmap=--server=https://127.0.0.1:9'],
    ]) {
      const run = await plugin(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toMatch(
        /^kubectl maintenance: --?[a-z]+ (needs a value \(see --help\)|.* is not a Kubernetes name)\n$/,
      );
    }
    const unknown = await plugin(['flip']);
    expect([unknown.code, unknown.stderr]).toEqual([2, 'kubectl maintenance: unknown command: flip (see --help)\n']);
  });

  it('takes the namespace from the kubeconfig context, and -n overrides it', async () => {
    const inContext = join(plane.dir, 'context.kubeconfig');
    await writeFile(inContext, await readFile(plane.kubeconfig, 'utf8'));
    await plane.kubectl(['config', 'set-context', '--current', `--namespace=${NAMESPACE}`, `--kubeconfig=${inContext}`]);
    const fromContext = await runPlugin(binaries.kubectl, inContext, ['status']);
    expect(fromContext.stderr).toBe('');
    expect(fromContext.stdout).toMatch(new RegExp(`^maintenance: (on|off) {3}\\(configmap ${NAMESPACE}/app-config, `, 'm'));
    const elsewhere = await runPlugin(binaries.kubectl, inContext, ['status', '-n', 'default']);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain('no maintenance switch in namespace default');
    // Without a namespace in the context, kubectl's own default: "default".
    expect((await plugin(['status'])).stderr).toContain('no maintenance switch in namespace default');
  });

  it('asks which install where a namespace holds two switches, and finds one by --app', async () => {
    await plane.kubectl(['create', 'namespace', 'two-apps']);
    for (const app of ['shop', 'forum']) {
      await plane.kubectl(['create', 'configmap', `${app}-maintenance`, '-n', 'two-apps']);
      await plane.kubectl([
        'label',
        'configmap',
        `${app}-maintenance`,
        '-n',
        'two-apps',
        'maintenance-switch.dev/tier=switch',
        `maintenance-switch.dev/app=${app}`,
      ]);
    }
    const ambiguous = await plugin(['status', '-n', 'two-apps']);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toBe(
      'kubectl maintenance: namespace two-apps holds 2 installs; name one with --app:\n' +
        '  --app forum   (switch forum-maintenance)\n  --app shop   (switch shop-maintenance)\n',
    );
    const named = await plugin(['on', '-n', 'two-apps', '--app', 'forum', '--reason', 'only the forum']);
    expect(named.stderr).toBe('');
    expect(named.stdout).toContain('maintenance on in two-apps/forum-maintenance');
    const data = (name: string) => plane.kubectl(['get', 'configmap', name, '-n', 'two-apps', '-o', 'jsonpath={.data}']);
    expect(JSON.parse(await data('forum-maintenance'))).toEqual({ MAINTENANCE_MODE: 'true' });
    expect(await data('shop-maintenance')).toBe('');
    expect((await plugin(['status', '-n', 'two-apps', '--app', 'blog'])).stderr).toContain(
      'no maintenance switch for app blog in namespace two-apps',
    );
  });

  it('schedules a window with the rules and words of the admin API, and clears it', async () => {
    const refused = async (args: string[], message: string) => {
      const run = await plugin(['schedule', '-n', NAMESPACE, '--reason', 'window', ...args]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toBe(`kubectl maintenance: ${message}\n`);
    };
    const before = (
      await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.metadata.resourceVersion}'])
    ).trim();
    await refused([], 'schedule needs --start and/or --end');
    await refused(['--start', 'tomorrow'], '--start must be an RFC 3339 timestamp with a time zone, such as 2026-11-27T22:00:00Z');
    await refused(['--end', '2026-12-24T22:00:00'], '--end must be an RFC 3339 timestamp with a time zone, such as 2026-11-27T22:00:00Z');
    await refused(
      ['--start', '2026-12-24T22:00:00Z', '--end', '2026-12-24T21:00:00Z'],
      '--end must be after MAINTENANCE_START (2026-12-24T22:00:00Z)',
    );
    await refused(['--start', '2026-12-24T22:00:00Z', '--retry-after', '0'], '--retry-after must be at least 1');
    await refused(['--start', '2026-12-24T22:00:00Z', '--retry-after', '604801'], '--retry-after must be at most 604800 (7 days)');
    await refused(['--start', '2026-12-24T22:00:00Z', '--retry-after', '5m'], '--retry-after must be a whole number of seconds');
    const onWindow = await plugin(['on', '-n', NAMESPACE, '--reason', 'x', '--start', '2026-12-24T22:00:00Z']);
    expect([onWindow.code, onWindow.stderr]).toEqual([2, 'kubectl maintenance: --start and --end are for schedule; on is not a window\n']);
    // Nothing was written by any of them.
    expect(
      (await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.metadata.resourceVersion}'])).trim(),
    ).toBe(before);

    const made = await plugin([
      'schedule',
      '-n',
      NAMESPACE,
      '--reason',
      'holiday window',
      '--start',
      '2026-12-24T22:00:00Z',
      '--end',
      '2026-12-25T02:00:00+01:00',
      '--retry-after',
      '600',
    ]);
    expect(made.stderr).toBe('');
    expect(made.stdout).toContain(
      `maintenance scheduled in ${NAMESPACE}/app-config: 2026-12-24T22:00:00Z -> 2026-12-25T02:00:00+01:00, the switch off`,
    );
    const view = (await (
      await fetch(`${admin.url}/admin/api/maintenance`, { headers: { Authorization: 'Bearer e2e-admin-token' } })
    ).json()) as {
      changedOutside: unknown;
    };
    expect(view).toMatchObject({
      enabled: false,
      start: '2026-12-24T22:00:00.000Z',
      end: '2026-12-25T01:00:00.000Z',
      retryAfterSeconds: 600,
    });
    // The admin tier reads it as its own: no change outside.
    expect(view.changedOutside).toBeNull();

    const cleared = await plugin(['schedule', '-n', NAMESPACE, '--reason', 'no window', '--start', 'none', '--end', 'none']);
    expect(cleared.stderr).toBe('');
    const data = JSON.parse(await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.data}'])) as Record<
      string,
      string
    >;
    expect(data.MAINTENANCE_START).toBeUndefined();
    expect(data.MAINTENANCE_END).toBeUndefined();
    expect((await plugin(['history', '-n', NAMESPACE])).stdout).toMatch(
      / changed Retry-After 600 s, window 2026-12-24T22:00:00Z → 2026-12-25T02:00:00\+01:00: holiday window$/m,
    );
  });

  it('checks every value before contacting the cluster: one line, exit 2', async () => {
    let contacted = 0;
    const listener = createServer((socket) => {
      contacted++;
      socket.destroy();
    });
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const trap = join(plane.dir, 'trap.kubeconfig');
    await writeFile(
      trap,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'trap', cluster: { server: `https://127.0.0.1:${(listener.address() as AddressInfo).port}` } }],
        users: [{ name: 'someone', user: { token: 'not-a-token' } }],
        contexts: [{ name: 'trap', context: { cluster: 'trap', user: 'someone', namespace: NAMESPACE } }],
        'current-context': 'trap',
      }),
    );
    try {
      for (const [args, line] of [
        [
          ['schedule', '--reason', 'x', '--start', 'tomorrow'],
          '--start must be an RFC 3339 timestamp with a time zone, such as 2026-11-27T22:00:00Z',
        ],
        [['on', '--reason', 'x', '--retry-after', '0'], '--retry-after must be at least 1'],
        [['on', '--reason', 'x', '--message', 'x'.repeat(2001)], '--message must be at most 2000 characters'],
        [['off', '--reason', 'x', '--wait', '--timeout', 'soon'], '--timeout must be a number with s, m, h or d, such as 2m, not "soon"'],
        [['bypass-link', '--reason', 'x', '--for', '8w'], '--for must be a number with s, m, h or d, such as 8h, not "8w"'],
      ] as const) {
        const run = await runPlugin(binaries.kubectl, trap, [...args]);
        expect([run.code, run.stderr, run.stdout], args.join(' ')).toEqual([2, `kubectl maintenance: ${line}\n`, '']);
      }
      expect(contacted).toBe(0);
    } finally {
      listener.close();
    }
  });

  it('runs with no Node.js anywhere on PATH: the executable carries its own', async () => {
    const bare = async (args: string[]) => {
      const child = spawn(join(PLUGIN_DIR, 'kubectl-maintenance'), args, { env: { PATH: '/nonexistent', KUBECONFIG: plane.kubeconfig } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
      const [code] = (await once(child, 'close')) as [number];
      return { code, stdout, stderr };
    };
    const help = await bare(['--help']);
    expect([help.code, help.stderr]).toEqual([0, '']);
    expect(help.stdout).toMatch(/^Usage:/);
    expect(await bare(['schedule', '--reason', 'x', '--start', 'tomorrow'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'kubectl maintenance: --start must be an RFC 3339 timestamp with a time zone, such as 2026-11-27T22:00:00Z\n',
    });
    const status = await bare(['status', '-n', NAMESPACE]);
    expect([status.code, status.stderr]).toEqual([0, '']);
    expect(status.stdout).toMatch(/^maintenance: (on|off) /);
  });

  it('plans the next window during a maintenance without ending it; off ends a window that holds maintenance', async () => {
    const data = async () =>
      JSON.parse((await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.data}'])) || '{}') as Record<
        string,
        string
      >;
    expect((await plugin(['on', '-n', NAMESPACE, '--reason', 'migration'])).code).toBe(0);
    const planned = await plugin([
      'schedule',
      '-n',
      NAMESPACE,
      '--reason',
      'next one',
      '--start',
      '2031-01-01T22:00:00Z',
      '--end',
      '2031-01-01T23:00:00Z',
    ]);
    expect(planned.stderr).toBe('');
    expect(planned.stdout).toContain('2031-01-01T22:00:00Z -> 2031-01-01T23:00:00Z, the switch on');
    expect(await data()).toMatchObject({ MAINTENANCE_MODE: 'true', MAINTENANCE_START: '2031-01-01T22:00:00Z' });

    const start = new Date(Date.now() - 3600_000).toISOString();
    const end = new Date(Date.now() + 3600_000).toISOString();
    expect((await plugin(['off', '-n', NAMESPACE, '--reason', 'migration done'])).code).toBe(0);
    expect((await plugin(['schedule', '-n', NAMESPACE, '--reason', 'now', '--start', start, '--end', end])).code).toBe(0);
    expect((await plugin(['status', '-n', NAMESPACE])).stdout).toMatch(/^maintenance: on /);
    const off = await plugin(['off', '-n', NAMESPACE, '--reason', 'done early']);
    expect(off.stderr).toBe('');
    expect(off.stdout).toContain('the window that held maintenance on is cleared');
    expect(off.stdout).toContain('users: the application now');
    const after = await data();
    expect([after.MAINTENANCE_MODE, after.MAINTENANCE_START, after.MAINTENANCE_END]).toEqual(['false', undefined, undefined]);
  });

  it('names only the real problem of a rejected stored config, and repairs it', async () => {
    await plane.kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_END: 'next tuesday' }));
    const on = await plugin(['on', '-n', NAMESPACE, '--reason', 'x']);
    expect(on.code).toBe(2);
    expect(on.stderr).toBe(
      'kubectl maintenance: nothing written: the stored MAINTENANCE_END must be an RFC 3339 timestamp with a time zone, such as 2026-11-27T22:00:00Z: fix it, or drop it with the command repair\n',
    );
    expect((await plugin(['status', '-n', NAMESPACE])).stdout).toMatch(/^rejected: {4}MAINTENANCE_END: must be an RFC 3339/m);
    const repaired = await plugin(['repair', '-n', NAMESPACE, '--reason', 'drop the typo']);
    expect(repaired.stderr).toBe('');
    expect(repaired.stdout).toMatch(
      /^repaired sample-app\/app-config: dropped MAINTENANCE_END \(resourceVersion \d+\), by envtest-admin: drop the typo$/m,
    );
    expect(await plane.kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'jsonpath={.data.MAINTENANCE_END}'])).toBe('');
  });
});
