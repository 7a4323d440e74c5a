import { Server as NetServer, type Socket } from 'node:net';
import type { Server, ServerResponse } from 'node:http';

/** An idle connection gets this long, from the start of the drain, to send one more request. */
const IDLE_GRACE_MS = 1_000;
const SWEEP_MS = 50;

interface Connection {
  responses: Set<ServerResponse>;
  idleSince: number;
}

/**
 * Ends connections only between requests. Node's own `server.close()` destroys every idle
 * connection at once, including one whose next request is already on its way (the client
 * then sees a reset), and `closeIdleConnections()` cannot tell those apart. This tracks
 * connections itself: during a drain every response says `Connection: close`, an idle
 * connection is ended only after it stayed silent for a grace period, and whatever is
 * left when the drain times out is cut.
 */
export class ConnectionDrain {
  readonly #connections = new Map<Socket, Connection>();
  readonly #server: Server;
  #draining = false;

  constructor(server: Server) {
    this.#server = server;
    server.on('connection', (socket: Socket) => {
      this.#connections.set(socket, { responses: new Set(), idleSince: Date.now() });
      socket.once('close', () => this.#connections.delete(socket));
    });
    // Prepended, so the header is set before any handler can send the response.
    server.prependListener('request', (_request, response: ServerResponse) => {
      const connection = this.#connections.get(response.socket as Socket);
      if (this.#draining) response.setHeader('Connection', 'close');
      if (connection === undefined) return;
      connection.responses.add(response);
      response.once('close', () => {
        connection.responses.delete(response);
        connection.idleSince = Date.now();
      });
    });
  }

  /** From now on, every response tells its client to close the connection. */
  markDraining(): void {
    if (this.#draining) return;
    this.#draining = true;
    for (const { responses } of this.#connections.values()) {
      for (const response of responses) {
        if (!response.headersSent) response.setHeader('Connection', 'close');
      }
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
    const sweep = setInterval(() => {
      const now = Date.now();
      for (const [socket, connection] of this.#connections) {
        if (now - started >= timeoutMs) socket.destroy();
        else if (connection.responses.size === 0 && now - Math.max(connection.idleSince, started) >= IDLE_GRACE_MS) socket.end();
      }
    }, SWEEP_MS);
    await closed;
    clearInterval(sweep);
  }
}
