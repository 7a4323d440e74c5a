// A real single-node Kubernetes on this machine, without Docker or systemd, after the manner of
// Kubernetes' hack/local-up-cluster.sh: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, containerd with runc, a kubelet and kube-proxy, with CNI bridge networking.
// It needs root. `npm run cluster` and the cluster tests both start it through startNodeCluster().
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { issue, makeCa, runKubectl, waitUntil, watchExit, type Pki } from './control-plane.ts';

const run = promisify(execFile);

export interface NodeClusterSettings {
  /** Everything of the cluster's lives here; wiped at teardown. */
  dir: string;
  /** The API server's address: on a bridge of its own with no ports, outside the pod and service CIDRs, so pods can reach it. */
  apiAddress: string;
  apiPort: number;
  podCidr: string;
  serviceCidr: string;
  /** The first address of the service CIDR: the `kubernetes` Service. */
  kubernetesServiceIp: string;
  etcdPort: number;
  kubeletHealthzPort: number;
  kubeProxyHealthzPort: number;
  kubeProxyMetricsPort: number;
  /** metrics-server's port on the API address, behind the aggregation layer's APIService. */
  metricsServerPort: number;
  /** The kubelet's periodic sync, which bounds how late a ConfigMap volume is updated. */
  kubeletSyncFrequency: string;
  nodeName: string;
}

export function nodeClusterSettings(env: NodeJS.ProcessEnv = process.env): NodeClusterSettings {
  const port = (name: string, fallback: number) => {
    const value = Number(env[name] ?? fallback);
    if (!Number.isInteger(value) || value < 1 || value > 65535)
      throw new Error(`${name}=${JSON.stringify(env[name])} must be a port number`);
    return value;
  };
  return {
    dir: env.CLUSTER_DIR ?? '/var/lib/maintenance-switch-cluster',
    apiAddress: env.CLUSTER_API_ADDRESS ?? '10.245.255.1',
    apiPort: port('CLUSTER_API_PORT', 6443),
    podCidr: env.CLUSTER_POD_CIDR ?? '10.244.0.0/24',
    serviceCidr: env.CLUSTER_SERVICE_CIDR ?? '10.96.0.0/24',
    kubernetesServiceIp: env.CLUSTER_KUBERNETES_SERVICE_IP ?? '10.96.0.1',
    etcdPort: port('CLUSTER_ETCD_PORT', 23790),
    kubeletHealthzPort: port('CLUSTER_KUBELET_HEALTHZ_PORT', 10248),
    kubeProxyHealthzPort: port('CLUSTER_KUBE_PROXY_HEALTHZ_PORT', 10256),
    kubeProxyMetricsPort: port('CLUSTER_KUBE_PROXY_METRICS_PORT', 10249),
    metricsServerPort: port('CLUSTER_METRICS_SERVER_PORT', 4443),
    kubeletSyncFrequency: env.CLUSTER_KUBELET_SYNC_FREQUENCY ?? '1m',
    nodeName: env.CLUSTER_NODE_NAME ?? 'ms-node',
  };
}

export interface NodeClusterBinaries {
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
  kubelet: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubeProxy: string;
  metricsServer: string;
}

export interface NodeClusterImages {
  /** docker-archives to import: the project's image and the pause image. */
  archives: string[];
}

export interface NodeCluster {
  settings: NodeClusterSettings;
  kubeconfig: string;
  server: string;
  binaries: NodeClusterBinaries;
  kubectl(args: string[], options?: { input?: string; env?: NodeJS.ProcessEnv }): Promise<string>;
  /** The containerd socket, for `ctr`. */
  containerdSocket: string;
  stop(): Promise<void>;
}

const API_BRIDGE = 'msapi0';
const POD_BRIDGE = 'mscni0';
const SANDBOX_IMAGE = 'pause:local';

/** Files that outlive a run on purpose, beside the cluster's directory: the lock and what to restore. */
const lockFile = (settings: NodeClusterSettings) => `${settings.dir}.lock`;
const savedSysctlsFile = (settings: NodeClusterSettings) => `${settings.dir}.sysctls.json`;
const SYSCTLS = ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/bridge/bridge-nf-call-iptables'];

async function sh(command: string, args: string[]): Promise<string> {
  const { stdout } = await run(command, args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}
const quiet = (command: string, args: string[]) => sh(command, args).catch(() => '');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One cluster at a time: the lock names the process that holds it; a dead holder's lock is stale. */
function takeLock(settings: NodeClusterSettings): boolean {
  const file = lockFile(settings);
  if (existsSync(file)) {
    const holder = Number(readFileSync(file, 'utf8').trim());
    if (holder !== process.pid && alive(holder)) throw new Error(`another cluster is running (process ${holder} holds ${file})`);
  }
  const stale = existsSync(file) || existsSync(settings.dir);
  writeFileSync(file, String(process.pid));
  return stale;
}

/**
 * Removes everything a cluster leaves on the machine: its processes (and the containers'
 * shims), the mounts under its directory, the pods' network namespaces, both bridges, the
 * iptables chains of kube-proxy and CNI, the pods' cgroups, the kubelet's directories, and
 * the sysctls it changed. Safe to run on a half-started or crashed cluster.
 */
export async function cleanUpNodeCluster(
  settings: NodeClusterSettings,
  binaries: Pick<NodeClusterBinaries, 'kubeProxy'> | null,
): Promise<void> {
  const { dir } = settings;
  // Processes: those recorded, then anything still running from the cluster's directory (the shims).
  const pidsFile = join(dir, 'pids');
  const pids = existsSync(pidsFile)
    ? readFileSync(pidsFile, 'utf8')
        .split('\n')
        .map(Number)
        .filter((pid) => pid > 0)
    : [];
  const fromDir = (await quiet('pgrep', ['-f', dir]))
    .split('\n')
    .map(Number)
    .filter((pid) => pid > 0 && pid !== process.pid);
  const victims = [...new Set([...pids.reverse(), ...fromDir])].filter(alive);
  for (const pid of victims) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (victims.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  for (const pid of victims.filter(alive)) process.kill(pid, 'SIGKILL');
  // Container processes whose shim died with it: anything left in the pods' cgroups.
  for (const cgroup of podCgroups()) {
    for (const pid of readLines(join(cgroup, 'cgroup.procs')).map(Number)) if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
  }

  // Mounts under the directory, deepest first; then the pods' network namespaces.
  for (let round = 0; round < 3; round++) {
    const mounts = readLines('/proc/self/mountinfo')
      .map((line) => line.split(' ')[4] ?? '')
      .filter((point) => point === dir || point.startsWith(`${dir}/`))
      .sort((a, b) => b.length - a.length);
    if (mounts.length === 0) break;
    for (const point of mounts) await quiet('umount', ['-l', point]);
  }
  for (const netns of existsSync('/var/run/netns') ? readdirSync('/var/run/netns') : []) {
    if (netns.startsWith('cni-')) await quiet('ip', ['netns', 'delete', netns]);
  }

  // Network: the bridges, kube-proxy's chains, CNI's chains.
  for (const bridge of [POD_BRIDGE, API_BRIDGE]) await quiet('ip', ['link', 'delete', bridge]);
  if (binaries) await quiet(binaries.kubeProxy, ['--cleanup', '--proxy-mode=iptables']);
  // Each table is saved, stripped of every KUBE- and CNI- chain and of the rules that jump to
  // them, and restored whole: nothing else in it changes.
  for (const table of ['nat', 'filter', 'mangle']) {
    const saved = await quiet('iptables-save', ['-t', table]);
    const ours = /^:(KUBE|CNI)-|^-A (KUBE|CNI)-|-j (KUBE|CNI)-/;
    if (!saved.split('\n').some((line) => ours.test(line))) continue;
    const kept = saved
      .split('\n')
      .filter((line) => !ours.test(line))
      .join('\n');
    await new Promise<void>((resolve) => {
      const restore = spawn('iptables-restore', [], { stdio: ['pipe', 'ignore', 'ignore'] });
      restore.on('close', () => resolve());
      restore.on('error', () => resolve());
      restore.stdin.end(kept);
    });
  }

  // cgroups the kubelet made, deepest first.
  for (const cgroup of podCgroups().sort((a, b) => b.length - a.length)) {
    try {
      rmdirSync(cgroup);
    } catch {
      // busy or gone
    }
  }

  // Directories, and the sysctls as they were.
  await rm(dir, { recursive: true, force: true });
  for (const path of ['/var/lib/kubelet', '/var/log/pods', '/var/log/containers']) await rm(path, { recursive: true, force: true });
  if (existsSync(savedSysctlsFile(settings))) {
    const saved = JSON.parse(readFileSync(savedSysctlsFile(settings), 'utf8')) as Record<string, string>;
    for (const [path, value] of Object.entries(saved)) writeFileSync(path, value);
    await rm(savedSysctlsFile(settings), { force: true });
  }
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line !== '');
  } catch {
    return [];
  }
}

/** Every cgroup directory the kubelet made (`kubepods` and below), in every v1 controller. */
function podCgroups(): string[] {
  const found: string[] = [];
  const walk = (path: string) => {
    found.push(path);
    for (const entry of readdirSync(path, { withFileTypes: true })) if (entry.isDirectory()) walk(join(path, entry.name));
  };
  for (const controller of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) {
    const root = join('/sys/fs/cgroup', controller, 'kubepods');
    if (existsSync(root) && statSync(root).isDirectory()) walk(root);
  }
  return found;
}

/** What teardown must have removed; empty when the machine is clean. */
export async function leftovers(settings: NodeClusterSettings): Promise<string[]> {
  const problems: string[] = [];
  // Every process of the cluster names its directory in its arguments (a container shim names
  // containerd's socket there); other clusters on the machine, such as the e2e tests' control plane, do not count.
  for (const line of (await quiet('pgrep', ['-a', '-f', settings.dir])).split('\n')) {
    const [pid, command] = [Number(line.split(' ')[0]), line.split(' ')[1] ?? ''];
    if (pid > 0 && pid !== process.pid && !command.endsWith('pgrep')) problems.push(`process ${command.split('/').at(-1)} (${pid})`);
  }
  if (readLines('/proc/self/mountinfo').some((line) => (line.split(' ')[4] ?? '').startsWith(settings.dir)))
    problems.push(`mounts under ${settings.dir}`);
  if (existsSync('/var/run/netns') && readdirSync('/var/run/netns').some((name) => name.startsWith('cni-')))
    problems.push('pod network namespaces');
  for (const bridge of [POD_BRIDGE, API_BRIDGE])
    if ((await quiet('ip', ['link', 'show', bridge])).trim() !== '') problems.push(`bridge ${bridge}`);
  for (const table of ['nat', 'filter']) {
    if (/^-N (KUBE|CNI)-/m.test(await quiet('iptables', ['-t', table, '-S']))) problems.push(`iptables chains in ${table}`);
  }
  if (podCgroups().length > 0) problems.push('kubepods cgroups');
  if (existsSync(settings.dir)) problems.push(`directory ${settings.dir}`);
  if (existsSync('/var/lib/kubelet')) problems.push('/var/lib/kubelet');
  return problems;
}

const CONFIGS = new URL('./node-cluster/', import.meta.url);

/** A configuration file of this folder with its `{{name}}` placeholders filled; an unknown one fails. */
export function fillConfig(name: string, values: Record<string, string | number>): string {
  const template = readFileSync(new URL(name, CONFIGS), 'utf8');
  return template.replace(/\{\{(\w+)\}\}/g, (_match, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`${name} needs a value for {{${key}}}`);
    return String(value);
  });
}

async function writeKubeconfig(path: string, server: string, ca: string, user: { cert: string; key: string }): Promise<string> {
  const b64 = async (file: string) => (await readFile(file)).toString('base64');
  await writeFile(
    path,
    fillConfig('kubeconfig.yaml', { server, caData: await b64(ca), certData: await b64(user.cert), keyData: await b64(user.key) }),
  );
  return path;
}

/** What every part is started with: where it lives, how to start a logged process, and the cluster's CA. */
interface Node {
  settings: NodeClusterSettings;
  binaries: NodeClusterBinaries;
  dir: string;
  pki: Pki;
  server: string;
  kubectl: NodeCluster['kubectl'];
  /** Starts a process that logs to logs/NAME.log; the function returned says how it exited, once it has. */
  spawnLogged(name: string, command: string, args: string[]): () => string | null;
  log(line: string): void;
}

/** Sysctls, saved first so that teardown restores them. */
function enableForwarding(settings: NodeClusterSettings): void {
  if (!existsSync(savedSysctlsFile(settings))) {
    writeFileSync(
      savedSysctlsFile(settings),
      JSON.stringify(Object.fromEntries(SYSCTLS.filter(existsSync).map((path) => [path, readFileSync(path, 'utf8').trim()]))),
    );
  }
  for (const path of SYSCTLS.filter(existsSync)) writeFileSync(path, '1');
}

/** The API server's address, on a bridge with no ports (this kernel has no dummy module). */
async function addApiAddress(settings: NodeClusterSettings): Promise<void> {
  await sh('ip', ['link', 'add', API_BRIDGE, 'type', 'bridge']);
  await sh('ip', ['addr', 'add', `${settings.apiAddress}/32`, 'dev', API_BRIDGE]);
  await sh('ip', ['link', 'set', API_BRIDGE, 'up']);
}

async function startEtcd({ settings, binaries, dir, spawnLogged }: Node): Promise<() => string | null> {
  const exited = spawnLogged('etcd', binaries.etcd, [
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=http://127.0.0.1:${settings.etcdPort}`,
    `--advertise-client-urls=http://127.0.0.1:${settings.etcdPort}`,
    `--listen-peer-urls=http://127.0.0.1:${settings.etcdPort + 1}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${settings.etcdPort + 1}`,
    `--initial-cluster=default=http://127.0.0.1:${settings.etcdPort + 1}`,
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ]);
  await waitUntil('etcd', async () => (await fetch(`http://127.0.0.1:${settings.etcdPort}/health`)).ok, exited);
  return exited;
}

/** kube-apiserver, bound to and advertising the bridge address, so the kubernetes Service has a real endpoint. */
async function startApiServer(node: Node, serviceAccountKeys: { key: string; pub: string }): Promise<() => string | null> {
  const { settings, binaries, pki, kubectl, spawnLogged } = node;
  const serving = await issue(
    pki,
    'apiserver',
    '/CN=kube-apiserver',
    `IP:${settings.apiAddress},IP:${settings.kubernetesServiceIp},IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local`,
  );
  const toKubelet = await issue(pki, 'apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client');
  // The aggregation layer (metrics-server behind an APIService): the API server proves the
  // caller to it with a front-proxy certificate from a CA of its own, as kubeadm sets it up.
  const frontProxy = await makeCa(join(pki.dir, 'front-proxy'), '/CN=front-proxy-ca');
  const proxyClient = await issue(frontProxy, 'front-proxy-client', '/CN=front-proxy-client');
  const exited = spawnLogged('kube-apiserver', binaries.kubeApiserver, [
    `--etcd-servers=http://127.0.0.1:${settings.etcdPort}`,
    `--bind-address=${settings.apiAddress}`,
    `--advertise-address=${settings.apiAddress}`,
    `--secure-port=${settings.apiPort}`,
    `--tls-cert-file=${serving.cert}`,
    `--tls-private-key-file=${serving.key}`,
    `--client-ca-file=${pki.ca}`,
    `--kubelet-client-certificate=${toKubelet.cert}`,
    `--kubelet-client-key=${toKubelet.key}`,
    `--service-cluster-ip-range=${settings.serviceCidr}`,
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${serviceAccountKeys.pub}`,
    `--service-account-signing-key-file=${serviceAccountKeys.key}`,
    '--allow-privileged=true',
    // Logs and exec reach the kubelet by its InternalIP, never by a name to look up.
    '--kubelet-preferred-address-types=InternalIP',
    `--requestheader-client-ca-file=${frontProxy.ca}`,
    '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-username-headers=X-Remote-User',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    `--proxy-client-cert-file=${proxyClient.cert}`,
    `--proxy-client-key-file=${proxyClient.key}`,
    // To the APIService's endpoint address itself, not through its ClusterIP.
    '--enable-aggregator-routing=true',
    '--v=0',
  ]);
  await waitUntil('kube-apiserver', async () => (await kubectl(['get', '--raw', '/readyz'])).trim() === 'ok', exited);
  node.log(`kube-apiserver serving on ${node.server}`);
  return exited;
}

async function startControllerManager(node: Node, serviceAccountKey: string): Promise<() => string | null> {
  const { settings, pki, dir, server } = node;
  const client = await issue(pki, 'kube-controller-manager', '/CN=system:kube-controller-manager');
  return node.spawnLogged('kube-controller-manager', node.binaries.kubeControllerManager, [
    `--kubeconfig=${await writeKubeconfig(join(dir, 'kube-controller-manager.kubeconfig'), server, pki.ca, client)}`,
    `--service-account-private-key-file=${serviceAccountKey}`,
    `--root-ca-file=${pki.ca}`,
    '--use-service-account-credentials=true',
    `--service-cluster-ip-range=${settings.serviceCidr}`,
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    '--secure-port=0',
    // The HPA sets aside the CPU of an unready pod for its first 5 minutes by default; the
    // tests' pods are a few minutes old when maintenance starts, as a long-running fleet is not.
    '--horizontal-pod-autoscaler-cpu-initialization-period=20s',
    '--v=0',
  ]);
}

/**
 * metrics-server, as a process on the node like the other parts, registered with the
 * aggregation layer (APIService v1beta1.metrics.k8s.io, through a Service without a selector
 * whose endpoint is this address), with the RBAC of its own manifests: the HPA controller reads
 * pod CPU from it. It scrapes each kubelet's /metrics/resource, trusting the kubelet's
 * certificate from the cluster's CA. Not waited for: its first scrape takes a resolution.
 */
async function startMetricsServer(node: Node): Promise<() => string | null> {
  const { settings, pki, dir, server, kubectl } = node;
  const rbac = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'system:metrics-server' },
        rules: [
          { apiGroups: [''], resources: ['nodes/metrics'], verbs: ['get'] },
          { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] },
        ],
      },
      ...[
        ['system:metrics-server', 'system:metrics-server'],
        ['metrics-server:system:auth-delegator', 'system:auth-delegator'],
      ].map(([name, role]) => ({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:metrics-server' }],
      })),
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'metrics-server-auth-reader', namespace: 'kube-system' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'extension-apiserver-authentication-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:metrics-server' }],
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'metrics-server', namespace: 'kube-system' },
        spec: { ports: [{ name: 'https', port: 443, targetPort: settings.metricsServerPort, protocol: 'TCP' }] },
      },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: 'metrics-server-node',
          namespace: 'kube-system',
          labels: { 'kubernetes.io/service-name': 'metrics-server', 'endpointslice.kubernetes.io/managed-by': 'maintenance-switch-test' },
        },
        addressType: 'IPv4',
        ports: [{ name: 'https', port: settings.metricsServerPort, protocol: 'TCP' }],
        endpoints: [{ addresses: [settings.apiAddress], conditions: { ready: true } }],
      },
      {
        apiVersion: 'apiregistration.k8s.io/v1',
        kind: 'APIService',
        metadata: { name: 'v1beta1.metrics.k8s.io' },
        spec: {
          service: { name: 'metrics-server', namespace: 'kube-system', port: 443 },
          group: 'metrics.k8s.io',
          version: 'v1beta1',
          caBundle: readFileSync(pki.ca).toString('base64'),
          groupPriorityMinimum: 100,
          versionPriority: 100,
        },
      },
    ],
  };
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify(rbac) });
  const client = await issue(pki, 'metrics-server-client', '/CN=system:metrics-server');
  const serving = await issue(
    pki,
    'metrics-server',
    '/CN=metrics-server',
    `IP:${settings.apiAddress},DNS:metrics-server.kube-system.svc,DNS:metrics-server.kube-system.svc.cluster.local`,
  );
  const kubeconfig = await writeKubeconfig(join(dir, 'metrics-server.kubeconfig'), server, pki.ca, client);
  return node.spawnLogged('metrics-server', node.binaries.metricsServer, [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    `--bind-address=${settings.apiAddress}`,
    `--secure-port=${settings.metricsServerPort}`,
    `--tls-cert-file=${serving.cert}`,
    `--tls-private-key-file=${serving.key}`,
    `--kubelet-certificate-authority=${pki.ca}`,
    '--kubelet-preferred-address-types=InternalIP',
    '--metric-resolution=15s',
    '--v=0',
  ]);
}

async function startScheduler(node: Node): Promise<() => string | null> {
  const client = await issue(node.pki, 'kube-scheduler', '/CN=system:kube-scheduler');
  return node.spawnLogged('kube-scheduler', node.binaries.kubeScheduler, [
    `--kubeconfig=${await writeKubeconfig(join(node.dir, 'kube-scheduler.kubeconfig'), node.server, node.pki.ca, client)}`,
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    '--secure-port=0',
    '--v=0',
  ]);
}

/** containerd, with its root, state, socket and CNI config under the cluster's directory, and the images imported. */
async function startContainerd(node: Node, images: NodeClusterImages): Promise<{ socket: string; exited: () => string | null }> {
  const { dir, settings } = node;
  const containerdDir = join(dir, 'containerd');
  const cniConfDir = join(dir, 'cni', 'net.d');
  await mkdir(cniConfDir, { recursive: true });
  await writeFile(
    join(cniConfDir, '10-pods.conflist'),
    fillConfig('pods.conflist', { bridge: POD_BRIDGE, podCidr: settings.podCidr, ipamDir: join(dir, 'cni', 'ipam') }),
  );
  const socket = join(containerdDir, 'containerd.sock');
  await mkdir(containerdDir, { recursive: true });
  await writeFile(
    join(containerdDir, 'config.toml'),
    fillConfig('containerd.toml', {
      root: join(containerdDir, 'root'),
      state: join(containerdDir, 'state'),
      socket,
      sandboxImage: SANDBOX_IMAGE,
      cniConfDir,
      opt: join(containerdDir, 'opt'),
    }),
  );
  const exited = node.spawnLogged('containerd', 'containerd', ['--config', join(containerdDir, 'config.toml')]);
  await waitUntil(
    'containerd',
    async () => existsSync(socket) && (await sh('ctr', ['--address', socket, 'version'])).includes('Server'),
    exited,
  );
  for (const archive of images.archives) {
    await sh('ctr', ['--address', socket, '-n', 'k8s.io', 'images', 'import', archive]);
    node.log(`imported ${archive}`);
  }
  return { socket, exited };
}

async function startKubelet(node: Node, containerdSocket: string): Promise<() => string | null> {
  const { settings, pki, dir, server } = node;
  const kubeletDir = join(dir, 'kubelet');
  await mkdir(kubeletDir, { recursive: true });
  await writeFile(join(kubeletDir, 'resolv.conf'), 'options ndots:1\n');
  await writeFile(
    join(kubeletDir, 'config.yaml'),
    fillConfig('kubelet.yaml', {
      clientCa: pki.ca,
      address: settings.apiAddress,
      healthzPort: settings.kubeletHealthzPort,
      containerdSocket,
      syncFrequency: settings.kubeletSyncFrequency,
      resolvConf: join(kubeletDir, 'resolv.conf'),
      ...(await issue(pki, 'kubelet-serving', `/CN=${settings.nodeName}`, `IP:${settings.apiAddress},DNS:${settings.nodeName}`).then(
        ({ cert, key }) => ({ tlsCert: cert, tlsKey: key }),
      )),
    }),
  );
  const client = await issue(pki, 'kubelet', `/O=system:nodes/CN=system:node:${settings.nodeName}`);
  return node.spawnLogged('kubelet', node.binaries.kubelet, [
    `--config=${join(kubeletDir, 'config.yaml')}`,
    `--kubeconfig=${await writeKubeconfig(join(dir, 'kubelet.kubeconfig'), server, pki.ca, client)}`,
    `--root-dir=${join(kubeletDir, 'root')}`,
    `--cert-dir=${join(kubeletDir, 'pki')}`,
    `--hostname-override=${settings.nodeName}`,
    `--node-ip=${settings.apiAddress}`,
    '--v=1',
  ]);
}

async function startKubeProxy(node: Node): Promise<() => string | null> {
  const { settings } = node;
  const client = await issue(node.pki, 'kube-proxy', '/CN=system:kube-proxy');
  return node.spawnLogged('kube-proxy', node.binaries.kubeProxy, [
    `--kubeconfig=${await writeKubeconfig(join(node.dir, 'kube-proxy.kubeconfig'), node.server, node.pki.ca, client)}`,
    '--proxy-mode=iptables',
    `--cluster-cidr=${settings.podCidr}`,
    `--hostname-override=${settings.nodeName}`,
    `--healthz-bind-address=127.0.0.1:${settings.kubeProxyHealthzPort}`,
    `--metrics-bind-address=127.0.0.1:${settings.kubeProxyMetricsPort}`,
    // Leave the machine's conntrack limits alone.
    '--conntrack-max-per-core=0',
    '--v=0',
  ]);
}

/** The node Ready, and the default ServiceAccount made: pods get tokens only once the controller manager made it. */
async function waitForNode({ settings, kubectl }: Node, anyExited: () => string | null): Promise<void> {
  await waitUntil(
    'the node to be Ready',
    async () =>
      (await kubectl(['get', 'node', settings.nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).trim() ===
      'True',
    anyExited,
    180_000,
  );
  await waitUntil(
    'the default ServiceAccount',
    async () => (await kubectl(['get', 'serviceaccount', 'default', '-o', 'name'])).trim() !== '',
    anyExited,
  );
}

/** The node, one part after another, in the order each needs the one before. */
export async function startNodeCluster(
  binaries: NodeClusterBinaries,
  images: NodeClusterImages,
  settings: NodeClusterSettings = nodeClusterSettings(),
  log: (line: string) => void = () => {},
): Promise<NodeCluster> {
  if (process.getuid?.() !== 0) throw new Error('the node cluster needs root (a kubelet, containerd, mounts and iptables)');
  if (takeLock(settings)) {
    log('cleaning up what an earlier cluster left behind');
    await cleanUpNodeCluster(settings, binaries);
    writeFileSync(lockFile(settings), String(process.pid));
  }
  const { dir } = settings;
  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const child of children.slice().reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      child.kill('SIGTERM');
    }
    await cleanUpNodeCluster(settings, binaries);
    await rm(lockFile(settings), { force: true });
  };

  try {
    await mkdir(join(dir, 'logs'), { recursive: true });
    const started = Date.now();
    const spawnLogged = (name: string, command: string, args: string[]) => {
      const out = openSync(join(dir, 'logs', `${name}.log`), 'a');
      const child = spawn(command, args, { stdio: ['ignore', out, out] });
      closeSync(out);
      children.push(child);
      writeFileSync(join(dir, 'pids'), `${children.map((c) => c.pid).join('\n')}\n`);
      const exited = watchExit(name, child, () => readFileSync(join(dir, 'logs', `${name}.log`), 'utf8'));
      log(`${name} started (pid ${child.pid}, log ${join(dir, 'logs', `${name}.log`)})`);
      return exited;
    };

    enableForwarding(settings);
    await addApiAddress(settings);
    // One CA for serving and clients; it is also kube-controller-manager's root CA for pods.
    const pki = await makeCa(join(dir, 'pki'), '/CN=maintenance-switch-test-ca');
    const serviceAccountKeys = await makeServiceAccountKeys(pki);
    const server = `https://${settings.apiAddress}:${settings.apiPort}`;
    const kubeconfig = await writeKubeconfig(
      join(dir, 'admin.kubeconfig'),
      server,
      pki.ca,
      await issue(pki, 'admin', '/O=system:masters/CN=cluster-admin'),
    );
    const kubectl: NodeCluster['kubectl'] = (args, options) => runKubectl(binaries.kubectl, kubeconfig, args, options);
    const node: Node = { settings, binaries, dir, pki, server, kubectl, spawnLogged, log };

    await startEtcd(node);
    const apiServer = await startApiServer(node, serviceAccountKeys);
    const controllerManager = await startControllerManager(node, serviceAccountKeys.key);
    const scheduler = await startScheduler(node);
    const containerd = await startContainerd(node, images);
    const kubelet = await startKubelet(node, containerd.socket);
    const kubeProxy = await startKubeProxy(node);
    await waitForNode(node, () => controllerManager() ?? scheduler() ?? kubelet() ?? kubeProxy() ?? apiServer() ?? containerd.exited());
    await startMetricsServer(node);
    log(`node ${settings.nodeName} is Ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);

    return { settings, kubeconfig, server, binaries, kubectl, containerdSocket: containerd.socket, stop };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}

/** The key pair the API server signs ServiceAccount tokens with, and the controller manager too. */
async function makeServiceAccountKeys(pki: Pki): Promise<{ key: string; pub: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = join(pki.dir, 'sa.key');
  const pub = join(pki.dir, 'sa.pub');
  await writeFile(key, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  return { key, pub };
}

/**
 * What the cluster needs, from the environment: KUBEBUILDER_ASSETS (etcd, kube-apiserver,
 * kubectl), CLUSTER_BINARIES (kubelet, kube-controller-manager, kube-scheduler, kube-proxy),
 * IMAGE_ARCHIVES (the pause image and the project's image, and optionally more, such as the
 * example app's, separated by commas), and the
 * Debian packages. Returns the problem as a string when something is missing.
 */
export function findNodeClusterParts(
  env: NodeJS.ProcessEnv = process.env,
): { binaries: NodeClusterBinaries; images: NodeClusterImages } | string {
  const assets = env.KUBEBUILDER_ASSETS;
  const node = env.CLUSTER_BINARIES;
  const binaries: NodeClusterBinaries = {
    etcd: join(assets ?? '', 'etcd'),
    kubeApiserver: join(assets ?? '', 'kube-apiserver'),
    kubectl: join(assets ?? '', 'kubectl'),
    kubelet: join(node ?? '', 'kubelet'),
    kubeControllerManager: join(node ?? '', 'kube-controller-manager'),
    kubeScheduler: join(node ?? '', 'kube-scheduler'),
    kubeProxy: join(node ?? '', 'kube-proxy'),
    metricsServer: env.METRICS_SERVER ?? '',
  };
  const archives = (env.IMAGE_ARCHIVES ?? '').split(',').filter((path) => path !== '');
  const missing = [
    ...(assets ? [] : ['KUBEBUILDER_ASSETS is not set (npm run envtest:assets)']),
    ...(node ? [] : ['CLUSTER_BINARIES is not set (bash scripts/cluster/build-binaries.sh)']),
    ...(env.METRICS_SERVER ? [] : ['METRICS_SERVER is not set (bash scripts/cluster/build-metrics-server.sh)']),
    ...(archives.length >= 2
      ? []
      : ['IMAGE_ARCHIVES must name the pause image and the image (npm run image prints both), then any other (npm run image:example)']),
    ...Object.values(binaries).filter((path) => (assets && node && env.METRICS_SERVER ? !existsSync(path) : false)),
    ...archives.filter((path) => !existsSync(path)),
    ...[
      '/usr/bin/containerd',
      '/usr/sbin/runc',
      '/usr/bin/ctr',
      '/usr/sbin/iptables',
      '/usr/lib/cni/bridge',
      '/usr/lib/cni/host-local',
      '/usr/lib/cni/portmap',
    ].filter((path) => !existsSync(path)),
  ];
  if (missing.length > 0) return `the node cluster cannot start: missing ${missing.join(', ')}`;
  if (process.getuid?.() !== 0) return 'the node cluster needs root';
  return { binaries, images: { archives } };
}

/** For scripts: the parts from the environment, or exit 1 saying what is missing; then the cluster. */
export async function startNodeClusterFromEnvironment(): Promise<{ cluster: NodeCluster; binaries: NodeClusterBinaries }> {
  const parts = findNodeClusterParts();
  if (typeof parts === 'string') {
    console.error(parts);
    process.exit(1);
  }
  const cluster = await startNodeCluster(parts.binaries, parts.images, nodeClusterSettings(), (line) => console.error(`[cluster] ${line}`));
  return { cluster, binaries: parts.binaries };
}
