import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, applyBase, kubectl, skipReason } from './cluster.ts';

/** Everything a platform engineer can apply: the base, each overlay, and each component on the base. */
const TARGETS = {
  base: 'k8s',
  minikube: 'kustomize/overlays/minikube',
  production: 'kustomize/overlays/production',
  'api-watch': 'test/e2e/fixtures/api-watch',
  'maintenance-page': 'test/e2e/fixtures/maintenance-page',
  'http-route': 'test/e2e/fixtures/http-route',
  'example-app': 'kustomize/overlays/example-app',
} as const;

/** This project's containers in a pod: its own tiers (`app`) and the gate sidecar. */
const ownContainers = (pod: any): any[] => [
  ...pod.containers.filter((container: any) => container.name === 'app'),
  ...(pod.initContainers ?? []).filter((container: any) => container.name === 'maintenance-gate'),
];

interface K8sObject {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: any;
}

async function render(target: string): Promise<K8sObject[]> {
  // kubectl turns the kustomize output into JSON for us, without a YAML parser here;
  // `create --dry-run=client` converts only, it does not merge in what the cluster holds.
  const yaml = await kubectl(['kustomize', join(ROOT, target)]);
  const json = await kubectl(['create', '--dry-run=client', '-o', 'json', '-f', '-'], { input: yaml });
  // One JSON document per object, one after the other.
  return json.split(/\n(?=\{)/).map((document) => JSON.parse(document) as K8sObject);
}

describe.skipIf(skipReason !== null)('the manifests', () => {
  const rendered: Record<string, K8sObject[]> = {};

  beforeAll(async () => {
    await applyBase();
    for (const [name, target] of Object.entries(TARGETS)) rendered[name] = await render(target);
  });

  it.each(Object.entries(TARGETS))('%s renders with kubectl kustomize', async (_name, target) => {
    const yaml = await kubectl(['kustomize', join(ROOT, target)]);
    expect(yaml).toContain('kind: Deployment');
  });

  it.each(Object.entries(TARGETS))('%s is accepted by kubectl apply --dry-run=server', async (_name, target) => {
    const output = await kubectl(['apply', '--dry-run=server', '-k', join(ROOT, target)]);
    expect(output).toMatch(/deployment\.apps\/(sample-app-user|example-app) .*\(server dry run\)/);
    expect(output).toMatch(/deployment\.apps\/sample-app-admin .*\(server dry run\)/);
  });

  it('puts every namespaced object into sample-app and labels everything alike', () => {
    for (const [name, objects] of Object.entries(rendered)) {
      for (const object of objects) {
        const where = `${name}: ${object.kind}/${object.metadata.name}`;
        if (!['Namespace', 'ClusterRoleBinding'].includes(object.kind)) expect(object.metadata.namespace, where).toBe('sample-app');
        expect(object.metadata.labels?.['app.kubernetes.io/name'], where).toBe('sample-app');
        expect(object.metadata.labels?.['app.kubernetes.io/part-of'], where).toBe('sample-app');
      }
    }
  });

  it('keeps every container hardened and probed, in every overlay and component', () => {
    let containers = 0;
    for (const [name, objects] of Object.entries(rendered)) {
      for (const deployment of objects.filter((object) => object.kind === 'Deployment')) {
        const where = `${name}: ${deployment.metadata.name}`;
        const pod = deployment.spec.template.spec;
        expect(pod.securityContext, where).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
        expect(pod.securityContext.runAsUser, where).toBeGreaterThan(0);

        // Containers this project does not own (the example's nginx) are hardened and probed too.
        for (const container of pod.containers.filter((candidate: any) => !ownContainers(pod).includes(candidate))) {
          const at = `${where}/${container.name}`;
          expect(container.securityContext, at).toMatchObject({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          });
          expect(container.readinessProbe, at).toBeDefined();
        }

        for (const container of ownContainers(pod)) {
          containers++;
          const at = `${where}/${container.name}`;
          const env = Object.fromEntries(container.env.map((entry: any) => [entry.name, entry.value ?? entry.valueFrom]));
          const sidecar = container.name === 'maintenance-gate';
          expect(container.securityContext, at).toMatchObject({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
          });
          expect(container.readinessProbe.httpGet.path, at).toBe('/readyz');
          expect(container.readinessProbe.periodSeconds, at).toBeLessThanOrEqual(2);
          expect(container.readinessProbe.failureThreshold, at).toBe(1);
          expect(container.livenessProbe.httpGet.path, at).toBe('/livez');
          expect(
            container.livenessProbe.failureThreshold * container.livenessProbe.periodSeconds,
            `${at}: generous liveness`,
          ).toBeGreaterThanOrEqual(30);

          if (sidecar) {
            // A native sidecar: its readiness is the pod's; it stops after the app, so it needs no preStop.
            expect(container.restartPolicy, at).toBe('Always');
            expect(env.ROLE, at).toBe('gate');
            expect(container.readinessProbe.httpGet.port, at).toBe('gate-status');
            expect(container.ports, at).toEqual([
              { name: 'gate-status', containerPort: 9901 },
              { name: 'gate', containerPort: 9900 },
            ]);
            expect(env.PORT, at).toBe('9901');
            expect(container.resources.limits.memory, at).toBeDefined();
          } else {
            // Shutdown: preStop sleep matches SHUTDOWN_DELAY_SECONDS, and both fit the grace period with the drain.
            const delay = Number(env.SHUTDOWN_DELAY_SECONDS);
            expect(container.lifecycle.preStop.sleep.seconds, at).toBe(delay);
            expect(pod.terminationGracePeriodSeconds, at).toBeGreaterThanOrEqual(2 * delay + 10);
            expect(['user', 'admin', 'page'], at).toContain(env.ROLE);
            // User traffic on http; the kubelet's probes on a port of their own that no Service targets.
            expect(container.ports, at).toEqual([
              { name: 'http', containerPort: 8080 },
              { name: 'probes', containerPort: 9901 },
            ]);
            expect(env.PROBE_PORT, at).toBe('9901');
            expect(container.readinessProbe.httpGet.port, at).toBe('probes');
            expect(container.livenessProbe.httpGet.port, at).toBe('probes');
          }
          expect(env.POD_NAME?.fieldRef?.fieldPath, at).toBe('metadata.name');
          expect(env.POD_NAMESPACE?.fieldRef?.fieldPath, at).toBe('metadata.namespace');
          expect(
            Object.keys(env).some((key) => /admin-access/i.test(key)),
            at,
          ).toBe(false);
          const configVolume = pod.volumes.find(
            (volume: any) =>
              volume.configMap?.name === 'app-config' && container.volumeMounts.some((mount: any) => mount.name === volume.name),
          );
          expect(configVolume, `${at}: the app-config volume`).toBeDefined();
          const mount = container.volumeMounts.find((volumeMount: any) => volumeMount.name === configVolume.name);
          expect(mount, at).toMatchObject({ mountPath: env.CONFIG_DIR, readOnly: true });
          expect(mount.subPath, `${at}: never a subPath mount`).toBeUndefined();
          // The bypass key: an optional Secret, mounted where BYPASS_KEY_DIR says (the default when unset).
          const keyVolume = pod.volumes.find((volume: any) => volume.secret?.secretName === 'maintenance-bypass-key');
          expect(keyVolume?.secret.optional, `${at}: the bypass key is optional`).toBe(true);
          expect(
            container.volumeMounts.find((volumeMount: any) => volumeMount.name === keyVolume.name),
            at,
          ).toMatchObject({
            mountPath: env.BYPASS_KEY_DIR ?? '/etc/maintenance-bypass',
            readOnly: true,
          });

          const apiAccess = pod.automountServiceAccountToken !== false;
          // The admin tier talks to the API; the page tier reads the EndpointSlices; others only with CONFIG_SOURCE=api.
          if (env.ROLE === 'admin' || env.ROLE === 'page') expect(apiAccess, at).toBe(true);
          else expect(apiAccess, `${at}: API access only with CONFIG_SOURCE=api`).toBe(env.CONFIG_SOURCE === 'api');
        }
      }
    }
    expect(containers).toBeGreaterThanOrEqual(10);
  });

  it('runs one image in every tier of a rendering', () => {
    for (const [name, objects] of Object.entries(rendered)) {
      const images = new Set(
        objects
          .filter((object) => object.kind === 'Deployment')
          .flatMap((deployment) => ownContainers(deployment.spec.template.spec).map((container) => container.image)),
      );
      expect([...images], name).toHaveLength(1);
    }
  });

  it('never routes public traffic to the admin tier', () => {
    expect(
      rendered['maintenance-page']!.some((object) => object.kind === 'HTTPRoute'),
      'the HTTPRoute is its own component',
    ).toBe(false);
    const objects = rendered['http-route']!;
    const route = objects.find((object) => object.kind === 'HTTPRoute')!;
    const services = route.spec.rules.flatMap((rule: any) => rule.backendRefs.map((ref: any) => ref.name));
    expect(services).toEqual(['sample-app-preview', 'sample-app-public']);
    // Bypass links and cookie holders go to the preview Service, which includes NotReady user pods.
    expect(route.spec.rules[0].matches).toEqual([
      { path: { type: 'PathPrefix', value: '/__maintenance/bypass' } },
      { headers: [{ type: 'RegularExpression', name: 'Cookie', value: '(^|.*; *)maintenance_bypass=.*' }] },
    ]);
    const preview = objects.find((object) => object.metadata.name === 'sample-app-preview')!;
    expect(preview.spec).toMatchObject({ publishNotReadyAddresses: true, selector: { 'app.kubernetes.io/component': 'user' } });
    const publicService = objects.find((object) => object.metadata.name === 'sample-app-public')!;
    const selected = objects.filter(
      (object) =>
        object.kind === 'Deployment' &&
        Object.entries(publicService.spec.selector).every(([key, value]) => object.spec.template.metadata.labels[key] === value),
    );
    expect(selected.map((deployment) => deployment.metadata.name).sort()).toEqual(['sample-app-page', 'sample-app-user']);
  });

  it('gives the page tier its own ServiceAccount that may only read EndpointSlices, and user pods a readiness grace', () => {
    const objects = rendered['maintenance-page']!;
    const role = objects.find((object) => object.kind === 'Role' && object.metadata.name === 'sample-app-page') as unknown as {
      rules: unknown[];
    };
    expect(role.rules).toEqual([{ apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] }]);
    const page = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === 'sample-app-page')!;
    expect(page.spec.template.spec.serviceAccountName).toBe('sample-app-page');
    const user = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === 'sample-app-user')!;
    expect(user.spec.template.spec.containers[0].env).toContainEqual({ name: 'MAINTENANCE_READY_GRACE_SECONDS', value: '6' });
  });

  it('adds the gate to a labelled Deployment of an app this project did not write, and to nothing else', () => {
    const objects = rendered['example-app']!;
    const deployments = objects.filter((object) => object.kind === 'Deployment');
    expect(deployments.map((deployment) => deployment.metadata.name).sort()).toEqual([
      'example-app',
      'sample-app-admin',
      'sample-app-page',
    ]);
    const gated = deployments.filter((deployment) =>
      deployment.spec.template.spec.initContainers?.some((container: any) => container.name === 'maintenance-gate'),
    );
    expect(gated.map((deployment) => deployment.metadata.name)).toEqual(['example-app']);
    const pod = gated[0]!.spec.template.spec;
    expect(pod.containers.map((container: any) => [container.name, container.image])).toEqual([['nginx', 'example-nginx:dev']]);
    const env = Object.fromEntries(pod.initContainers[0].env.map((entry: any) => [entry.name, entry.value]));
    expect(env).toMatchObject({ UPSTREAM: 'http://127.0.0.1:8080', UPSTREAM_READY_PATH: '/healthz' });
    const preview = objects.find((object) => object.metadata.name === 'sample-app-preview')!;
    expect(preview.spec.ports[0].targetPort).toBe('gate');
  });

  it('gives the production overlay an HPA of 2 to 10 at 70% CPU that owns the user replica count', () => {
    const objects = rendered.production!;
    const hpa = objects.find((object) => object.kind === 'HorizontalPodAutoscaler')!;
    expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 10, scaleTargetRef: { name: 'sample-app-user' } });
    expect(hpa.spec.metrics[0].resource).toEqual({ name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } });
    const user = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === 'sample-app-user')!;
    expect(user.spec.replicas).toBeUndefined();
    expect(user.spec.template.spec.containers[0].resources.requests.cpu).toBeDefined();
    const admin = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === 'sample-app-admin')!;
    expect(admin.spec.template.spec.containers[0].env).toContainEqual({ name: 'ADMIN_AUTH', value: 'kubernetes' });
  });

  it('uses the local image, never pulled, and one pod per tier on minikube', () => {
    for (const deployment of rendered.minikube!.filter((object) => object.kind === 'Deployment')) {
      expect(deployment.spec.replicas).toBe(1);
      expect(deployment.spec.template.spec.containers[0]).toMatchObject({ image: 'sample-app:latest', imagePullPolicy: 'Never' });
    }
  });
});
