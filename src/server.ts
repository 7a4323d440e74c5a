import { createAdaptorServer } from '@hono/node-server';
import type { Server } from 'node:http';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { Env } from './env.ts';
import type { Role } from './role-names.ts';
import { systemClock, type Clock } from './clock.ts';
import type { ConfigSource } from './config/source.ts';
import type { MaintenanceState } from './maintenance/state.ts';
import { createApp } from './http/app.ts';
import { Listener } from './http/listener.ts';
import { createCore } from './roles/core.ts';
import { Parts } from './roles/parts.ts';
import type { RoleSetup } from './roles/role.ts';
import { listenerSettings, serverOptions } from './roles/server-options.ts';
import { user } from './roles/user.ts';
import { admin } from './roles/admin.ts';
import { page } from './roles/page.ts';
import { gate } from './roles/gate.ts';

const ROLE_SETUPS: Record<Role, RoleSetup> = { user, admin, page, gate };

export interface RunningServer {
  url: string;
  port: number;
  /** The gate's proxy port, when UPSTREAM is set. */
  proxyUrl?: string;
  /** The probe port, when PROBE_PORT is set. */
  probeUrl?: string;
  state: MaintenanceState;
  source: ConfigSource;
  /** Fails readiness at once, keeps serving for the delay, then drains and stops. */
  shutdown(delayMs: number): Promise<void>;
}

/** The core every role shares, the role's own wiring on top, then its ports. */
export async function startServer(env: Env, log: Logger, clock: Clock = systemClock): Promise<RunningServer> {
  const core = await createCore(env, log, clock);
  const role = await ROLE_SETUPS[env.ROLE](core);
  const app = createApp({
    role: env.ROLE,
    podName: env.POD_NAME,
    state: core.state,
    metrics: core.metrics,
    lifecycle: core.lifecycle,
    sourceStatus: () => core.source.status(),
    bypassKey: () => core.bypassKey.status,
    surface: role.surface,
  });

  const serve = (fetch: Hono['fetch'], port: number) =>
    new Listener(createAdaptorServer({ fetch, serverOptions: serverOptions(env) }) as Server, port, listenerSettings(env, core.proxies));
  const main = serve(core.metrics.instrument(app), env.PORT);
  // The kubelet's probes, /status and /metrics on a port of their own, which no Service sends
  // user traffic to: no client can crowd the probes out.
  const probes = env.PROBE_PORT === undefined ? undefined : serve(probeApp(app).fetch, env.PROBE_PORT);
  const listeners = [main, ...(probes ? [probes] : []), ...(role.listeners ?? [])];

  const parts = new Parts([...core.parts, ...role.parts]);
  await parts.start();
  try {
    for (const listener of listeners) await listener.start();
  } catch (error) {
    await Promise.all(listeners.map((listener) => listener.stop()));
    await parts.stop();
    throw error;
  }
  const [proxy] = role.listeners ?? [];
  log.info(
    {
      port: main.port,
      host: env.HOST,
      configDir: env.CONFIG_DIR,
      ...(probes ? { probePort: probes.port } : {}),
      ...(proxy && env.UPSTREAM ? { proxyPort: proxy.port, upstream: env.UPSTREAM.host } : {}),
    },
    'listening',
  );

  let stopping: Promise<void> | null = null;
  const shutdown = (delayMs: number) => {
    stopping ??= (async () => {
      core.lifecycle.shuttingDown = true;
      log.info({ delayMs }, 'shutting down: readiness now fails, still serving during the delay');
      if (delayMs > 0) {
        // Keep-alive clients are told to reconnect, through the Service, to pods that stay.
        for (const listener of listeners) listener.markDraining();
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
      await Promise.all(listeners.map((listener) => listener.stop()));
      await parts.stop();
      log.info('stopped');
    })();
    return stopping;
  };

  return {
    url: main.url,
    port: main.port,
    ...(proxy ? { proxyUrl: proxy.url } : {}),
    ...(probes ? { probeUrl: probes.url } : {}),
    state: core.state,
    source: core.source,
    shutdown,
  };
}

const PROBE_PATHS = ['/livez', '/health', '/readyz', '/ready', '/status', '/metrics'];

/** The probe port's routes: the app's own probe, state and metrics handlers, and nothing else. */
function probeApp(app: Hono): Hono {
  const probes = new Hono();
  for (const path of PROBE_PATHS) probes.get(path, (c) => app.fetch(c.req.raw, c.env));
  probes.notFound((c) => c.json({ error: 'not_found', message: `the probe port serves ${PROBE_PATHS.join(', ')}` }, 404));
  return probes;
}
