// A real Kubernetes control plane (etcd + kube-apiserver, no controllers) for tests and
// local development, following controller-runtime's envtest conventions.
import { PLUGIN_DIR } from './plugin.ts';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Binaries {
  kubeApiserver: string;
  etcd: string;
  kubectl: string;
}

/**
 * Finds the binaries the way envtest does: TEST_ASSET_KUBE_APISERVER, TEST_ASSET_ETCD and
 * TEST_ASSET_KUBECTL first, then the directory KUBEBUILDER_ASSETS. Returns the problem as a
 * string when something is missing, so callers can fail or skip with a clear reason.
 */
export function findBinaries(env: NodeJS.ProcessEnv = process.env): Binaries | string {
  const assets = env.KUBEBUILDER_ASSETS;
  const pick = (override: string | undefined, name: string) => override ?? (assets ? join(assets, name) : undefined);
  const binaries = {
    kubeApiserver: pick(env.TEST_ASSET_KUBE_APISERVER, 'kube-apiserver'),
    etcd: pick(env.TEST_ASSET_ETCD, 'etcd'),
    kubectl: pick(env.TEST_ASSET_KUBECTL, 'kubectl'),
  };
  const missing = Object.entries(binaries)
    .filter(([, path]) => path === undefined || !existsSync(path))
    .map(([name, path]) => `${name} (${path ?? 'KUBEBUILDER_ASSETS is not set'})`);
  if (missing.length > 0) {
    return `envtest binaries not found: ${missing.join(', ')}. Run \`npm run envtest:assets\` and export KUBEBUILDER_ASSETS to the directory it prints last.`;
  }
  return binaries as Binaries;
}

export interface ControlPlane {
  binaries: Binaries;
  /** https://127.0.0.1:PORT */
  server: string;
  /** A kubeconfig for an admin user (client certificate, O=system:masters). */
  kubeconfig: string;
  dir: string;
  /** Runs kubectl against this control plane as the admin, or with extra flags such as --token. */
  kubectl(args: string[], options?: { input?: string; env?: NodeJS.ProcessEnv }): Promise<string>;
  /** Kills kube-apiserver, as a crash would, and starts it again on the same port; every watch is cut. */
  restartApiServer(): Promise<void>;
  stop(): Promise<void>;
}

export class KubectlError extends Error {
  readonly code: number | null;
  readonly stderr: string;
  constructor(message: string, code: number | null, stderr: string) {
    super(message);
    this.code = code;
    this.stderr = stderr;
  }
}

/**
 * Runs `kubectl maintenance` the way kubectl runs a plugin: the built executable (`npm run
 * plugin`) found on PATH by this kubectl. Resolves with the exit code and both outputs, whatever the code.
 */
export async function runPlugin(
  binary: string,
  kubeconfig: string,
  args: string[],
  options: { pathPrefix?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const prefix = options.pathPrefix ? `${options.pathPrefix}:` : '';
  const child = spawn(binary, ['maintenance', ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig, PATH: `${prefix}${PLUGIN_DIR}:${dirname(binary)}:${process.env.PATH}` },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, stdout, stderr };
}

/** Runs kubectl with a kubeconfig; a non-zero exit becomes a KubectlError with its stderr. */
export async function runKubectl(
  binary: string,
  kubeconfig: string,
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const child = spawn(binary, [`--kubeconfig=${kubeconfig}`, ...args], { env: { ...process.env, ...options.env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  child.stdin.end(options.input ?? '');
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new KubectlError(`kubectl ${args.join(' ')} failed (${code}): ${stderr.trim()}`, code, stderr);
  return stdout;
}

/**
 * Writes a kubeconfig for the same cluster as `adminKubeconfig` that authenticates with a bearer
 * token, as a pod's service account would, and returns its path (beside the admin's).
 */
export async function writeTokenKubeconfig(adminKubeconfig: string, token: string, name: string, namespace = 'default'): Promise<string> {
  const admin = await readFile(adminKubeconfig, 'utf8');
  const ca = /certificate-authority-data: (\S+)/.exec(admin)![1];
  const server = /server: (\S+)/.exec(admin)![1];
  const path = join(dirname(adminKubeconfig), `kubeconfig-${name}`);
  await writeFile(
    path,
    `apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster: {server: ${server}, certificate-authority-data: ${ca}}
users:
- name: ${name}
  user: {token: ${token}}
contexts:
- name: ${name}
  context: {cluster: envtest, user: ${name}, namespace: ${namespace}}
current-context: ${name}
`,
  );
  return path;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (error) {
    throw new Error(`openssl ${args[0]} failed: ${(error as Error).message}`);
  }
}

/** A certificate authority in a directory: its certificate, key, and where it issues. */
export interface Pki {
  ca: string;
  caKey: string;
  dir: string;
}

/** A new CA, valid for two days, named NAME.crt and NAME.key in the directory. */
export async function makeCa(dir: string, subject: string, name = 'ca'): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  const ca = join(dir, `${name}.crt`);
  const caKey = join(dir, `${name}.key`);
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', ca, '-days', '2', '-subj', subject]);
  return { ca, caKey, dir };
}

/** A key and a certificate signed by the cluster's CA. */
export async function issue(pki: Pki, name: string, subject: string, altNames?: string): Promise<{ cert: string; key: string }> {
  const key = join(pki.dir, `${name}.key`);
  const csr = join(pki.dir, `${name}.csr`);
  const cert = join(pki.dir, `${name}.crt`);
  await openssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    subject,
    ...(altNames ? ['-addext', `subjectAltName=${altNames}`] : []),
  ]);
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    pki.ca,
    '-CAkey',
    pki.caKey,
    '-CAcreateserial',
    '-out',
    cert,
    '-days',
    '2',
    ...(altNames ? ['-copy_extensions', 'copy'] : []),
  ]);
  return { cert, key };
}

/** A CA for client certificates, and an admin client certificate signed by it. */
async function mintClientCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const pki = await makeCa(dir, '/CN=envtest-client-ca', 'client-ca');
  return { ca: pki.ca, ...(await issue(pki, 'admin', '/O=system:masters/CN=envtest-admin')) };
}

export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  exited: () => string | null,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exit = exited();
    if (exit !== null) throw new Error(`${what}: ${exit}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export function watchExit(name: string, child: ChildProcess, output: () => string): () => string | null {
  let exit: string | null = null;
  child.once('exit', (code, signal) => {
    exit = `${name} exited (${code ?? signal}):\n${output().slice(-3000)}`;
  });
  return () => exit;
}

export async function startControlPlane(binaries: Binaries, log: (line: string) => void = () => {}): Promise<ControlPlane> {
  const dir = await mkdtemp(join(tmpdir(), 'envtest-'));
  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const child of children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    // etcd
    const etcdPort = await freePort();
    const peerPort = await freePort();
    let etcdOutput = '';
    const etcd = spawn(binaries.etcd, [
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);
    children.push(etcd);
    etcd.stdout.on('data', (chunk: Buffer) => (etcdOutput += chunk));
    etcd.stderr.on('data', (chunk: Buffer) => (etcdOutput += chunk));
    const etcdExited = watchExit('etcd', etcd, () => etcdOutput);
    await waitUntil('etcd', async () => (await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok, etcdExited);
    log(`etcd listening on 127.0.0.1:${etcdPort}`);

    // kube-apiserver
    const certDir = join(dir, 'certs');
    await mkdir(certDir);
    const client = await mintClientCertificates(certDir);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const saKey = join(certDir, 'sa.key');
    const saPub = join(certDir, 'sa.pub');
    await writeFile(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(saPub, publicKey.export({ type: 'spki', format: 'pem' }));
    const apiPort = await freePort();
    const apiArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--cert-dir=${certDir}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      // No kubernetes Service endpoints to keep: nothing here can reach them.
      '--endpoint-reconciler-type=none',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=RBAC',
      '--disable-admission-plugins=ServiceAccount',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      `--client-ca-file=${client.ca}`,
      '--allow-privileged=true',
      '--v=0',
    ];
    let apiOutput = '';
    let apiserver: ChildProcess;
    let apiExited: () => string | null = () => null;
    const startApiServer = () => {
      apiOutput = '';
      apiserver = spawn(binaries.kubeApiserver, apiArgs);
      children.push(apiserver);
      apiserver.stdout!.on('data', (chunk: Buffer) => (apiOutput += chunk));
      apiserver.stderr!.on('data', (chunk: Buffer) => (apiOutput += chunk));
      apiExited = watchExit('kube-apiserver', apiserver, () => apiOutput);
    };
    startApiServer();

    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfig = join(dir, 'kubeconfig');
    const servingCa = join(certDir, 'apiserver.crt');
    await waitUntil(
      'kube-apiserver serving certificate',
      async () => existsSync(servingCa),
      () => apiExited(),
    );
    await writeFile(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster:
    server: ${server}
    certificate-authority-data: ${(await readFile(servingCa)).toString('base64')}
users:
- name: envtest-admin
  user:
    client-certificate-data: ${(await readFile(client.cert)).toString('base64')}
    client-key-data: ${(await readFile(client.key)).toString('base64')}
contexts:
- name: envtest
  context:
    cluster: envtest
    user: envtest-admin
    namespace: default
current-context: envtest
`,
    );
    const kubectl: ControlPlane['kubectl'] = (args, options) => runKubectl(binaries.kubectl, kubeconfig, args, options);
    const waitForApiServer = async () => {
      await waitUntil(
        'kube-apiserver',
        async () => (await kubectl(['get', '--raw', '/readyz'])).trim() === 'ok',
        () => apiExited(),
      );
      // RBAC's bootstrap roles (system:auth-delegator and friends) are created by a post-start hook.
      await waitUntil(
        'RBAC bootstrap roles',
        async () => (await kubectl(['get', 'clusterrole', 'system:auth-delegator', '-o', 'name'])).trim() !== '',
        () => apiExited(),
      );
    };
    await waitForApiServer();
    log(`kube-apiserver serving on ${server}`);

    const restartApiServer = async () => {
      const exited = new Promise((resolve) => apiserver.once('exit', resolve));
      apiserver.kill('SIGKILL');
      await exited;
      startApiServer();
      await waitForApiServer();
      log('kube-apiserver restarted');
    };

    return { binaries, server, kubeconfig, dir, kubectl, restartApiServer, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** kubectl's arguments for a JSON merge patch of a ConfigMap's data, as an operator types it by hand. */
export function patchConfigMapArgs(namespace: string, data: Record<string, string>, name = 'app-config'): string[] {
  return ['patch', 'configmap', name, '-n', namespace, '--type=merge', '-p', JSON.stringify({ data })];
}
