import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyRecipe, removeRecipes } from '../../scripts/lib/recipe.ts';
import { ROOT, applyBase, installKedaCrd, kubectl, skipReason } from './cluster.ts';
import { parseConfig } from '../../src/config/parse.ts';
import { loadEnv } from '../../src/env.ts';

/** What a user applies as it is: rendered, it must match test/golden/<name>.yaml byte for byte. */
const GOLDEN = { 'your-app': 'examples/your-app', demo: 'demo/base', cluster: 'kustomize/cluster' } as const;

/** The demo and every overlay of it. */
const OVERLAYS = {
  demo: 'demo/base',
  local: 'demo/local',
  'local-api-watch': 'demo/local-api-watch',
  'local-gateway-api': 'demo/local-gateway-api',
  minikube: 'demo/minikube',
  production: 'demo/production',
} as const;

/** The recipe, as four users would copy it: two namespaces, two app names. */
const INSTALLS = [
  { namespace: 'shop', app: 'shop' },
  { namespace: 'shop', app: 'shop-api' },
  { namespace: 'blog', app: 'shop' },
  { namespace: 'blog', app: 'blog' },
] as const;

/** A Deployment of the user's that merely uses Kubernetes' recommended labels: never ours to patch. */
const FOREIGN_DEPLOYMENT = `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: their-admin
  labels:
    app.kubernetes.io/name: their-admin
    app.kubernetes.io/component: admin
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: their-admin}
  template:
    metadata:
      labels: {app.kubernetes.io/name: their-admin, app.kubernetes.io/component: admin}
    spec:
      containers:
        - name: admin
          image: their-admin:1
          ports: [{name: http, containerPort: 8080}]
`;

interface K8sObject {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  subjects?: { kind: string; name: string; namespace?: string }[];
  rules?: { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[];
  data?: Record<string, string>;
}

const CLUSTER_SCOPED = ['Namespace', 'ClusterRoleBinding', 'ClusterRole', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'];

/** This project's containers in a pod: its own tiers (`app`) and the gate sidecar. */
const ownContainers = (pod: any): any[] => [
  ...pod.containers.filter((container: any) => container.name === 'app'),
  ...(pod.initContainers ?? []).filter((container: any) => container.name === 'maintenance-gate'),
];

async function render(dir: string): Promise<K8sObject[]> {
  // kubectl turns the kustomize output into JSON for us, without a YAML parser here;
  // `create --dry-run=client` converts only, it does not merge in what the cluster holds.
  const yaml = await kubectl(['kustomize', dir]);
  const json = await kubectl(['create', '--dry-run=client', '-o', 'json', '-f', '-'], { input: yaml });
  return json.split(/\n(?=\{)/).map((document) => JSON.parse(document) as K8sObject);
}

const installId = (install: { namespace: string; app: string }) => `${install.namespace}-${install.app}`;

/** The app container's environment as the kubelet gives it: values, and the pod's own labels and names through the downward API. */
function resolvedEnv(deployment: K8sObject): Record<string, string> {
  const pod = { metadata: { ...deployment.spec.template.metadata, name: 'pod-0', namespace: deployment.metadata.namespace } };
  const container = deployment.spec.template.spec.containers.find((entry: any) => entry.name === 'app');
  return Object.fromEntries(
    container.env.map((entry: any) => {
      if (entry.value !== undefined) return [entry.name, entry.value];
      const path: string = entry.valueFrom.fieldRef.fieldPath;
      const label = /^metadata\.labels\['(.+)'\]$/.exec(path);
      const value = label
        ? pod.metadata.labels?.[label[1]!]
        : path === 'metadata.name'
          ? pod.metadata.name
          : path === 'metadata.namespace'
            ? pod.metadata.namespace
            : undefined;
      if (value === undefined) throw new Error(`${deployment.metadata.name}: ${entry.name} from ${path}, which the pod does not have`);
      return [entry.name, value];
    }),
  );
}

const find = (objects: K8sObject[], kind: string, name: string) => {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name} among ${objects.map((object) => `${object.kind}/${object.metadata.name}`).join(', ')}`);
  return found;
};

describe.skipIf(skipReason !== null)('the manifests', () => {
  const rendered: Record<string, K8sObject[]> = {};
  const recipes: Record<string, string> = {};
  const userFiles = readFileSync(join(ROOT, 'examples/your-app/app.yaml'), 'utf8');

  beforeAll(async () => {
    await applyBase();
    for (const namespace of ['shop', 'blog'])
      await kubectl(['create', 'namespace', namespace, '--dry-run=client', '-o', 'yaml']).then((yaml) =>
        kubectl(['apply', '-f', '-'], { input: yaml }),
      );
    for (const [name, target] of Object.entries(OVERLAYS)) rendered[name] = await render(join(ROOT, target));
    for (const install of INSTALLS) {
      const id = installId(install);
      recipes[id] = copyRecipe(`manifests-${id}`, { ...install, appYaml: userFiles + FOREIGN_DEPLOYMENT });
      rendered[id] = await render(recipes[id]);
    }
  });
  afterAll(() => removeRecipes('manifests-'));

  it.each([
    ...Object.entries(OVERLAYS).map(([name, target]) => [name, join(ROOT, target)]),
    ['the recipe', join(ROOT, 'examples/your-app')],
  ])('%s is accepted by kubectl apply --dry-run=server', async (_name, dir) => {
    const output = await kubectl(['apply', '--dry-run=server', '-k', dir!]);
    expect(output).toMatch(/deployment\.apps\/[a-z-]+-maintenance-admin .*\(server dry run\)/);
    expect(output).toMatch(/deployment\.apps\/[a-z-]+-maintenance-page .*\(server dry run\)/);
  });

  it('names every object of an install after its app, in its namespace, and nothing after the demo', () => {
    for (const install of INSTALLS) {
      const objects = rendered[installId(install)]!;
      for (const object of objects) {
        const where = `${installId(install)}: ${object.kind}/${object.metadata.name}`;
        expect(JSON.stringify(object), `${where} mentions the demo`).not.toMatch(/sample-app|app-config/);
        if (!CLUSTER_SCOPED.includes(object.kind)) expect(object.metadata.namespace, where).toBe(install.namespace);
        if (object.metadata.labels?.['app.kubernetes.io/name'] !== 'maintenance-switch') continue;
        expect(object.metadata.name.startsWith(`${install.app}-maintenance`), where).toBe(true);
        expect(object.metadata.labels?.['maintenance-switch.dev/app'], where).toBe(install.app);
      }
      expect(find(objects, 'ConfigMap', `${install.app}-maintenance`).metadata.labels).toMatchObject({
        'maintenance-switch.dev/tier': 'switch',
      });
    }
    for (const name of Object.keys(OVERLAYS))
      for (const object of rendered[name]!)
        if (!CLUSTER_SCOPED.includes(object.kind))
          expect(object.metadata.namespace, `${name}: ${object.kind}/${object.metadata.name}`).toBe('sample-app');
    // Only the demo keeps its own names.
    expect(find(rendered.demo!, 'ConfigMap', 'app-config').metadata.labels?.['maintenance-switch.dev/app']).toBe('sample-app');
  });

  it('moves whole under an outer overlay that sets another namespace: names, subjects and selectors', async () => {
    const inner = recipes[installId(INSTALLS[0])]!;
    const outer = join(ROOT, '.recipes', 'manifests-outer-staging');
    mkdirSync(outer, { recursive: true });
    writeFileSync(join(outer, 'kustomization.yaml'), `namespace: shop-staging\nresources:\n  - ../${basename(inner)}\n`);
    const staging = await render(outer);
    const production = rendered[installId(INSTALLS[0])]!;
    const names = (objects: K8sObject[]) => objects.map((object) => `${object.kind}/${object.metadata.name}`).sort();
    expect(names(staging)).toEqual(names(production));
    for (const object of staging) {
      const where = `${object.kind}/${object.metadata.name}`;
      expect(CLUSTER_SCOPED.includes(object.kind), where).toBe(false);
      expect(object.metadata.namespace, where).toBe('shop-staging');
      for (const subject of object.subjects ?? []) expect(subject.namespace ?? 'shop-staging', where).toBe('shop-staging');
    }
    expect(JSON.stringify(staging)).not.toMatch(/"namespace":"shop"/);
    // Selectors name the app, never a namespace: the same as in production.
    const selectors = (objects: K8sObject[]) =>
      objects.filter((object) => object.kind === 'Service' || object.kind === 'NetworkPolicy').map((object) => JSON.stringify(object.spec));
    expect(selectors(staging)).toEqual(selectors(production));
  });

  it('binds every ServiceAccount in the binding’s own namespace, and renders no cluster-scoped object in an install', () => {
    const clusterNames = new Map<string, string>();
    for (const [name, objects] of Object.entries(rendered)) {
      if (name in OVERLAYS && name !== 'demo') continue; // the overlays render the demo's install again
      const namespace = objects.find((object) => object.kind === 'Deployment')!.metadata.namespace;
      for (const binding of objects.filter((object) => object.kind.endsWith('RoleBinding'))) {
        for (const subject of binding.subjects ?? []) {
          const where = `${name}: ${binding.kind}/${binding.metadata.name}`;
          if (binding.kind === 'ClusterRoleBinding') expect(subject.namespace, where).toBe(namespace);
          else expect(subject.namespace ?? namespace, where).toBe(namespace);
        }
      }
      for (const object of objects.filter((candidate) => CLUSTER_SCOPED.includes(candidate.kind) && candidate.kind !== 'Namespace')) {
        const key = `${object.kind}/${object.metadata.name}`;
        expect(clusterNames.get(key), `${key} in ${name} and ${clusterNames.get(key)}`).toBeUndefined();
        clusterNames.set(key, name);
      }
    }
    // Sign-in and the nudge need nothing cluster-scoped of an install: the cluster part serves them all.
    expect([...clusterNames.keys()]).toEqual([]);
  });

  it("touches the user's objects only with the gate and its label, and never a Deployment it was not asked to", async () => {
    const given = await kubectl(['create', '--dry-run=client', '-o', 'json', '-f', '-'], { input: userFiles + FOREIGN_DEPLOYMENT });
    const originals = given.split(/\n(?=\{)/).map((document) => JSON.parse(document) as K8sObject);
    for (const install of INSTALLS) {
      const objects = rendered[installId(install)]!;
      for (const original of originals) {
        const out = find(objects, original.kind, original.metadata.name);
        const where = `${installId(install)}: ${original.kind}/${original.metadata.name}`;
        if (original.kind === 'Service' || original.metadata.name === 'their-admin') {
          const withoutNamespace = (object: K8sObject) => ({ ...object, metadata: { ...object.metadata, namespace: undefined } });
          expect(withoutNamespace(out), where).toEqual(withoutNamespace(original));
          continue;
        }
        // The gated Deployment: the same selector and containers, probes and all; the gate and the label added.
        expect(out.spec.selector, where).toEqual(original.spec.selector);
        expect(out.spec.template.spec.containers, where).toEqual(original.spec.template.spec.containers);
        expect(out.spec.template.metadata.labels, where).toEqual({
          ...original.spec.template.metadata.labels,
          'maintenance-switch.dev/app': install.app,
        });
        expect(
          out.spec.template.spec.initContainers.map((container: any) => container.name),
          where,
        ).toEqual(['maintenance-gate']);
        const volumes = out.spec.template.spec.volumes.map(
          (volume: any) => volume.configMap?.name ?? volume.secret?.secretName ?? volume.name,
        );
        expect(volumes.sort(), where).toEqual([`${install.app}-maintenance`, `${install.app}-maintenance-bypass-key`, 'tmp'].sort());
      }
    }
  });

  it('lets the admin patch pods only with components/nudge, and holds the policy that confines it in the cluster part alone', async () => {
    const podRules = (objects: K8sObject[]) =>
      objects
        .filter((object) => object.kind === 'Role')
        .flatMap((role) => (role as unknown as { rules: { resources: string[]; verbs: string[] }[] }).rules)
        .filter((rule) => rule.resources.includes('pods'));
    const withNudge = rendered[installId(INSTALLS[0])]!;
    expect(podRules(withNudge)).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['patch'] }]);
    // The policy is the cluster part's, one for every install: never in an install.
    expect(withNudge.filter((object) => object.kind.startsWith('ValidatingAdmissionPolicy'))).toEqual([]);
    const cluster = await render(join(ROOT, 'kustomize/cluster'));
    expect(cluster.map((object) => `${object.kind}/${object.metadata.name}`).sort()).toEqual([
      'ValidatingAdmissionPolicy/maintenance-switch-hold',
      'ValidatingAdmissionPolicy/maintenance-switch-nudge',
      'ValidatingAdmissionPolicy/maintenance-switch-serving',
      'ValidatingAdmissionPolicyBinding/maintenance-switch-hold',
      'ValidatingAdmissionPolicyBinding/maintenance-switch-nudge',
      'ValidatingAdmissionPolicyBinding/maintenance-switch-serving',
    ]);
    const dir = copyRecipe('manifests-no-nudge', INSTALLS[0]);
    const file = join(dir, 'kustomization.yaml');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace(/^ {2}- \.\.\/\.\.\/kustomize\/components\/nudge\n/m, ''));
    expect(readFileSync(file, 'utf8')).not.toBe(text);
    const without = await render(dir);
    expect(podRules(without)).toEqual([]);
    expect(without.some((object) => object.kind.startsWith('ValidatingAdmissionPolicy'))).toBe(false);
    expect(without.some((object) => object.kind === 'Deployment' && object.metadata.name === 'shop-maintenance-admin')).toBe(true);
  });

  it('renders the recipe, the demo and the cluster part exactly as their golden files (npm run golden writes them again)', async () => {
    for (const [name, dir] of Object.entries(GOLDEN)) {
      const yaml = await kubectl(['kustomize', join(ROOT, dir)]);
      const file = join(ROOT, 'test/golden', `${name}.yaml`);
      if (process.env.UPDATE_GOLDEN && !process.env.CI) writeFileSync(file, yaml);
      // A change to the install shows here as the YAML it changes.
      expect(yaml, `${dir} renders as test/golden/${name}.yaml`).toBe(readFileSync(file, 'utf8'));
    }
  });

  it('ships your own 503 page from a file into the switch, with components/custom-page uncommented', async () => {
    const dir = copyRecipe('manifests-page', INSTALLS[0]);
    const file = join(dir, 'kustomization.yaml');
    const text = readFileSync(file, 'utf8');
    const enabled = text
      .replace(/^ {2}# (- name: maintenance-switch-page\n) {2}# ( {2}options: .*\n) {2}# ( {2}files: .*\n)/m, '  $1  $2  $3')
      .replace(/^ {2}# (- \.\.\/\.\.\/kustomize\/components\/custom-page).*$/m, '  $1');
    expect(enabled).not.toBe(text);
    writeFileSync(file, enabled);
    const objects = await render(dir);
    const switchMap = find(objects, 'ConfigMap', `${INSTALLS[0].app}-maintenance`);
    expect(switchMap.data?.MAINTENANCE_PAGE_HTML).toBe(readFileSync(join(ROOT, 'examples/your-app/maintenance.html'), 'utf8'));
    expect(parseConfig(switchMap.data ?? {}).ok).toBe(true);
    // The file's own ConfigMap is local: never applied.
    expect(objects.filter((object) => object.metadata.name === 'maintenance-switch-page')).toEqual([]);
  });

  it('gives every container of ours ephemeral storage, and the page tier a PodDisruptionBudget and a NetworkPolicy', () => {
    for (const [name, objects] of Object.entries(rendered)) {
      for (const deployment of objects.filter((object) => object.kind === 'Deployment'))
        for (const container of ownContainers(deployment.spec.template.spec))
          expect(container.resources, `${name}: ${deployment.metadata.name}/${container.name}`).toMatchObject({
            requests: { 'ephemeral-storage': '32Mi' },
            limits: { 'ephemeral-storage': '128Mi' },
          });
      for (const page of objects.filter(
        (object) => object.kind === 'Deployment' && object.metadata.labels?.['maintenance-switch.dev/tier'] === 'page',
      )) {
        const selects = (object: K8sObject) => {
          const selector = object.spec.selector?.matchLabels ?? object.spec.podSelector?.matchLabels ?? {};
          return Object.entries(selector).every(([key, value]) => page.spec.template.metadata.labels[key] === value);
        };
        const budget = objects.filter((object) => object.kind === 'PodDisruptionBudget' && selects(object));
        expect(
          budget.map((object) => object.spec.minAvailable),
          `${name}: ${page.metadata.name}`,
        ).toEqual([1]);
        const policy = objects.filter(
          (object) =>
            object.kind === 'NetworkPolicy' && object.metadata.labels?.['maintenance-switch.dev/tier'] === 'page' && selects(object),
        );
        expect(policy, `${name}: ${page.metadata.name}`).toHaveLength(1);
        expect(policy[0]!.spec.ingress[1].from[0].podSelector.matchLabels['maintenance-switch.dev/app']).toBe(
          page.metadata.labels?.['maintenance-switch.dev/app'],
        );
      }
    }
  });

  it('passes kube-score with no critical for our own objects but the two docs/deploy.md explains (no CPU limit, the pull policy)', async () => {
    const kubeScore = process.env.KUBE_SCORE;
    if (!kubeScore) throw new Error('KUBE_SCORE is not set: `source scripts/lib/parts.sh && parts_kube_score` installs it');
    const explained = [/^\(\S+\) CPU limit is not set$/, /^\(\S+\) ImagePullPolicy is not set to Always$/];
    for (const dir of ['examples/your-app', 'demo/production']) {
      const yaml = await kubectl(['kustomize', join(ROOT, dir)]);
      // kube-score exits 1 when it finds a critical: its report is what matters.
      const report = await new Promise<string>((resolve, reject) => {
        const child = execFile(kubeScore, ['score', '-', '--output-format', 'ci'], (error, stdout) =>
          error && typeof error.code !== 'number' ? reject(error) : resolve(stdout),
        );
        child.stdin!.end(yaml);
      });
      const criticals = report.split('\n').filter((line) => line.startsWith('[CRITICAL]'));
      expect(criticals.length, dir).toBeGreaterThan(0);
      // Ours: the install's objects, the demo's user tier, and the gate container in your Deployments.
      const ours = criticals
        .map((line) => /^\[CRITICAL\] (\S+) \S+: (.*)$/.exec(line)!)
        .filter(([, object, problem]) => /-maintenance-|^sample-app-user\//.test(object!) || problem!.startsWith('(maintenance-gate)'));
      expect(ours.length, dir).toBeGreaterThan(0);
      expect(
        ours.filter(([, , problem]) => !explained.some((pattern) => pattern.test(problem!))).map(([line]) => line),
        dir,
      ).toEqual([]);
    }
  });

  it('renders the same whatever the order of the components', async () => {
    const dir = copyRecipe('manifests-reordered', { ...INSTALLS[0], appYaml: userFiles + FOREIGN_DEPLOYMENT });
    const file = join(dir, 'kustomization.yaml');
    const text = readFileSync(file, 'utf8');
    // The components, last first (their comments dropped).
    const reordered = text.replace(/^components:\n((?: {2}(?:- .*|#.*)\n)+)/m, (_block, items: string) => {
      const components = items.split('\n').filter((line) => line.startsWith('  - '));
      expect(components.length).toBeGreaterThanOrEqual(3);
      return `components:\n${components.reverse().join('\n')}\n`;
    });
    expect(reordered).not.toBe(text);
    writeFileSync(file, reordered);
    expect(await kubectl(['kustomize', dir])).toBe(await kubectl(['kustomize', recipes[installId(INSTALLS[0])]!]));
  });

  it('components/gate-proxy sends users through the gates, and fails the build where it would not', async () => {
    // In place of components/gate (which it includes), as docs/configuration.md says; or, wrongly, before the install.
    const withProxy = (where: 'in place of the gate' | 'before the install') => {
      const dir = copyRecipe(`manifests-gate-proxy-${where.replaceAll(' ', '-')}`, INSTALLS[0]);
      const file = join(dir, 'kustomization.yaml');
      const text = readFileSync(file, 'utf8');
      const gate = /^ {2}- \.\.\/\.\.\/kustomize\/components\/gate\n/m;
      const proxy = '  - ../../kustomize/components/gate-proxy\n';
      const changed =
        where === 'in place of the gate'
          ? text.replace(gate, proxy)
          : text.replace(gate, '').replace(/^components:\n/m, `components:\n${proxy}`);
      expect(changed, where).not.toBe(text);
      writeFileSync(file, changed);
      return dir;
    };
    const objects = await render(withProxy('in place of the gate'));
    const app = INSTALLS[0].app;
    expect(find(objects, 'Service', `${app}-maintenance-public`).spec.ports[0].targetPort).toBe(9900);
    const page = find(objects, 'Deployment', `${app}-maintenance-page`).spec.template.spec.containers[0];
    expect(page.ports.filter((port: any) => port.name === 'http')).toEqual([{ name: 'http', containerPort: 9900 }]);
    expect(page.env).toContainEqual({ name: 'PORT', value: '9900' });
    for (const deployment of objects.filter((object) => object.metadata.labels?.['maintenance-switch.dev/gate'] === 'true')) {
      const gate = deployment.spec.template.spec.initContainers.find((container: any) => container.name === 'maintenance-gate');
      expect(gate.env).toContainEqual({ name: 'GATE_TRAFFIC', value: 'all' });
      expect(gate.ports).toContainEqual({ name: 'gate', containerPort: 9900 });
      expect(gate.resources.requests).toMatchObject({ cpu: '100m', memory: '128Mi' });
      expect(
        loadEnv(
          Object.fromEntries(gate.env.filter((entry: any) => entry.value !== undefined).map((entry: any) => [entry.name, entry.value])),
        ),
      ).toMatchObject({
        GATE_TRAFFIC: 'all',
      });
    }
    expect(find(objects, 'ConfigMap', `${app}-maintenance`).metadata.annotations?.['maintenance-switch.dev/read-only']).toBe('enforced');
    // The API server takes it as it is: the recipe's namespace exists in this test's cluster (see INSTALLS).
    expect(await kubectl(['apply', '--dry-run=server', '-k', withProxy('in place of the gate')])).toMatch(
      /service\/shop-maintenance-public .*\(server dry run\)/,
    );
    await expect(kubectl(['kustomize', withProxy('before the install')])).rejects.toThrow(
      /nothing selected by ConfigMap.*maintenance-switch-install/,
    );
  });

  it('components/readiness-gate puts a readiness gate on your Deployments and no container, two admins, and fails the build where it would not', async () => {
    const app = INSTALLS[0].app;
    const dir = copyRecipe('manifests-readiness-gate', { ...INSTALLS[0], readinessGate: true });
    const objects = await render(dir);
    const gated = objects.filter((object) => object.metadata.labels?.['maintenance-switch.dev/gate'] === 'true');
    expect(gated.length).toBeGreaterThan(0);
    for (const deployment of gated) {
      const pod = deployment.spec.template;
      expect(pod.spec.readinessGates).toEqual([{ conditionType: 'maintenance-switch.dev/serving' }]);
      expect(pod.metadata.labels['maintenance-switch.dev/app']).toBe(app);
      expect(ownContainers(pod.spec), 'no container of ours in your pods').toEqual([]);
      expect(pod.spec.volumes?.map((volume: any) => volume.name) ?? []).not.toContain('maintenance-switch-config');
    }
    const admin = find(objects, 'Deployment', `${app}-maintenance-admin`);
    const pageDeployment = find(objects, 'Deployment', `${app}-maintenance-page`);
    expect(admin.spec.replicas).toBe(2);
    expect(admin.spec.template.spec.containers[0].env).toContainEqual({ name: 'GATE_MODE', value: 'readiness-gate' });
    expect(find(objects, 'Service', `${app}-maintenance-admin`).spec.sessionAffinity).toBe('ClientIP');
    expect(find(objects, 'PodDisruptionBudget', `${app}-maintenance-admin`).spec).toMatchObject({
      minAvailable: 1,
      selector: { matchLabels: { 'maintenance-switch.dev/app': app, 'maintenance-switch.dev/tier': 'admin' } },
    });
    const page = pageDeployment.spec.template.spec.containers[0];
    expect(page.env).toContainEqual({ name: 'GATE_MODE', value: 'readiness-gate' });
    expect(page.env.map((entry: any) => entry.name)).not.toContain('FLEET_STATUS_PORT');
    expect(page.readinessProbe.periodSeconds).toBe(1);
    for (const tier of [admin, pageDeployment])
      expect(loadEnv({ ...resolvedEnv(tier), KUBERNETES_SERVICE_HOST: '10.96.0.1' })).toMatchObject({
        GATE_MODE: 'readiness-gate',
        APP_NAME: app,
      });
    const role = find(objects, 'Role', `${app}-maintenance-serving`);
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['pods/status'], verbs: ['patch'] },
    ]);
    expect(find(objects, 'RoleBinding', `${app}-maintenance-serving`).subjects).toEqual([
      { kind: 'ServiceAccount', name: `${app}-maintenance-admin`, namespace: INSTALLS[0].namespace },
    ]);
    expect(await kubectl(['apply', '--dry-run=server', '-k', dir])).toMatch(/deployment.apps\/shop-maintenance-admin .*\(server dry run\)/);
    // Listed before the install, it fails the build instead of changing nothing.
    const file = join(dir, 'kustomization.yaml');
    const text = readFileSync(file, 'utf8');
    const line = '  - ../../kustomize/components/readiness-gate\n';
    writeFileSync(file, text.replace(line, '').replace(/^components:\n/m, `components:\n${line}`));
    await expect(kubectl(['kustomize', dir])).rejects.toThrow(/nothing selected by ConfigMap.*maintenance-switch-install/);
  });

  it('components/status-port-policy opens 9901 of the app pods only to the admin and page tiers and metrics, in either order', async () => {
    const policies: unknown[] = [];
    for (const where of ['after the others', 'first']) {
      const dir = copyRecipe(`manifests-status-port-${policies.length}`, INSTALLS[0]);
      const file = join(dir, 'kustomization.yaml');
      const text = readFileSync(file, 'utf8');
      const line = '  - ../../kustomize/components/status-port-policy\n';
      writeFileSync(
        file,
        where === 'first'
          ? text.replace(/^components:\n/m, `components:\n${line}`)
          : text.replace(/^( {2}- \.\.\/\.\.\/kustomize\/components\/nudge\n)/m, `$1${line}`),
      );
      const policy = (await render(dir)).find((object) => object.metadata.name === `${INSTALLS[0].app}-maintenance-status-port`);
      expect(policy, where).toBeDefined();
      policies.push(policy);
      // The API server takes it as it is (endPort, SCTP).
      await kubectl(['apply', '--dry-run=server', '-f', '-'], {
        input: JSON.stringify({ ...policy, metadata: { ...policy!.metadata, namespace: 'default' } }),
      });
    }
    expect(policies[1]).toEqual(policies[0]);
    const { spec } = policies[0] as { spec: any };
    const app = INSTALLS[0].app;
    expect(spec.podSelector).toEqual({
      matchLabels: { 'maintenance-switch.dev/app': app },
      matchExpressions: [{ key: 'maintenance-switch.dev/tier', operator: 'NotIn', values: ['admin'] }],
    });
    expect(spec.ingress[0]).toEqual({
      from: [
        {
          podSelector: {
            matchLabels: { 'maintenance-switch.dev/app': app },
            matchExpressions: [{ key: 'maintenance-switch.dev/tier', operator: 'In', values: ['admin', 'page'] }],
          },
        },
        { namespaceSelector: { matchLabels: { 'maintenance-switch.dev/metrics-access': 'true' } } },
      ],
      ports: [{ port: 9901, protocol: 'TCP' }],
    });
    // Every other port as open as before: the ranges leave out 9901 alone.
    const tcp = spec.ingress[1].ports.filter((port: any) => port.protocol === 'TCP');
    expect(tcp).toEqual([
      { port: 1, endPort: 9900, protocol: 'TCP' },
      { port: 9902, endPort: 65535, protocol: 'TCP' },
    ]);
    expect(spec.ingress[1].from).toBeUndefined();
  });

  it('selects only what carries this project’s own labels, in every Service and NetworkPolicy of an install', () => {
    for (const install of INSTALLS) {
      for (const object of rendered[installId(install)]!) {
        if (object.metadata.labels?.['app.kubernetes.io/name'] !== 'maintenance-switch') continue;
        const selector =
          object.kind === 'Service' ? object.spec.selector : object.kind === 'NetworkPolicy' ? object.spec.podSelector.matchLabels : null;
        if (selector === null) continue;
        expect(
          Object.keys(selector).every((key) => key.startsWith('maintenance-switch.dev/')),
          `${object.kind}/${object.metadata.name}`,
        ).toBe(true);
        expect(selector['maintenance-switch.dev/app']).toBe(install.app);
      }
    }
  });

  it('keeps every container hardened and probed so that one slow answer never takes a pod out', () => {
    let containers = 0;
    for (const [name, objects] of Object.entries(rendered)) {
      for (const deployment of objects.filter((object) => object.kind === 'Deployment' && object.metadata.name !== 'their-admin')) {
        const where = `${name}: ${deployment.metadata.name}`;
        const pod = deployment.spec.template.spec;
        expect(pod.securityContext, where).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
        for (const container of ownContainers(pod)) {
          containers++;
          const at = `${where}/${container.name}`;
          const env = Object.fromEntries(container.env.map((entry: any) => [entry.name, entry.value ?? entry.valueFrom]));
          expect(container.securityContext, at).toMatchObject({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
          });
          expect(container.readinessProbe, at).toMatchObject({ httpGet: { path: '/readyz' }, periodSeconds: 2 });
          expect(container.readinessProbe.failureThreshold, at).toBeGreaterThanOrEqual(2);
          expect(container.readinessProbe.timeoutSeconds, at).toBeGreaterThanOrEqual(2);
          expect(container.livenessProbe.failureThreshold * container.livenessProbe.periodSeconds, at).toBeGreaterThanOrEqual(30);
          // Sized from measurement: at least the 96 MiB measured after a load, with a limit above it.
          expect(Number.parseInt(container.resources.requests.memory, 10), at).toBeGreaterThanOrEqual(96);
          expect(container.resources.limits.memory, at).toMatch(/^(192|256)Mi$/);
          expect(env.POD_NAMESPACE?.fieldRef?.fieldPath, at).toBe('metadata.namespace');
          const configVolume = pod.volumes.find(
            (volume: any) => volume.configMap && container.volumeMounts.some((mount: any) => mount.name === volume.name),
          );
          const mount = container.volumeMounts.find((volumeMount: any) => volumeMount.name === configVolume.name);
          expect(mount, at).toMatchObject({ mountPath: env.CONFIG_DIR, readOnly: true });
          expect(mount.subPath, `${at}: never a subPath mount`).toBeUndefined();
          if (container.name === 'maintenance-gate') {
            expect(container.restartPolicy, at).toBe('Always');
            expect(env.ROLE, at).toBe('gate');
            continue;
          }
          expect(container.lifecycle.preStop.sleep.seconds, at).toBe(Number(env.SHUTDOWN_DELAY_SECONDS));
          if (env.ROLE === 'admin' || env.ROLE === 'page') expect(env.CONFIG_SOURCE, `${at}: the fastest path`).toBe('api');
        }
      }
    }
    expect(containers).toBeGreaterThanOrEqual(30);
  });

  it("gives every pod of ours the names of its own install's objects, derived from its app label, with none copied into its environment", () => {
    let checked = 0;
    for (const [name, objects] of Object.entries(rendered)) {
      for (const deployment of objects.filter(
        (object) => object.kind === 'Deployment' && object.metadata.labels?.['maintenance-switch.dev/tier'],
      )) {
        const where = `${name}: ${deployment.metadata.name}`;
        const env = loadEnv(resolvedEnv(deployment));
        const volumes = deployment.spec.template.spec.volumes;
        expect(env.APP_NAME, where).toBe(deployment.spec.template.metadata.labels['maintenance-switch.dev/app']);
        expect(env.CONFIGMAP_NAME, where).toBe(volumes.find((volume: any) => volume.name === 'maintenance-switch').configMap.name);
        expect(env.BYPASS_KEY_SECRET, where).toBe(
          volumes.find((volume: any) => volume.name === 'maintenance-switch-bypass-key').secret.secretName,
        );
        expect(find(objects, 'ConfigMap', env.CONFIGMAP_NAME).metadata.labels?.['maintenance-switch.dev/tier'], where).toBe('switch');
        if (env.ROLE === 'admin')
          expect(find(objects, 'Service', env.NUDGE_SERVICE).metadata.labels?.['maintenance-switch.dev/tier'], where).toBe('pods');
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(20);
  });

  it('gives every install and overlay the page tier, so users never get "connection refused"', () => {
    for (const [name, objects] of Object.entries(rendered)) {
      const publicService = objects.find(
        (object) => object.kind === 'Service' && object.metadata.labels?.['maintenance-switch.dev/tier'] === 'public',
      )!;
      expect(publicService, name).toBeDefined();
      const selected = objects.filter(
        (object) =>
          object.kind === 'Deployment' &&
          Object.entries(publicService.spec.selector).every(([key, value]) => object.spec.template.metadata.labels[key] === value),
      );
      const tiers = selected.map((deployment) => deployment.metadata.labels?.['maintenance-switch.dev/tier'] ?? 'app');
      expect(
        tiers.filter((tier) => tier === 'page'),
        name,
      ).toHaveLength(1);
      expect(
        tiers.filter((tier) => tier !== 'page'),
        `${name}: the app`,
      ).toHaveLength(1);
    }
  });

  it('needs nothing but built-in kinds, except in the overlay whose name says it needs the Gateway API', () => {
    const builtIn =
      /^(v1|apps\/v1|rbac\.authorization\.k8s\.io\/v1|networking\.k8s\.io\/v1|policy\/v1|autoscaling\/v2|admissionregistration\.k8s\.io\/v1)$/;
    for (const [name, objects] of Object.entries(rendered)) {
      const foreign = objects.filter((object) => !builtIn.test((object as unknown as { apiVersion: string }).apiVersion));
      const kinds = foreign.map((object) => object.kind);
      expect(kinds, name).toEqual(name === 'local-gateway-api' ? ['HTTPRoute'] : []);
    }
  });

  it('never routes public traffic to the admin tier', () => {
    const objects = rendered['local-gateway-api']!;
    expect(
      rendered.local!.some((object) => object.kind === 'HTTPRoute'),
      'the HTTPRoute is its own overlay',
    ).toBe(false);
    const route = find(objects, 'HTTPRoute', 'sample-app-maintenance');
    const services = route.spec.rules.flatMap((rule: any) => rule.backendRefs.map((ref: any) => ref.name));
    expect(services).toEqual(['sample-app-maintenance-preview', 'sample-app-maintenance-public']);
    expect(route.spec.rules[0].matches).toEqual([
      { path: { type: 'PathPrefix', value: '/__maintenance/bypass' } },
      { headers: [{ type: 'RegularExpression', name: 'Cookie', value: '(^|.*; *)maintenance_bypass=.*' }] },
    ]);
  });

  it('gives the production overlay an HPA that owns the user replica count, and the API watch', () => {
    const objects = rendered.production!;
    const hpa = objects.find((object) => object.kind === 'HorizontalPodAutoscaler')!;
    expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 10, scaleTargetRef: { name: 'sample-app-user' } });
    const user = find(objects, 'Deployment', 'sample-app-user');
    expect(user.spec.replicas).toBeUndefined();
    expect(user.spec.template.spec.containers[0].env).toContainEqual({ name: 'CONFIG_SOURCE', value: 'api' });
    const admin = find(objects, 'Deployment', 'sample-app-maintenance-admin');
    expect(admin.spec.template.spec.containers[0].env).toContainEqual({ name: 'ADMIN_AUTH', value: 'kubernetes' });
  });

  it('holds autoscalers in every install (APP_NAME set, AUTOSCALING_HOLD left on), and patches only the HPA the production overlay ships', () => {
    for (const [name, objects] of Object.entries(rendered)) {
      for (const admin of objects.filter(
        (object) => object.kind === 'Deployment' && object.metadata.labels?.['maintenance-switch.dev/tier'] === 'admin',
      )) {
        const env = admin.spec.template.spec.containers[0].env as { name: string; value?: string }[];
        expect(resolvedEnv(admin).APP_NAME, name).toBe(admin.metadata.labels?.['maintenance-switch.dev/app']);
        expect(
          env.find((entry) => entry.name === 'AUTOSCALING_HOLD'),
          name,
        ).toBeUndefined();
      }
    }
    const role = find(rendered.production!, 'Role', 'sample-app-maintenance-admin');
    const hpaRules = (role.rules ?? []).filter((rule) => rule.resources.includes('horizontalpodautoscalers'));
    expect(hpaRules).toEqual([
      { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], resourceNames: ['sample-app-user'], verbs: ['patch'] },
    ]);
    const hpa = rendered.production!.find((object) => object.kind === 'HorizontalPodAutoscaler')!;
    expect(hpaRules[1]?.resourceNames).toEqual([hpa.metadata.name]);
    // The hold policy lets an admin change only the autoscalers labelled with its app.
    expect(hpa.metadata.labels?.['maintenance-switch.dev/app']).toBe('sample-app');
  });

  it("labels the recipe's HPAs and ScaledObjects with the app, which the cluster part's hold policy requires", async () => {
    const autoscalers = `---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, labels: {team: shop}}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, minReplicas: 2, maxReplicas: 5}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: web-queue}
spec: {scaleTargetRef: {name: web}}
`;
    await installKedaCrd();
    const objects = await render(copyRecipe('manifests-autoscalers', { ...INSTALLS[0], appYaml: userFiles + autoscalers }));
    const labels = objects
      .filter((object) => ['HorizontalPodAutoscaler', 'ScaledObject'].includes(object.kind))
      .map((object) => [object.kind, object.metadata.labels]);
    expect(labels).toEqual([
      ['HorizontalPodAutoscaler', { team: 'shop', 'maintenance-switch.dev/app': INSTALLS[0].app }],
      ['ScaledObject', { 'maintenance-switch.dev/app': INSTALLS[0].app }],
    ]);
  });

  it('names the released image everywhere but in the local overlays, and never needs a pull policy', () => {
    for (const [name, objects] of Object.entries(rendered)) {
      const local = ['local', 'local-api-watch', 'local-gateway-api', 'minikube'].includes(name);
      for (const deployment of objects.filter((object) => object.kind === 'Deployment')) {
        for (const container of ownContainers(deployment.spec.template.spec)) {
          expect(container.image, `${name}: ${deployment.metadata.name}`).toBe(
            local ? 'maintenance-switch:dev' : 'maintenance-switch:0.1.0',
          );
          expect(container.imagePullPolicy, `${name}: ${deployment.metadata.name}`).toBeUndefined();
        }
      }
    }
    for (const deployment of rendered.minikube!.filter((object) => object.kind === 'Deployment')) expect(deployment.spec.replicas).toBe(1);
  });
});
