import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPlugin } from '../../scripts/lib/control-plane.ts';
import { copyRecipe, removeRecipes } from '../../scripts/lib/recipe.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  ROOT,
  clusterIp,
  endpoints,
  get,
  getJson,
  isReady,
  kubeconfig,
  kubectl,
  kubectlBinary,
  podsMatching,
  since,
  skipReason,
  type Pod,
} from './node.ts';

// The recipe of the README, applied three times as three platform teams would: app A (the
// stand-in nginx) and app C (another nginx app, with its own switch) in `shop`, app B (Debian's
// BusyBox httpd, under the same app name `shop`) in `blog`, through an outer kustomization that sets `namespace: blog` around a
// recipe written for another namespace (how staging and production come from one base). The
// cluster part is applied once, before them all. Each is toggled on its own while the others
// are watched for any change. No assertion is about time; the times are printed.
const WAIT = { timeoutMs: 300_000, intervalMs: 250 };
const STAND_IN = readFileSync(join(ROOT, 'examples/your-app/app.yaml'), 'utf8');

interface Install {
  label: string;
  namespace: string;
  app: string;
  /** The user's public Deployment and its Service, both of this name, their pods labelled app=<name>. */
  name: string;
  /** Every pod that the switch covers. */
  selector: string;
  pods: number;
  greeting: string;
  appYaml?: string;
  /** The namespace its recipe names, when an outer kustomization moves it to `namespace`. */
  recipeNamespace?: string;
}

const INSTALLS: Install[] = [
  { label: 'A', namespace: 'shop', app: 'shop', name: 'web', selector: 'app=web', pods: 2, greeting: 'Hello from nginx' },
  {
    label: 'B',
    namespace: 'blog',
    // The same app name as A, in another namespace: nothing of the two may meet.
    app: 'shop',
    name: 'blog',
    selector: 'app=blog',
    pods: 2,
    greeting: 'Hello from BusyBox httpd',
    recipeNamespace: 'blog-base',
    appYaml: STAND_IN.replaceAll('web', 'blog').replaceAll('example-nginx:dev', 'example-busybox:dev').replaceAll('10002', '10003'),
  },
  // One switch for two Deployments: the forum's frontend (public) and its API (gated only).
  {
    label: 'C',
    namespace: 'shop',
    app: 'forum',
    name: 'forum',
    selector: 'app in (forum,forum-api)',
    pods: 4,
    greeting: 'Hello from nginx',
    appYaml: `${STAND_IN.replaceAll('web', 'forum')}---\n${STAND_IN.replaceAll('web', 'forum-api').replace('        maintenance-switch.dev/public: "true"   # maintenance-switch: users reach these pods\n', '')}`,
  },
];
const dirs = new Map<Install, string>();
const contexts = new Map<string, string>();

/** The plugin as kubectl finds it on PATH, with a kubeconfig whose context is in `namespace`. */
const plugin = (namespace: string, args: string[]) => runPlugin(kubectlBinary(), contexts.get(namespace)!, args);

const appPods = (install: Install) => podsMatching(install.selector, install.namespace);

/** Everything that shows whether an install was touched: its switch, its Events, its pods' readiness. */
async function footprint(install: Install) {
  const switchMap = await getJson<{ metadata: { resourceVersion: string } }>([
    'get',
    'configmap',
    `${install.app}-maintenance`,
    '-n',
    install.namespace,
  ]);
  const events = await getJson<{ items: { regarding: { name: string } }[] }>(['get', 'events.events.k8s.io', '-n', install.namespace]);
  const pods = await appPods(install);
  return {
    switchVersion: switchMap.metadata.resourceVersion,
    events: events.items.filter((event) => event.regarding.name === `${install.app}-maintenance`).length,
    pods: pods.map((pod) => `${pod.metadata.name} ${isReady(pod) ? 'ready' : 'not ready'}`).sort(),
  };
}

async function publicAnswer(install: Install, status: number, text: string) {
  const address = `http://${await clusterIp(`${install.app}-maintenance-public`, install.namespace)}:8080/`;
  return waitFor(
    `${install.label}: the public Service to answer ${status} with "${text}"`,
    async () => {
      const answer = await get(address, { Accept: 'text/html' }).catch(() => null);
      return answer?.status === status && answer.body.includes(text) ? answer : undefined;
    },
    WAIT,
  );
}

/** A token of an operator who may read and patch this install's switch: what a person signs in with. */
async function operatorToken(install: Install): Promise<string> {
  const name = `${install.app}-operator`;
  const ns = ['-n', install.namespace];
  await kubectl(['create', 'serviceaccount', name, ...ns]);
  await kubectl(['create', 'role', name, ...ns, '--verb=get,patch', '--resource=configmaps', `--resource-name=${install.app}-maintenance`]);
  await kubectl(['create', 'rolebinding', name, ...ns, `--role=${name}`, `--serviceaccount=${install.namespace}:${name}`]);
  return (await kubectl(['create', 'token', name, ...ns])).trim();
}

async function adminApi(install: Install, token: string) {
  const admin = `http://${await clusterIp(`${install.app}-maintenance-admin`, install.namespace)}:8080`;
  const response = await fetch(`${admin}/admin/api/maintenance`, { headers: { Authorization: `Bearer ${token}` } });
  return (await response.json()) as { enabled: boolean; fleet: { converged: boolean; serving: number; notServing: number } };
}

/** During maintenance: a bypass link through the preview Service shows the app; a forged cookie, the 503 page. */
async function bypassLinks(install: Install, select: string[]) {
  const made = await plugin(install.namespace, ['bypass-link', ...select, '--reason', 'cluster test of a bypass link', '--for', '1h']);
  expect(made.stderr).toBe('');
  const path = made.stdout.trim().split('\n').at(-1)!;
  const preview = `http://${await clusterIp(`${install.app}-maintenance-preview`, install.namespace)}:8080`;
  const visit = await get(`${preview}${path}`);
  expect(visit.status).toBe(302);
  const cookie = String(visit.headers['set-cookie']).split(';')[0]!;
  expect(cookie).toMatch(/^maintenance_bypass=b1\./);
  const through = await get(`${preview}/`, { Cookie: cookie });
  expect(through.status).toBe(200);
  expect(through.body).toContain(install.greeting);
  const forged = await get(`${preview}/`, { Cookie: `maintenance_bypass=${cookie.split('=')[1]!.slice(0, -2)}AA`, Accept: 'text/html' });
  expect(forged.status).toBe(503);
  expect(forged.body).toContain(`${install.app} is resting`);
}

describe.skipIf(skipReason !== null)('your app, your namespace: three installs side by side, on a real node', () => {
  const tokens = new Map<Install, string>();
  let home = '';

  beforeAll(async () => {
    for (const archive of ['example-nginx', 'example-busybox'])
      if (!(process.env.IMAGE_ARCHIVES ?? '').includes(archive)) throw new Error(`IMAGE_ARCHIVES lacks ${archive} (npm run image:example)`);
    home = mkdtempSync(join(tmpdir(), 'side-by-side-'));
    for (const namespace of ['shop', 'blog']) {
      await kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true', '--timeout=300s']);
      const file = join(home, `kubeconfig-${namespace}`);
      copyFileSync(kubeconfig(), file);
      await kubectl(['config', 'set-context', '--current', `--namespace=${namespace}`, `--kubeconfig=${file}`]);
      contexts.set(namespace, file);
    }
  });
  afterAll(async () => {
    if (skipReason !== null) return;
    for (const namespace of ['shop', 'blog'])
      await kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true', '--timeout=300s']);
    removeRecipes('side-by-side-');
    rmSync(home, { recursive: true, force: true });
  });

  it('kubectl apply -k of the recipe, its inputs changed and nothing else: every app and install becomes Ready', async () => {
    await kubectl(['create', 'namespace', 'shop']);
    await kubectl(['create', 'namespace', 'blog']);
    for (const install of INSTALLS) {
      const recipe = copyRecipe(`side-by-side-${install.label}`, {
        namespace: install.recipeNamespace ?? install.namespace,
        app: install.app,
        service: install.name,
        image: { newName: 'maintenance-switch', newTag: 'dev' },
        ...(install.appYaml ? { appYaml: install.appYaml } : {}),
      });
      const dir = install.recipeNamespace === undefined ? recipe : `${recipe}-outer`;
      if (dir !== recipe) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'kustomization.yaml'), `namespace: ${install.namespace}\nresources:\n  - ../${basename(recipe)}\n`);
      }
      dirs.set(install, dir);
      await kubectl([
        'create',
        'secret',
        'generic',
        `${install.app}-maintenance-bypass-key`,
        '-n',
        install.namespace,
        `--from-literal=key=${install.app}-a-cluster-test-key-of-32-bytes-or-more`,
      ]);
      await kubectl(['apply', '-k', dir]);
    }
    for (const install of INSTALLS) {
      await kubectl([
        'rollout',
        'status',
        'deployment',
        '-l',
        'maintenance-switch.dev/gate=true',
        '-n',
        install.namespace,
        '--timeout=300s',
      ]);
      await kubectl(['rollout', 'status', `deployment/${install.app}-maintenance-admin`, '-n', install.namespace, '--timeout=300s']);
      const pods = await appPods(install);
      expect(pods, install.label).toHaveLength(install.pods);
      expect(pods.every(isReady), install.label).toBe(true);
      await publicAnswer(install, 200, install.greeting);
    }
  });

  it("signs in to each panel with the caller's own token, in shop and in blog", async () => {
    for (const install of INSTALLS) {
      const token = await operatorToken(install);
      tokens.set(install, token);
      const admin = `http://${await clusterIp(`${install.app}-maintenance-admin`, install.namespace)}:8080`;
      const response = await fetch(`${admin}/admin/session`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Origin: admin },
        body: JSON.stringify({ token }),
      });
      const body = (await response.json()) as { user?: string; message?: string };
      expect(response.status, `${install.label}: ${body.message}`).toBe(200);
      expect(body.user).toBe(`system:serviceaccount:${install.namespace}:${install.app}-operator`);
      expect(response.headers.get('set-cookie')).toMatch(/^maintenance_session=/);
    }
  });

  it('the plugin takes the namespace from the context, and asks which install where a namespace holds two', async () => {
    const blog = await plugin('blog', ['status']);
    expect(blog.stderr).toBe('');
    expect(blog.stdout).toMatch(/^maintenance: off {3}\(configmap blog\/shop-maintenance, /m);
    const shop = await plugin('shop', ['status']);
    expect(shop.code).toBe(2);
    expect(shop.stderr).toContain('namespace shop holds 2 installs; name one with --app:');
    expect(shop.stderr).toContain('--app forum');
    expect(shop.stderr).toContain('--app shop');
    const named = await plugin('shop', ['status', '--app', 'forum']);
    expect(named.stdout).toMatch(/^maintenance: off {3}\(configmap shop\/forum-maintenance, /m);
    expect(named.stdout).toMatch(/^fleet: {7}2 of 2 endpoints of forum serving/m);
    // -n overrides the context.
    const other = await plugin('blog', ['status', '-n', 'shop', '--app', 'shop']);
    expect(other.stdout).toMatch(/^maintenance: off {3}\(configmap shop\/shop-maintenance, /m);
  });

  it.each(INSTALLS.map((install) => [install.label, install] as const))(
    'app %s: on, kubectl edit, off, through the plugin; the other installs are untouched',
    async (_label, install) => {
      const others = INSTALLS.filter((candidate) => candidate !== install);
      const before = await Promise.all(others.map(footprint));
      const select = install.namespace === 'shop' ? ['--app', install.app] : [];

      const start = Date.now();
      const on = await plugin(install.namespace, [
        'on',
        ...select,
        '--reason',
        `side by side ${install.label}`,
        '--message',
        `${install.app} is resting`,
      ]);
      expect(on.stderr).toBe('');
      expect(on.stdout).toContain(`maintenance on in ${install.namespace}/${install.app}-maintenance`);
      await waitFor(
        `${install.label}: every pod out of ${install.name}`,
        async () => {
          const [pods, slice] = await Promise.all([appPods(install), endpoints(install.name, install.namespace)]);
          return pods.length === install.pods && pods.every((pod) => !isReady(pod) && slice.get(pod.status.podIP ?? '') !== true)
            ? true
            : undefined;
        },
        WAIT,
      );
      console.log(`[side by side] ${install.label} on: pods out after ${since(start)}`);
      await publicAnswer(install, 503, `${install.app} is resting`);
      const view = await waitFor(
        `${install.label}: the panel to show the fleet converged`,
        async () => {
          const state = await adminApi(install, tokens.get(install)!);
          return state.enabled && state.fleet.converged ? state : undefined;
        },
        WAIT,
      );
      expect(view.fleet).toMatchObject({ serving: 0, notServing: 2 });
      await bypassLinks(install, select);

      await kubectl(['edit', 'configmap', `${install.app}-maintenance`, '-n', install.namespace], {
        env: { KUBE_EDITOR: `sed -i -e 's/MAINTENANCE_MESSAGE: ${install.app} is resting/MAINTENANCE_MESSAGE: edited by hand/'` },
      });
      await publicAnswer(install, 503, 'edited by hand');

      const offStart = Date.now();
      const off = await plugin(install.namespace, ['off', ...select, '--reason', `side by side ${install.label} done`]);
      expect(off.stderr).toBe('');
      await publicAnswer(install, 200, install.greeting);
      await waitFor(
        `${install.label}: every pod back`,
        async () => {
          const pods = await appPods(install);
          return pods.length === install.pods && pods.every(isReady) ? true : undefined;
        },
        WAIT,
      );
      console.log(`[side by side] ${install.label} off: pods back after ${since(offStart)}`);

      expect(await Promise.all(others.map(footprint))).toEqual(before);
    },
  );

  it('kubectl delete -k of one install removes exactly that install', async () => {
    const inventory = async () => {
      const names = async (args: string[]) =>
        (await kubectl([...args, '-o', 'name'])).split('\n').filter((line) => line !== '' && !line.includes('kube-root-ca'));
      const namespaced = 'deployments,services,configmaps,serviceaccounts,roles,rolebindings,networkpolicies,poddisruptionbudgets,secrets';
      return {
        shop: await names(['get', namespaced, '-n', 'shop']),
        blog: await names(['get', namespaced, '-n', 'blog']),
        cluster: await names([
          'get',
          'clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings',
          '-l',
          'app.kubernetes.io/name=maintenance-switch',
        ]),
      };
    };
    const forum = INSTALLS.find((install) => install.label === 'C')!;
    const before = await inventory();
    const rendered = (await kubectl(['kustomize', dirs.get(forum)!])).match(/^kind: .*$/gm)!.length;
    await kubectl(['delete', '-k', dirs.get(forum)!, '--wait=true', '--timeout=300s']);
    const after = await inventory();

    expect(after.blog).toEqual(before.blog);
    const removed = before.shop.filter((name) => !after.shop.includes(name));
    expect(after.shop.filter((name) => !before.shop.includes(name))).toEqual([]);
    expect(
      removed.every((name) => /\/forum(-api|-maintenance(-admin|-page|-public|-preview|-pods|-nudge|-hold|-history)?)?$/.test(name)),
      removed.join(', '),
    ).toBe(true);
    // The install holds nothing cluster-scoped; the cluster part serves the others and stays whole.
    expect(after.cluster).toEqual(before.cluster);
    expect(after.cluster.sort()).toEqual([
      'validatingadmissionpolicy.admissionregistration.k8s.io/maintenance-switch-hold',
      'validatingadmissionpolicy.admissionregistration.k8s.io/maintenance-switch-nudge',
      'validatingadmissionpolicy.admissionregistration.k8s.io/maintenance-switch-serving',
      'validatingadmissionpolicybinding.admissionregistration.k8s.io/maintenance-switch-hold',
      'validatingadmissionpolicybinding.admissionregistration.k8s.io/maintenance-switch-nudge',
      'validatingadmissionpolicybinding.admissionregistration.k8s.io/maintenance-switch-serving',
    ]);
    // Every object of the install is gone (the bypass key Secret is the user's own, and stays).
    expect(removed.length).toBe(rendered);
    expect(after.shop).toContain('secret/forum-maintenance-bypass-key');
    // The namespace, app A and its install stay, and keep serving.
    expect((await kubectl(['get', 'namespace', 'shop', '-o', 'name'])).trim()).toBe('namespace/shop');
    await publicAnswer(INSTALLS[0]!, 200, INSTALLS[0]!.greeting);
    const shopPods = (await appPods(INSTALLS[0]!)) as Pod[];
    expect(shopPods.every(isReady)).toBe(true);
  });
});
