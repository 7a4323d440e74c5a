import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Connections } from './connections.ts';
import type { TrustedProxies } from './client-address.ts';

/** The port is taken: a one-line reason, without a stack, is all the operator needs. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(host: string, port: number, options: ErrorOptions) {
    super(`port ${port} on ${host} is in use`, options);
  }
}

/** Requests still running this long after the listener closed are cut, so shutdown always ends. */
const DRAIN_TIMEOUT_MS = 10_000;

export interface ListenerSettings {
  host: string;
  /** In all (MAX_CONNECTIONS) and per client (MAX_CONNECTIONS_PER_CLIENT). */
  maxConnections: number;
  maxConnectionsPerClient: number;
  /** HTTP_FIRST_REQUEST_TIMEOUT_SECONDS, in ms. */
  firstRequestTimeoutMs: number;
  proxies: TrustedProxies;
}

/**
 * One serving port, capped in all and per client (idle connections make room for new ones).
 * Started, it listens; stopped, it drains: idle connections end between requests, and what
 * still runs after the drain timeout is cut.
 */
export class Listener {
  readonly server: Server;
  readonly connections: Connections;
  readonly #requestedPort: number;
  readonly #host: string;
  #port: number | null = null;

  constructor(server: Server, port: number, settings: ListenerSettings) {
    this.server = server;
    this.connections = new Connections(server, settings);
    this.#requestedPort = port;
    this.#host = settings.host;
  }

  /** The port it listens on (the one the system chose, for port 0), once started. */
  get port(): number {
    if (this.#port === null) throw new Error(`the listener for port ${this.#requestedPort} has not started`);
    return this.#port;
  }

  get url(): string {
    const host = this.#host.includes(':') ? `[${this.#host}]` : this.#host;
    return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${this.port}`;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'EADDRINUSE' ? new PortInUseError(this.#host, this.#requestedPort, { cause: error }) : error),
      );
      this.server.listen(this.#requestedPort, this.#host, () => {
        this.#port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** From now on every response tells its client to close the connection. */
  markDraining(): void {
    this.connections.markDraining();
  }

  async stop(): Promise<void> {
    if (this.#port === null) this.server.close();
    else await this.connections.drain(DRAIN_TIMEOUT_MS);
  }
}
