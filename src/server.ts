import type { AddressInfo } from 'node:net';
import { createServer, type Server, type ServerOptions } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { Env } from './env.ts';
import { ConfigStore } from './config/store.ts';
import { describeConfig } from './config/parse.ts';
import { ApiSource } from './config/api-source.ts';
import { chooseSource, type ConfigSource } from './config/source.ts';
import { VolumeSource } from './config/volume-source.ts';
import { hasKubernetesCredentials, kubernetes } from './k8s/client.ts';
import { endpointSliceInformer } from './k8s/endpointslices.ts';
import { FleetWatch } from './fleet/fleet-watch.ts';
import { FleetTracker } from './fleet/tracker.ts';
import { liveState, type LiveState } from './http/admin/live.ts';
import { FallbackReadiness } from './fleet/fallback.ts';
import { configMapInformer } from './k8s/configmaps.ts';
import { systemClock, type Clock } from './clock.ts';
import { MaintenanceState } from './maintenance/state.ts';
import { createApp, type Lifecycle } from './http/app.ts';
import { createMetrics, fleetMetrics, type Metrics } from './http/metrics.ts';
import type { AdminSettings } from './http/admin/setup.ts';
import { ConnectionDrain } from './http/drain.ts';
import { BypassKey } from './config/bypass-key.ts';
import { Bypass } from './http/bypass.ts';
import { CidrList } from './cidr.ts';
import { TrustedProxies } from './http/client-address.ts';
import { UpstreamProxy } from './http/proxy.ts';
import { ConnectionLimit } from './http/connection-limit.ts';
import { UpstreamReadiness } from './http/upstream-readiness.ts';
import { createGateListeners } from './http/gate.ts';

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
  /** The gate's proxy port, when UPSTREAM is set. */
  proxyUrl?: string;
  /** The probe port, when PROBE_PORT is set. */
  probeUrl?: string;
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

  // Every role reads the bypass key: the admin role signs links with it, the others verify them.
  const bypassKey = new BypassKey(env.BYPASS_KEY_DIR, clock, log);
  const proxies = new TrustedProxies(env.TRUSTED_PROXY_CIDRS, env.TRUSTED_PROXY_HEADER);
  const bypass =
    env.ROLE === 'admin'
      ? undefined
      : new Bypass({
          key: () => bypassKey.current,
          networks: new CidrList(env.MAINTENANCE_BYPASS_CIDRS),
          proxies,
          secureCookie: env.BYPASS_COOKIE_SECURE,
          clock,
          registry: metrics.registry,
        });
  const upstream = env.ROLE === 'gate' ? env.UPSTREAM : undefined;
  const proxy = upstream
    ? new UpstreamProxy({
        upstream,
        connectTimeoutMs: env.UPSTREAM_CONNECT_TIMEOUT_SECONDS * 1000,
        responseTimeoutMs: env.UPSTREAM_RESPONSE_TIMEOUT_SECONDS * 1000,
        bodyIdleTimeoutMs: env.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
        proxies,
        registry: metrics.registry,
        log,
      })
    : undefined;
  const upstreamReadiness =
    upstream && env.UPSTREAM_READY_PATH
      ? new UpstreamReadiness(new URL(env.UPSTREAM_READY_PATH, upstream), env.UPSTREAM_READY_INTERVAL_SECONDS * 1000, clock, log)
      : undefined;

  // The admin tier (and the page tier) follow the user Service's EndpointSlices, in a cluster.
  const fleet = await createFleet(env, log, clock, state, metrics);

  // Loaded by the admin role only: user pods do not carry the panel's code in memory.
  const admin =
    env.ROLE === 'admin'
      ? await (await import('./http/admin/setup.ts')).createAdmin(
          adminSettings(env, bypassKey, liveState(state, fleet?.tracker ?? null)),
          log,
          metrics.registry,
        )
      : undefined;
  // The gate's proxy port, once it exists: its readiness counts whether that port can take one more connection.
  let proxyListener: Listener | null = null;
  const app = createApp({
    role: env.ROLE,
    podName: env.POD_NAME,
    store,
    state,
    metrics,
    lifecycle,
    sourceStatus: () => source.status(),
    bypassKey: () => bypassKey.status,
    ...(admin ? { admin } : {}),
    ...(bypass && env.ROLE !== 'gate' ? { bypass } : {}),
    ...(upstreamReadiness ? { upstreamHealth: () => upstreamReadiness.health } : {}),
    ...(fleet?.fallback ? { fallback: fleet.fallback } : {}),
    readyGraceMs: env.MAINTENANCE_READY_GRACE_SECONDS * 1000,
    ...(proxy
      ? {
          proxyAccepting: () => proxyListener?.server.listening === true && proxyListener.limit.total < env.MAX_CONNECTIONS,
        }
      : {}),
  });

  const serverOptions: ServerOptions = {
    keepAliveTimeout: env.HTTP_KEEP_ALIVE_TIMEOUT_SECONDS * 1000,
    headersTimeout: env.HTTP_HEADERS_TIMEOUT_SECONDS * 1000,
    requestTimeout: env.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
    // How often those timeouts are checked; Node's default of 30 s lets a slow client overstay by that much.
    connectionsCheckingInterval: 1_000,
  };
  const servers: Listener[] = [
    listener(createAdaptorServer({ fetch: metrics.instrument(app), serverOptions }) as Server, env.PORT, env, proxies),
  ];
  if (env.PROBE_PORT !== undefined) {
    // The kubelet's probes, /status and /metrics on a port of their own, which no Service
    // sends user traffic to: no client can crowd the probes out.
    servers.push(listener(createAdaptorServer({ fetch: probeApp(app).fetch, serverOptions }) as Server, env.PROBE_PORT, env, proxies));
  }
  const gate = proxy && bypass ? createGateListeners({ state, bypass, proxy }) : null;
  if (gate) {
    // Through the proxy a body may take as long as it needs while it moves; the proxy cuts it
    // when it stalls for HTTP_REQUEST_TIMEOUT_SECONDS instead.
    const proxyServer = createServer({ ...serverOptions, requestTimeout: 0 }, gate.request);
    proxyServer.on('upgrade', gate.upgrade);
    proxyListener = listener(proxyServer, env.PROXY_PORT, env, proxies);
    servers.push(proxyListener);
  }

  const stopParts = async () => {
    admin?.close();
    fleet?.fallback?.stop();
    await fleet?.watch.stop();
    upstreamReadiness?.stop();
    gate?.close();
    proxy?.close();
    bypassKey.stop();
    await source.stop();
    state.close();
    metrics.close();
  };

  await bypassKey.start();
  await source.start();
  void fleet?.watch.start();
  fleet?.fallback?.start();
  upstreamReadiness?.start();
  const ports: number[] = [];
  try {
    for (const { server, port } of servers) ports.push(await listen(server, port, env.HOST));
  } catch (error) {
    for (const { server } of servers) server.close();
    await stopParts();
    throw error;
  }
  const drains = servers.map(({ server }) => new ConnectionDrain(server));
  const [port] = ports as [number, ...number[]];
  const proxyPort = proxyListener ? ports[servers.indexOf(proxyListener)] : undefined;
  const probePort = env.PROBE_PORT !== undefined ? ports[1] : undefined;
  const host = env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST;
  const urlFor = (listening: number) => `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${listening}`;
  log.info(
    {
      port,
      host: env.HOST,
      configDir: env.CONFIG_DIR,
      ...(probePort !== undefined ? { probePort } : {}),
      ...(upstream ? { proxyPort, upstream: upstream.host } : {}),
    },
    'listening',
  );

  let stopping: Promise<void> | null = null;
  const shutdown = (delayMs: number) => {
    stopping ??= (async () => {
      lifecycle.shuttingDown = true;
      log.info({ delayMs }, 'shutting down: readiness now fails, still serving during the delay');
      if (delayMs > 0) {
        // Keep-alive clients are told to reconnect, through the Service, to pods that stay.
        for (const drain of drains) drain.markDraining();
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
      await Promise.all(drains.map((drain) => drain.drain(DRAIN_TIMEOUT_MS)));
      await stopParts();
      log.info('stopped');
    })();
    return stopping;
  };

  return {
    url: urlFor(port),
    port,
    ...(proxyPort !== undefined ? { proxyUrl: urlFor(proxyPort) } : {}),
    ...(probePort !== undefined ? { probeUrl: urlFor(probePort) } : {}),
    store,
    state,
    source,
    shutdown,
  };
}

interface Listener {
  server: Server;
  port: number;
  limit: ConnectionLimit;
}

/** A serving port, capped in all (MAX_CONNECTIONS) and per client (MAX_CONNECTIONS_PER_CLIENT). */
function listener(server: Server, port: number, env: Env, proxies: TrustedProxies): Listener {
  server.maxConnections = env.MAX_CONNECTIONS;
  return { server, port, limit: new ConnectionLimit(server, env.MAX_CONNECTIONS_PER_CLIENT, proxies) };
}

const PROBE_PATHS = ['/livez', '/health', '/readyz', '/ready', '/status', '/metrics'];

/** The probe port's routes: the app's own probe, state and metrics handlers, and nothing else. */
function probeApp(app: Hono): Hono {
  const probes = new Hono();
  for (const path of PROBE_PATHS) probes.get(path, (c) => app.fetch(c.req.raw, c.env));
  probes.notFound((c) => c.json({ error: 'not_found', message: `the probe port serves ${PROBE_PATHS.join(', ')}` }, 404));
  return probes;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(host, port, { cause: error }) : error),
    );
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

async function createSource(env: Env, log: Logger, clock: Clock): Promise<ConfigSource> {
  if (chooseSource(env) === 'volume') return new VolumeSource(env.CONFIG_DIR, log);
  const clients = await kubernetes();
  const ref = { namespace: env.POD_NAMESPACE, name: env.CONFIGMAP_NAME };
  return new ApiSource({ ...ref, clock, informer: () => configMapInformer(clients, ref) }, log);
}

/**
 * The user Service's EndpointSlices, followed by the admin role (for the fleet view) and the
 * page role (for its readiness), when there are Kubernetes credentials and FLEET_SERVICE is
 * not `none`.
 */
async function createFleet(env: Env, log: Logger, clock: Clock, state: MaintenanceState, metrics: Metrics) {
  if ((env.ROLE !== 'admin' && env.ROLE !== 'page') || env.FLEET_SERVICE === 'none' || !hasKubernetesCredentials()) return null;
  const clients = await kubernetes();
  const watch = new FleetWatch(
    { service: env.FLEET_SERVICE, clock, informer: () => endpointSliceInformer(clients, env.POD_NAMESPACE, env.FLEET_SERVICE) },
    log,
  );
  if (env.ROLE === 'page') {
    const fallback = new FallbackReadiness({
      clock,
      endpoints: () => watch.endpoints,
      synced: () => watch.synced,
      ...(env.FLEET_STATUS_PORT !== undefined ? { statusPort: env.FLEET_STATUS_PORT } : {}),
    });
    watch.onChange(() => void fallback.poll());
    return { watch, tracker: null, fallback };
  }
  const observeConvergence = fleetMetrics(metrics.registry, () => tracker.view);
  const tracker: FleetTracker = new FleetTracker({
    clock,
    status: () => watch.status,
    synced: () => watch.synced,
    onConverged: observeConvergence,
    warnAfterSeconds: env.FLEET_WARN_SECONDS,
  });
  tracker.setActive(state.current.active);
  state.onChange((view) => tracker.setActive(view.active));
  watch.onChange((endpoints) => tracker.setEndpoints(endpoints));
  return { watch, tracker, fallback: null };
}

function adminSettings(env: Env, bypassKey: BypassKey, live: LiveState): AdminSettings {
  return {
    auth: env.ADMIN_AUTH === 'token' ? { mode: 'token', file: env.ADMIN_TOKEN_FILE! } : { mode: env.ADMIN_AUTH },
    writer: env.CONFIG_WRITER === 'directory' ? { to: 'directory', dir: env.CONFIG_DIR } : { to: 'configmap' },
    namespace: env.POD_NAMESPACE,
    configMapName: env.CONFIGMAP_NAME,
    podName: env.POD_NAME,
    trustedProxyCidrs: env.TRUSTED_PROXY_CIDRS,
    trustedProxyHeader: env.TRUSTED_PROXY_HEADER,
    maxBodyBytes: env.ADMIN_MAX_BODY_BYTES,
    authAttemptsPerMinute: env.ADMIN_AUTH_ATTEMPTS_PER_MINUTE,
    bypassLinks: {
      key: () => bypassKey.current,
      problem: () => (bypassKey.status.state === 'loaded' ? null : bypassKey.status.problem),
      ...(env.PUBLIC_URL ? { publicUrl: env.PUBLIC_URL } : {}),
    },
    live,
  };
}
