import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { Logger } from 'pino';
import type { Env } from './env.ts';
import { ConfigStore } from './config/store.ts';
import { describeConfig } from './config/parse.ts';
import { ApiSource } from './config/api-source.ts';
import { chooseSource, type ConfigSource } from './config/source.ts';
import { VolumeSource } from './config/volume-source.ts';
import { kubernetes } from './k8s/client.ts';
import { configMapInformer } from './k8s/configmaps.ts';
import { systemClock, type Clock } from './clock.ts';
import { MaintenanceState } from './maintenance/state.ts';
import { createApp, type Lifecycle } from './http/app.ts';
import { createMetrics } from './http/metrics.ts';
import type { AdminSettings } from './http/admin/setup.ts';
import { ConnectionDrain } from './http/drain.ts';

/** The port is taken: a one-line reason, without a stack, is all the operator needs. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(host: string, port: number, options: ErrorOptions) {
    super(`port ${port} on ${host} is in use`, options);
  }
}

/** Requests still running this long after the listener closed are cut, so shutdown always ends. */
const DRAIN_TIMEOUT_MS = 10_000;

export interface RunningServer {
  url: string;
  port: number;
  store: ConfigStore;
  state: MaintenanceState;
  source: ConfigSource;
  /** Fails readiness at once, keeps serving for the delay, then drains and stops. */
  shutdown(delayMs: number): Promise<void>;
}

export async function startServer(env: Env, log: Logger, clock: Clock = systemClock): Promise<RunningServer> {
  const source = await createSource(env, log, clock);
  const store = new ConfigStore(() => new Date(clock.now()));
  source.observe(store.observer);
  store.subscribe((event) => {
    if (event.type === 'applied') log.info({ config: describeConfig(event.config) }, 'config applied');
    else if (event.cause === 'invalid') log.error({ error: event.detail }, 'config rejected, keeping the last good state');
  });
  const state = new MaintenanceState(store, clock);
  const metrics = createMetrics(store, state);
  const lifecycle: Lifecycle = { shuttingDown: false };

  state.onChange((view, previous) => {
    if (view.active !== previous.active) {
      log.info({ maintenance: view.active, cause: view.cause }, view.active ? 'maintenance on' : 'maintenance off');
    }
  });

  // Loaded by the admin role only: user pods do not carry the panel's code in memory.
  const admin = env.ROLE === 'admin' ? await (await import('./http/admin/setup.ts')).createAdmin(adminSettings(env), log, metrics.registry) : undefined;
  const app = createApp({
    role: env.ROLE,
    podName: env.POD_NAME,
    store,
    state,
    metrics,
    lifecycle,
    sourceStatus: () => source.status(),
    ...(admin ? { admin } : {}),
  });

  await source.start();
  const server = await new Promise<Server>((resolve, reject) => {
    const instance = serve(
      {
        fetch: metrics.instrument(app),
        port: env.PORT,
        hostname: env.HOST,
        serverOptions: {
          keepAliveTimeout: env.HTTP_KEEP_ALIVE_TIMEOUT_SECONDS * 1000,
          headersTimeout: env.HTTP_HEADERS_TIMEOUT_SECONDS * 1000,
          requestTimeout: env.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
          // How often those timeouts are checked; Node's default of 30 s lets a slow client overstay by that much.
          connectionsCheckingInterval: 1_000,
        },
      },
      () => resolve(instance as Server),
    );
    instance.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(env.HOST, env.PORT, { cause: error }) : error),
    );
  }).catch(async (error: unknown) => {
    admin?.close();
    await source.stop();
    state.close();
    metrics.close();
    throw error;
  });
  server.maxConnections = env.MAX_CONNECTIONS;
  const connections = new ConnectionDrain(server);
  const { port } = server.address() as AddressInfo;
  const host = env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST;
  log.info({ port, host: env.HOST, configDir: env.CONFIG_DIR }, 'listening');

  let stopping: Promise<void> | null = null;
  const shutdown = (delayMs: number) => {
    stopping ??= (async () => {
      lifecycle.shuttingDown = true;
      log.info({ delayMs }, 'shutting down: readiness now fails, still serving during the delay');
      if (delayMs > 0) {
        // Keep-alive clients are told to reconnect, through the Service, to pods that stay.
        connections.markDraining();
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
      await connections.drain(DRAIN_TIMEOUT_MS);
      admin?.close();
      await source.stop();
      state.close();
      metrics.close();
      log.info('stopped');
    })();
    return stopping;
  };

  return { url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`, port, store, state, source, shutdown };
}

async function createSource(env: Env, log: Logger, clock: Clock): Promise<ConfigSource> {
  if (chooseSource(env) === 'volume') return new VolumeSource(env.CONFIG_DIR, log);
  const clients = await kubernetes();
  const ref = { namespace: env.POD_NAMESPACE, name: env.CONFIGMAP_NAME };
  return new ApiSource({ ...ref, clock, informer: () => configMapInformer(clients, ref) }, log);
}

function adminSettings(env: Env): AdminSettings {
  return {
    auth: env.ADMIN_AUTH === 'token' ? { mode: 'token', file: env.ADMIN_TOKEN_FILE! } : { mode: env.ADMIN_AUTH },
    writer: env.CONFIG_WRITER === 'directory' ? { to: 'directory', dir: env.CONFIG_DIR } : { to: 'configmap' },
    namespace: env.POD_NAMESPACE,
    configMapName: env.CONFIGMAP_NAME,
    podName: env.POD_NAME,
    trustedProxyCidrs: env.TRUSTED_PROXY_CIDRS,
    maxBodyBytes: env.ADMIN_MAX_BODY_BYTES,
    authAttemptsPerMinute: env.ADMIN_AUTH_ATTEMPTS_PER_MINUTE,
  };
}
