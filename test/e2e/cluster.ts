import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { KubectlError, runKubectl, runPlugin, writeTokenKubeconfig } from '../../scripts/lib/control-plane.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const NAMESPACE = 'sample-app';

const provided = inject('envtest');
/** Why the e2e tests cannot run here, or null when the control plane is up. */
export const skipReason: string | null = 'skip' in provided ? provided.skip : null;

function plane() {
  if ('skip' in provided) throw new Error(provided.skip);
  return provided;
}

/** kubectl as the cluster admin, or as another user with `kubeconfig`. */
export async function kubectl(
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; kubeconfig?: string } = {},
): Promise<string> {
  const { kubectl: binary, kubeconfig } = plane();
  return runKubectl(binary, options.kubeconfig ?? kubeconfig, args, options);
}

/** `kubectl auth can-i` as another identity: true for "yes", false for "no". */
export async function canI(as: string, verb: string, resource: string, extra: string[] = []): Promise<boolean> {
  try {
    return (await kubectl(['auth', 'can-i', verb, resource, '-n', NAMESPACE, `--as=${as}`, ...extra])).trim() === 'yes';
  } catch (error) {
    if (error instanceof KubectlError && error.code === 1) return false;
    throw error;
  }
}

/** A real token from the TokenRequest API. */
export async function tokenFor(serviceAccount: string, namespace = NAMESPACE): Promise<string> {
  return (await kubectl(['create', 'token', serviceAccount, '-n', namespace, '--duration=1h'])).trim();
}

/** A kubeconfig that authenticates with a bearer token, as a pod's service account would. */
export function kubeconfigForToken(token: string, name: string): Promise<string> {
  return writeTokenKubeconfig(plane().kubeconfig, token, name, NAMESPACE);
}

/** A direct API request with a bearer token, to prove what RBAC allows. */
export async function apiRequest(
  token: string,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/merge-patch+json',
): Promise<number> {
  return (await apiCall(token, method, path, body, contentType)).status;
}

/** The same, with the answer's body: the API server's words when it refuses. */
export async function apiCall(
  token: string,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/merge-patch+json',
): Promise<{ status: number; body: string }> {
  const { server, kubeconfig } = plane();
  const ca = Buffer.from(/certificate-authority-data: (\S+)/.exec(await readFile(kubeconfig, 'utf8'))![1]!, 'base64').toString();
  return new Promise((resolve, reject) => {
    const req = request(
      `${server}${path}`,
      { method, ca, headers: { Authorization: `Bearer ${token}`, 'Content-Type': contentType } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** The cluster part, installed once per cluster: the nudge policy that every install's admin is held to. */
export const CLUSTER_POLICY = 'maintenance-switch-nudge';
export async function applyClusterPart(): Promise<void> {
  await kubectl(['apply', '-k', join(ROOT, 'kustomize/cluster')]);
}

/** KEDA's ScaledObject CRD (no KEDA controller), once served: what the hold patches on a ScaledObject. */
export async function installKedaCrd(): Promise<void> {
  const crd =
    process.env.KEDA_CRDS ??
    (await promisify(execFile)('bash', [join(ROOT, 'scripts/envtest/keda-crds.sh')])).stdout.trim().split('\n').at(-1)!;
  await kubectl(['apply', '--server-side', '-f', crd]);
  await kubectl(['wait', '--for=condition=Established', 'crd/scaledobjects.keda.sh', '--timeout=60s']);
  for (let attempt = 0; attempt < 100; attempt++) {
    if (
      await kubectl(['get', 'scaledobjects.keda.sh', '-A']).then(
        () => true,
        () => false,
      )
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('the ScaledObject kind was never served');
}

export async function applyBase(): Promise<void> {
  await kubectl(['apply', '-k', join(ROOT, 'demo/base')]);
}

export async function configMap(): Promise<{
  data: Record<string, string>;
  metadata: { resourceVersion: string; annotations?: Record<string, string> };
}> {
  return JSON.parse(await kubectl(['get', 'configmap', 'app-config', '-n', NAMESPACE, '-o', 'json']));
}

/** Runs `kubectl maintenance` against the shared control plane, as its admin or as another user with `kubeconfig`. */
export function plugin(args: string[], kubeconfig?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { kubectl: binary, kubeconfig: admin } = plane();
  return runPlugin(binary, kubeconfig ?? admin, args);
}
