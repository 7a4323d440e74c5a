import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadEnv } from '../../src/env.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { writeVolumeAtomically } from '../../src/config/kubelet-volume.ts';
import type { RawConfig } from '../../src/config/parse.ts';
import { checkedFetch } from './contract.ts';
import { waitFor } from './wait.ts';

export interface TestServer extends RunningServer {
  /** The ConfigMap mount directory, written only through the kubelet's sequence. */
  dir: string;
  write(payload: RawConfig): Promise<boolean>;
  get(path: string, init?: RequestInit): Promise<Response>;
  status(): Promise<Record<string, unknown>>;
  waitForReady(expected: number): Promise<void>;
  close(): Promise<void>;
}

export async function makeTempDir(prefix = 'maint-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** The real server, in process, on an ephemeral loopback port, against a real directory. */
export async function startTestServer(
  options: { role?: 'user' | 'admin' | 'page' | 'gate'; initial?: RawConfig | null; dir?: string; env?: Record<string, string> } = {},
): Promise<TestServer> {
  const root = await makeTempDir();
  const dir = options.dir ?? join(root, 'app-config');
  if (options.initial !== null) await writeVolumeAtomically(dir, options.initial ?? { MAINTENANCE_MODE: 'false' });
  const env = loadEnv({
    ROLE: options.role ?? 'user',
    PORT: '0',
    HOST: '127.0.0.1',
    CONFIG_DIR: dir,
    CONFIG_SOURCE: 'volume',
    POD_NAME: 'test-pod',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...options.env,
  });
  const server = await startServer(env, pino({ level: env.LOG_LEVEL }));
  // Every admin API answer a test gets is checked against the contract.
  const get = (path: string, init?: RequestInit) => checkedFetch(`${server.url}${path}`, init);
  return {
    ...server,
    dir,
    write: (payload) => writeVolumeAtomically(dir, payload),
    get,
    status: async () => (await (await get('/status')).json()) as Record<string, unknown>,
    waitForReady: async (expected) => {
      await waitFor(`/readyz to answer ${expected}`, async () => {
        const response = await get('/readyz');
        await response.text();
        return response.status === expected ? true : undefined;
      });
    },
    close: async () => {
      await server.shutdown(0);
      await rm(root, { recursive: true, force: true });
    },
  };
}
