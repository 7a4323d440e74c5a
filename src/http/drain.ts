import { Server as NetServer, type Socket } from 'node:net';
import type { Server, ServerResponse } from 'node:http';

/** An idle connection gets this long, since the drain began or it was last busy, to send one more request. */
const IDLE_GRACE_MS = 1_000;
const SWEEP_MS = 50;

interface Connection {
  /** The connection's latest response; it is in flight until `writableFinished`. */
  current: ServerResponse | null;
  idleSince: number;
}

const busy = (connection: Connection) => connection.current !== null && !connection.current.writableFinished;

/**
 * Ends connections only between requests. Node's own `server.close()` destroys every idle
 * connection at once, including one whose next request is already on its way (the client
 * then sees a reset), and `closeIdleConnections()` cannot tell those apart. This tracks
 * connections itself: during a drain every response says `Connection: close`, an idle
 * connection is ended only after it stayed silent for a grace period, and whatever is
 * left when the drain times out is cut. Per request it only records the response: this
 * runs on every request of the measured path.
 */
export class ConnectionDrain {
  readonly #connections = new Map<Socket, Connection>();
  readonly #server: Server;
  #draining = false;

  constructor(server: Server) {
    this.#server = server;
    server.on('connection', (socket: Socket) => {
      this.#connections.set(socket, { current: null, idleSince: 0 });
      socket.once('close', () => this.#connections.delete(socket));
    });
    // Prepended, so the header is set before any handler can send the response.
    server.prependListener('request', (_request, response: ServerResponse) => {
      const connection = this.#connections.get(response.socket as Socket);
      if (connection !== undefined) connection.current = response;
      if (this.#draining) response.setHeader('Connection', 'close');
    });
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
        else if (busy(connection)) connection.idleSince = now;
        else if (now - connection.idleSince >= IDLE_GRACE_MS) socket.end();
      }
    }, SWEEP_MS);
    await closed;
    clearInterval(sweep);
  }
}
