import type { ServerOptions } from 'node:http';
import type { Env } from '../env.ts';
import type { TrustedProxies } from '../http/client-address.ts';
import type { ListenerSettings } from '../http/listener.ts';

/** The HTTP timeouts of every port a role serves. */
export function serverOptions(env: Env): ServerOptions {
  return {
    keepAliveTimeout: env.HTTP_KEEP_ALIVE_TIMEOUT_SECONDS * 1000,
    headersTimeout: env.HTTP_HEADERS_TIMEOUT_SECONDS * 1000,
    requestTimeout: env.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
    // How often those timeouts are checked; Node's default of 30 s lets a slow client overstay by that much.
    connectionsCheckingInterval: 1_000,
  };
}

/** The connection caps and host of every port a role serves. */
export function listenerSettings(env: Env, proxies: TrustedProxies): ListenerSettings {
  return {
    host: env.HOST,
    maxConnections: env.MAX_CONNECTIONS,
    maxConnectionsPerClient: env.MAX_CONNECTIONS_PER_CLIENT,
    firstRequestTimeoutMs: env.HTTP_FIRST_REQUEST_TIMEOUT_SECONDS * 1000,
    proxies,
  };
}
