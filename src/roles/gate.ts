import { createServer } from 'node:http';
import type { Hono } from 'hono';
import type { UpstreamProxy } from '../http/proxy.ts';
import { UpstreamReadiness, type UpstreamHealth } from '../http/upstream-readiness.ts';
import { createGateListeners } from '../http/gate.ts';
import { Listener } from '../http/listener.ts';
import { noAdminHere, notReady, type Readiness, type Surface } from '../http/app.ts';
import { bypassFor, type Core } from './core.ts';
import { onStop } from './parts.ts';
import type { RoleSetup } from './role.ts';
import { followsTheSwitch } from './user.ts';
import { listenerSettings, serverOptions } from './server-options.ts';

/**
 * The gate is a sidecar that puts any application in maintenance. Its readiness follows the
 * switch, like a user pod's; with UPSTREAM set it also proxies the application on PROXY_PORT,
 * answering the 503 page itself while maintenance holds a request. Its PORT carries only
 * probes, /status and /metrics.
 */
export const gate: RoleSetup = async (core) => {
  const { env } = core;
  const upstream = env.UPSTREAM;
  if (upstream === undefined) return { parts: [], surface: gateSurface(core, {}) };

  // Loaded only where there is something to proxy: undici weighs on no other role.
  const proxyModule = await import('../http/proxy.ts');
  const proxy: UpstreamProxy = new proxyModule.UpstreamProxy({
    upstream,
    connectTimeoutMs: env.UPSTREAM_CONNECT_TIMEOUT_SECONDS * 1000,
    responseTimeoutMs: env.UPSTREAM_RESPONSE_TIMEOUT_SECONDS * 1000,
    bodyIdleTimeoutMs: env.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
    proxies: core.proxies,
    registry: core.metrics.registry,
    log: core.log,
  });
  const upstreamReadiness = env.UPSTREAM_READY_PATH
    ? new UpstreamReadiness(new URL(env.UPSTREAM_READY_PATH, upstream), env.UPSTREAM_READY_INTERVAL_SECONDS * 1000, core.clock, core.log)
    : undefined;
  const handlers = createGateListeners({ state: core.state, bypass: bypassFor(core), proxy, graphqlMaxBytes: env.GRAPHQL_MAX_BODY_BYTES });
  // Through the proxy a body may take as long as it needs while it moves; the proxy cuts it
  // when it stalls for HTTP_REQUEST_TIMEOUT_SECONDS instead.
  const proxyServer = createServer({ ...serverOptions(env), requestTimeout: 0 }, handlers.request);
  proxyServer.on('upgrade', handlers.upgrade);
  const proxyPort = new Listener(proxyServer, env.PROXY_PORT, listenerSettings(env, core.proxies));
  return {
    parts: [onStop(() => proxy.close()), onStop(() => handlers.close()), ...(upstreamReadiness ? [upstreamReadiness] : [])],
    listeners: [proxyPort],
    surface: gateSurface(core, {
      proxyAccepting: () => proxyPort.server.listening && !proxyPort.connections.full,
      ...(upstreamReadiness ? { upstreamHealth: () => upstreamReadiness.health } : {}),
    }),
  };
};

interface GateChecks {
  /** Whether the proxy port can take one more connection (every slot busy with a request: it cannot); when it cannot, the gate is not ready. */
  proxyAccepting?: () => boolean;
  /** The application's own readiness, when UPSTREAM_READY_PATH is set. */
  upstreamHealth?: () => UpstreamHealth;
}

export function gateSurface(core: Pick<Core, 'state' | 'env'>, checks: GateChecks): Surface {
  const graceMs = core.env.MAINTENANCE_READY_GRACE_SECONDS * 1000;
  return {
    readiness(): Readiness {
      const switched = followsTheSwitch(core.state, graceMs);
      if (!switched.ready) return switched;
      if (checks.proxyAccepting?.() === false) return notReady('proxy_full');
      const upstream = checks.upstreamHealth?.();
      if (upstream !== undefined && upstream.state !== 'ready') return notReady('upstream_not_ready');
      return switched;
    },
    ...(checks.upstreamHealth ? { status: () => ({ upstream: checks.upstreamHealth!() }) } : {}),
    routes(app: Hono) {
      noAdminHere(app);
      // The application is behind the proxy port; this one carries probes, state and metrics only.
      app.notFound((c) =>
        c.json(
          {
            error: 'not_found',
            message: 'the gate serves /livez, /readyz, /status and /metrics here; the application is on its proxy port',
          },
          404,
        ),
      );
    },
  };
}
