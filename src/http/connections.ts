import { Server as NetServer, type Socket } from 'node:net';
import type { Server, ServerResponse } from 'node:http';
import { clientKey } from '../cidr.ts';
import type { TrustedProxies } from './client-address.ts';

export interface ConnectionRules {
  /** In all (MAX_CONNECTIONS) and per client (MAX_CONNECTIONS_PER_CLIENT; an IPv6 client is its /64). */
  maxConnections: number;
  maxConnectionsPerClient: number;
  /** A connection that has not sent a whole request head this long after it was accepted is cut. */
  firstRequestTimeoutMs: number;
  /** Not capped per client: every user behind them shares their address. */
  proxies: TrustedProxies;
}

interface Connection {
  client: string;
  /** When it was accepted, then when its latest request began (to the sweep's second). */
  activeAt: number;
  requests: number;
  /** The latest response; the connection is busy until it has finished. */
  current: ServerResponse | null;
  /** Handed over to an Upgrade handler: a tunnel is busy for as long as it lasts. */
  tunnel: boolean;
  idleSince: number;
}

const inFlight = (connection: Connection) => connection.current !== null && !connection.current.writableFinished;
const busy = (connection: Connection) => connection.tunnel || inFlight(connection);

/** An idle connection gets this long, since the drain began or it was last busy, to send one more request. */
const IDLE_GRACE_MS = 1_000;
const DRAIN_SWEEP_MS = 50;
const SWEEP_MS = 1_000;

/**
 * Every connection of one listener, from accept to close: the caps, and the drain.
 *
 * Caps. Idle connections cost a peer nothing to hold, so they never lock a port: at a cap (in
 * all, or the client's own share), a new connection takes the place of the longest-idle
 * connection that has no request in flight (the client's own, at its share), as nginx reuses
 * idle keep-alive slots. Only when every connection is busy is the new one closed at accept,
 * and only then is the port `full`. A connection that sends no whole request head within
 * `firstRequestTimeoutMs` of its accept is cut.
 *
 * Drain. Node's `server.close()` destroys every idle connection at once, including one whose
 * next request is already on its way (the client then sees a reset). During a drain every
 * response says `Connection: close`, an idle connection is ended only after it stayed silent
 * for a grace period, and whatever is left when the drain times out is cut.
 *
 * Per request this only records the response and the sweep's clock: it runs on every request
 * of the measured path.
 */
export class Connections {
  readonly #connections = new Map<Socket, Connection>();
  readonly #byClient = new Map<string, number>();
  readonly #server: Server;
  readonly #rules: ConnectionRules;
  readonly #sweep: NodeJS.Timeout;
  #now = Date.now();
  #draining = false;
  #evicted = 0;

  constructor(server: Server, rules: ConnectionRules) {
    this.#server = server;
    this.#rules = rules;
    server.on('connection', (socket: Socket) => this.#accept(socket));
    // Prepended, so the header is set before any handler can send the response.
    server.prependListener('request', (_request, response: ServerResponse) => {
      const connection = this.#connections.get(response.socket as Socket);
      if (connection !== undefined) {
        connection.current = response;
        connection.activeAt = this.#now;
        connection.requests++;
      }
      if (this.#draining) response.setHeader('Connection', 'close');
    });
    // Only where something takes upgrades: a server with no 'upgrade' listener answers them as requests.
    if (server.listenerCount('upgrade') > 0) {
      server.prependListener('upgrade', (request: { socket: Socket }) => {
        const connection = this.#connections.get(request.socket);
        if (connection !== undefined) connection.tunnel = true;
      });
    }
    this.#sweep = setInterval(() => this.#cutSilent(), SWEEP_MS);
    this.#sweep.unref();
  }

  /** Connections open now. */
  get total(): number {
    return this.#connections.size;
  }

  /** Connections closed to make room for a new one, since start. */
  get evicted(): number {
    return this.#evicted;
  }

  /** Whether a new connection would be closed at accept: every slot holds a request in flight. */
  get full(): boolean {
    if (this.#connections.size < this.#rules.maxConnections) return false;
    for (const connection of this.#connections.values()) if (!busy(connection)) return false;
    return true;
  }

  #accept(socket: Socket): void {
    const address = socket.remoteAddress;
    if (address === undefined) {
      socket.destroy();
      return;
    }
    const client = clientKey(address);
    const { maxConnections, maxConnectionsPerClient, proxies } = this.#rules;
    const ownShareFull = (this.#byClient.get(client) ?? 0) >= maxConnectionsPerClient && !proxies.trusts(address);
    if (ownShareFull && !this.#evictIdle((connection) => connection.client === client)) {
      socket.destroy();
      return;
    }
    if (this.#connections.size >= maxConnections && !this.#evictIdle(() => true)) {
      socket.destroy();
      return;
    }
    this.#now = Date.now();
    this.#connections.set(socket, { client, activeAt: this.#now, requests: 0, current: null, tunnel: false, idleSince: 0 });
    this.#byClient.set(client, (this.#byClient.get(client) ?? 0) + 1);
    socket.once('close', () => this.#forget(socket));
  }

  #forget(socket: Socket): void {
    const connection = this.#connections.get(socket);
    if (connection === undefined) return;
    this.#connections.delete(socket);
    const left = (this.#byClient.get(connection.client) ?? 1) - 1;
    if (left === 0) this.#byClient.delete(connection.client);
    else this.#byClient.set(connection.client, left);
  }

  /** Closes the longest-idle connection that `among` accepts and has no request in flight; false when there is none. */
  #evictIdle(among: (connection: Connection) => boolean): boolean {
    let victim: Socket | null = null;
    let oldest = Number.POSITIVE_INFINITY;
    for (const [socket, connection] of this.#connections) {
      if (connection.activeAt < oldest && !busy(connection) && among(connection)) {
        victim = socket;
        oldest = connection.activeAt;
      }
    }
    if (victim === null) return false;
    this.#evicted++;
    // Out of the counts at once: its 'close' comes later, after this accept.
    this.#forget(victim);
    victim.destroy();
    return true;
  }

  /** Cuts the connections that sent no whole request head in time, and keeps the per-request clock. */
  #cutSilent(): void {
    this.#now = Date.now();
    const deadline = this.#now - this.#rules.firstRequestTimeoutMs;
    for (const [socket, connection] of this.#connections) {
      if (connection.requests === 0 && !connection.tunnel && connection.activeAt <= deadline) socket.destroy();
    }
  }

  /** From now on, every response tells its client to close the connection. */
  markDraining(): void {
    if (this.#draining) return;
    this.#draining = true;
    for (const { current } of this.#connections.values()) {
      if (current !== null && !current.headersSent) current.setHeader('Connection', 'close');
    }
  }

  /**
   * Stops accepting, lets every request in flight finish, then ends the connections. The
   * listener closes before any client is told to reconnect: a client that reconnected to a
   * listener about to close could be reset by the kernel from the accept queue.
   */
  async drain(timeoutMs: number): Promise<void> {
    const started = Date.now();
    const closed = new Promise<void>((resolve) => {
      // net.Server's close: stop listening, without http.Server's destroying of idle connections.
      NetServer.prototype.close.call(this.#server, () => resolve());
    });
    this.markDraining();
    for (const connection of this.#connections.values()) connection.idleSince = started;
    const sweep = setInterval(() => {
      const now = Date.now();
      for (const [socket, connection] of this.#connections) {
        if (now - started >= timeoutMs) socket.destroy();
        else if (inFlight(connection)) connection.idleSince = now;
        else if (now - connection.idleSince >= IDLE_GRACE_MS) socket.end();
      }
    }, DRAIN_SWEEP_MS);
    await closed;
    clearInterval(sweep);
    clearInterval(this.#sweep);
  }
}
