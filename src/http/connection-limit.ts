import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { normalize } from '../cidr.ts';
import type { TrustedProxies } from './client-address.ts';

/**
 * Connections one listener holds, in all and per client address. `MAX_CONNECTIONS` alone lets
 * one client take every slot with idle keep-alive connections; past `perClient`, a client's
 * next connection is closed at accept and the others' keep flowing. Trusted proxies are not
 * capped: every user behind them shares their address.
 */
export class ConnectionLimit {
  readonly #byClient = new Map<string, number>();
  #total = 0;

  constructor(server: Server, perClient: number, proxies: TrustedProxies) {
    server.on('connection', (socket: Socket) => {
      const address = socket.remoteAddress;
      if (address === undefined) {
        socket.destroy();
        return;
      }
      const client = normalize(address);
      const held = this.#byClient.get(client) ?? 0;
      if (held >= perClient && !proxies.trusts(client)) {
        socket.destroy();
        return;
      }
      this.#byClient.set(client, held + 1);
      this.#total++;
      socket.once('close', () => {
        this.#total--;
        const left = (this.#byClient.get(client) ?? 1) - 1;
        if (left === 0) this.#byClient.delete(client);
        else this.#byClient.set(client, left);
      });
    });
  }

  /** Connections open now, as counted at accept. */
  get total(): number {
    return this.#total;
  }
}
