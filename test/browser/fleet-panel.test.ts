import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinaries, startControlPlane, type ControlPlane } from '../../scripts/lib/control-plane.ts';
import { browserMissing, launchBrowser } from '../helpers/browser.ts';
import { spawnService, type ServiceProcess } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/test-server.ts';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'fleet-panel-token';
const binaries = findBinaries();
const missing = browserMissing ?? (typeof binaries === 'string' ? binaries : null);
if (missing && process.env.CI) throw new Error(missing);

function slice(pods: Record<string, boolean>): string {
  return JSON.stringify({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'sample-app-user-panel', namespace: 'sample-app', labels: { 'kubernetes.io/service-name': 'sample-app-user' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Object.entries(pods).map(([pod, ready], index) => ({
      addresses: [`10.244.8.${index + 10}`],
      conditions: { ready },
      targetRef: { kind: 'Pod', name: pod, namespace: 'sample-app' },
    })),
  });
}

// The panel against a real kube-apiserver: the test writes the EndpointSlices, as the
// controller would after the kubelet's probes, and the panel must follow without a reload.
describe.skipIf(missing !== null)('the panel shows the fleet live, in headless Chromium', () => {
  let plane: ControlPlane;
  let admin: ServiceProcess;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    plane = await startControlPlane(binaries as Exclude<typeof binaries, string>);
    await plane.kubectl(['apply', '-k', join(ROOT, 'demo/base')]);
    await plane.kubectl(['apply', '-f', '-'], { input: slice({ 'sample-app-user-1': true, 'sample-app-user-2': true }) });
    // The production overlay's HPA, on the demo's user Deployment (2 replicas): held during maintenance.
    await plane.kubectl(['apply', '-n', 'sample-app', '-f', join(ROOT, 'demo/production/hpa.yaml')]);
    const tokens = join(await makeTempDir('fleet-panel-'), 'tokens');
    await writeFile(tokens, `${TOKEN},release-manager\n`);
    admin = await spawnService({
      ROLE: 'admin',
      CONFIG_SOURCE: 'api',
      POD_NAMESPACE: 'sample-app',
      FLEET_SERVICE: 'sample-app-user',
      APP_NAME: 'sample-app',
      // The demo's switch keeps its old name; nothing here nudges.
      CONFIGMAP_NAME: 'app-config',
      NUDGE_SERVICE: 'none',
      KUBECONFIG: plane.kubeconfig,
      ADMIN_AUTH: 'token',
      ADMIN_TOKEN_FILE: tokens,
      LOG_LEVEL: 'info',
    });
    browser = await launchBrowser();
    page = await browser.newPage();
    page.on('pageerror', (error) => errors.push(error.message));
  });

  afterAll(async () => {
    await browser?.close();
    admin?.child.kill('SIGTERM');
    await admin?.exited;
    await plane?.stop();
  });

  it('shows each pod, then follows a flip and the endpoints leaving, converged with its time', async () => {
    await page.goto(`${admin.url}/admin`);
    await page.fill('#token', TOKEN);
    await page.click('#login-form button');
    await expect.poll(() => page.textContent('#fleet-summary')).toBe('2 of 2 user pods serving · converged');
    // A ConfigMap's resourceVersion is worth quoting.
    expect(await page.textContent('#state-version')).toMatch(/^\d+$/);
    expect(await page.isVisible('dt:has-text("Version")')).toBe(true);
    expect(await page.locator('#fleet-pods li').allTextContents()).toEqual([
      expect.stringMatching(/^sample-app-user-1serving since \d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? UTC$/),
      expect.stringMatching(/^sample-app-user-2serving since /),
    ]);

    // The admin runs as the cluster admin here, whom the cluster part's hold policy does not
    // confine: it says so, maintenance on or off.
    await expect
      .poll(() => page.textContent('#fleet-autoscaling'))
      .toMatch(/^Unguarded: the API server accepted a dry-run label change on HorizontalPodAutoscaler sample-app-user: /);
    expect(await page.getAttribute('#fleet-autoscaling', 'class')).toBe('warning');
    await page.fill('#reason', 'fleet in the browser');
    await page.click('#toggle-button');
    await expect.poll(() => page.textContent('#fleet-summary')).toMatch(/^0 of 2 user pods out of service · converging for \d+ s$/);
    await plane.kubectl(['apply', '-f', '-'], { input: slice({ 'sample-app-user-1': false, 'sample-app-user-2': true }) });
    await expect.poll(() => page.textContent('#fleet-summary')).toMatch(/^1 of 2 user pods out of service · converging/);
    await plane.kubectl(['apply', '-f', '-'], { input: slice({ 'sample-app-user-1': false, 'sample-app-user-2': false }) });
    await expect.poll(() => page.textContent('#fleet-summary')).toMatch(/^2 of 2 user pods out of service · converged in \d+(\.\d+)? s$/);
    expect(await page.locator('#fleet-pods li').allTextContents()).toEqual([
      expect.stringMatching(/^sample-app-user-1out of service since /),
      expect.stringMatching(/^sample-app-user-2out of service since /),
    ]);
    expect(await page.isHidden('#fleet-warning')).toBe(true);
    // No such pods exist (no kubelet here), so the admin cannot check its nudge policy, and says so.
    expect(await page.textContent('#fleet-nudge')).toMatch(
      /^Pods are not nudged, and follow at the kubelet's own sync \(up to about 90 s\): /,
    );
    expect(await page.getAttribute('#fleet-nudge', 'class')).toBe('warning');
    await expect
      .poll(() => page.textContent('#fleet-autoscaling'))
      .toMatch(
        /^Autoscaling held at 2 pods since \d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? UTC \(HorizontalPodAutoscaler sample-app-user\)\. Unguarded: .*kubectl apply -k kustomize\/cluster$/,
      );
    const shot = join(await makeTempDir('fleet-panel-'), 'panel-fleet.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`[browser] the panel with its fleet: ${shot}`);
    expect(errors).toEqual([]);
  });

  it('says the app runs sidecar-free, names the pods waiting for their condition, and why the admin sets none', async () => {
    // A pod of the app with the readiness gate, and no condition: no cluster part here, so the
    // admin (as the cluster admin, whom nothing confines) finds itself unguarded and writes nothing.
    await plane.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web-gated-1', namespace: 'sample-app', labels: { 'maintenance-switch.dev/app': 'sample-app' } },
        spec: {
          containers: [{ name: 'web', image: 'example-nginx:dev' }],
          readinessGates: [{ conditionType: 'maintenance-switch.dev/serving' }],
        },
      }),
    });
    const tokens = join(await makeTempDir('fleet-panel-'), 'tokens');
    await writeFile(tokens, `${TOKEN},release-manager\n`);
    const sidecarFree = await spawnService({
      ROLE: 'admin',
      CONFIG_SOURCE: 'api',
      POD_NAMESPACE: 'sample-app',
      FLEET_SERVICE: 'sample-app-user',
      APP_NAME: 'sample-app',
      CONFIGMAP_NAME: 'app-config',
      GATE_MODE: 'readiness-gate',
      KUBECONFIG: plane.kubeconfig,
      ADMIN_AUTH: 'token',
      ADMIN_TOKEN_FILE: tokens,
    });
    try {
      const panel = await browser.newPage();
      panel.on('pageerror', (error) => errors.push(error.message));
      await panel.goto(`${sidecarFree.url}/admin`);
      await panel.fill('#token', TOKEN);
      await panel.click('#login-form button');
      await expect
        .poll(() => panel.textContent('#fleet-serving'))
        .toMatch(
          /^Sidecar-free mode: the admin sets the readiness condition of 1 pod \(0 up to date\)\. The admin sets no condition: the API server accepted a dry-run change of another pod condition: .*kubectl apply -k kustomize\/cluster Waiting for their condition \(not Ready until the admin writes it\): web-gated-1\.$/,
        );
      expect(await panel.getAttribute('#fleet-serving', 'class')).toBe('warning');
      // Nothing in this mode mounts the switch: no nudge line.
      expect(await panel.isHidden('#fleet-nudge')).toBe(true);
      await panel.close();
      expect(errors).toEqual([]);
    } finally {
      sidecarFree.child.kill('SIGTERM');
      await sidecarFree.exited;
    }
  });
});
