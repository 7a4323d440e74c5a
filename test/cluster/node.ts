import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { runKubectl, patchConfigMapArgs } from '../../scripts/lib/control-plane.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const NAMESPACE = 'sample-app';

const provided = inject('nodeCluster');
export const skipReason: string | null = 'skip' in provided ? provided.skip : null;
function cluster() {
  if ('skip' in provided) throw new Error(provided.skip);
  return provided;
}
export const syncFrequency = () => cluster().syncFrequency;

export function kubectl(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return runKubectl(cluster().kubectl, cluster().kubeconfig, args, options);
}
export const kubectlBinary = () => cluster().kubectl;
export const kubeconfig = () => cluster().kubeconfig;

export async function getJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

export interface Pod {
  metadata: { name: string; uid: string; labels: Record<string, string>; annotations?: Record<string, string> };
  spec: { automountServiceAccountToken?: boolean; volumes?: { name: string; projected?: unknown }[] };
  status: {
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { containerID?: string; restartCount: number; lastState?: { terminated?: { reason?: string } } }[];
  };
}

/** The pods of a tier of the demo, by their app.kubernetes.io/component label. */
export const pods = (component: string, namespace = NAMESPACE) => podsMatching(`app.kubernetes.io/component=${component}`, namespace);

/** The pods that match a label selector, less those being deleted. */
export async function podsMatching(selector: string, namespace = NAMESPACE): Promise<Pod[]> {
  const list = await getJson<{ items: (Pod & { metadata: { deletionTimestamp?: string } })[] }>([
    'get',
    'pods',
    '-n',
    namespace,
    '-l',
    selector,
  ]);
  return list.items.filter((pod) => pod.metadata.deletionTimestamp === undefined);
}

export const isReady = (pod: Pod) =>
  pod.status.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') === true;

/** The endpoints of a Service as its EndpointSlices say: address → ready. */
export async function endpoints(service: string, namespace = NAMESPACE): Promise<Map<string, boolean>> {
  const slices = await getJson<{ items: { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] }[] }>([
    'get',
    'endpointslices',
    '-n',
    namespace,
    '-l',
    `kubernetes.io/service-name=${service}`,
  ]);
  const result = new Map<string, boolean>();
  for (const slice of slices.items)
    for (const endpoint of slice.endpoints ?? []) result.set(endpoint.addresses[0]!, endpoint.conditions?.ready === true);
  return result;
}

export async function clusterIp(service: string, namespace = NAMESPACE): Promise<string> {
  return (await kubectl(['get', 'service', service, '-n', namespace, '-o', 'jsonpath={.spec.clusterIP}'])).trim();
}

export async function setMode(mode: 'true' | 'false'): Promise<void> {
  await kubectl(patchConfigMapArgs(NAMESPACE, { MAINTENANCE_MODE: mode }));
}

/** The host process of a pod's first container, found through containerd. */
export async function containerProcess(pod: Pod): Promise<number> {
  const id = pod.status.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, '');
  if (!id) throw new Error(`pod ${pod.metadata.name} has no container yet`);
  const { stdout } = await promisify(execFile)('ctr', ['--address', cluster().containerdSocket, '-n', 'k8s.io', 'tasks', 'ls']);
  const line = stdout.split('\n').find((row) => row.startsWith(id));
  if (!line) throw new Error(`no task for container ${id}`);
  return Number(line.split(/\s+/)[1]);
}

export function procFile(pid: number, name: string): string {
  return readFileSync(join('/proc', String(pid), name), 'utf8');
}

/** One request on a fresh connection (so kube-proxy picks an endpoint each time). */
export function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Milliseconds since `start`, as seconds with one decimal, for the printed measurements. */
export const since = (start: number) => `${((Date.now() - start) / 1000).toFixed(1)} s`;

/** A clean namespace: each test file brings the overlay it needs, and leaves nothing for the next. */
export async function resetNamespace(): Promise<void> {
  await kubectl(['delete', 'namespace', NAMESPACE, '--ignore-not-found', '--wait=true', '--timeout=300s']);
}
