import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Hono } from 'hono';
import { getRequestListener } from '@hono/node-server';
import type { MaintenanceState } from '../maintenance/state.ts';
import { admit, isCanonicalPath, isPathAllowed, type Admission } from '../maintenance/policy.ts';
import { BYPASS_PATH, type Bypass } from './bypass.ts';
import { bypassMethodNotAllowed, bypassVisit, maintenanceResponse, upgradeRefusal } from './maintenance-answer.ts';
import type { UpstreamProxy } from './proxy.ts';

export interface GateDeps {
  state: MaintenanceState;
  bypass: Bypass;
  proxy: UpstreamProxy;
}

export interface GateListeners {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Ends every open tunnel and stops rechecking them. */
  close(): void;
}

/** How often open tunnels are checked again during maintenance: a rotated key or an expired bypass ends them within this. */
const TUNNEL_RECHECK_MS = 2_000;

/**
 * The gate's proxy port. Requests go straight to the application unless maintenance holds
 * them; then the gate answers with the 503 page itself, except for allowed paths and bypass
 * holders. Only those answers go through Hono: the forwarding path is Node's own http.
 */
export function createGateListeners({ state, bypass, proxy }: GateDeps): GateListeners {
  const answers = new Hono();
  answers.get(BYPASS_PATH, (c) => bypassVisit(c, bypass));
  answers.all(BYPASS_PATH, bypassMethodNotAllowed);
  answers.all('*', (c) => maintenanceResponse(c, state.current.config, state.clock.now(), state.current.cause));
  const answer = getRequestListener(answers.fetch);

  /** Whether the request goes to the application; `private` when only a bypass let it through. */
  // Only a canonical path can be allowed here: the application, not this gate, resolves the path.
  const route = (req: IncomingMessage): Admission =>
    admit(
      state.current,
      (allowPaths) => {
        const url = req.url ?? '/';
        const query = url.indexOf('?');
        const path = query === -1 ? url : url.slice(0, query);
        return isCanonicalPath(path) && isPathAllowed(allowPaths, path);
      },
      () => {
        const forwardedFor = req.headers[bypass.settings.proxies.header];
        return bypass.admits({
          peer: req.socket.remoteAddress,
          cookie: req.headers.cookie,
          forwardedFor: Array.isArray(forwardedFor) ? forwardedFor.join(', ') : forwardedFor,
        });
      },
    );

  // Open tunnels with the request that opened them. Maintenance ends every tunnel that it
  // would not let open now: at once when it starts, and on each recheck while it lasts, so a
  // rotated key or an expired bypass cuts the tunnels it had let through.
  const tunnels = new Map<Duplex, IncomingMessage>();
  const recheckTunnels = () => {
    if (!state.current.active) return;
    for (const [socket, req] of tunnels) {
      if (route(req) === 'hold') socket.destroy();
    }
  };
  const unsubscribe = state.onChange((view, previous) => {
    if (view.active && !previous.active) recheckTunnels();
  });
  let cancelRecheck: (() => void) | null = null;
  const scheduleRecheck = () => {
    cancelRecheck = state.clock.setTimer(() => {
      cancelRecheck = null;
      recheckTunnels();
      if (tunnels.size > 0) scheduleRecheck();
    }, TUNNEL_RECHECK_MS);
  };

  const isBypassVisit = (url: string | undefined) =>
    url?.startsWith(BYPASS_PATH) === true && (url.length === BYPASS_PATH.length || url[BYPASS_PATH.length] === '?');

  return {
    request(req, res) {
      const head = proxy.admit(req, res);
      if (head === null) return;
      if (isBypassVisit(req.url)) {
        void answer(req, res);
        return;
      }
      const decision = route(req);
      if (decision === 'hold') void answer(req, res);
      else proxy.forward(req, res, head, decision === 'private');
    },
    upgrade(req, socket, head) {
      const forwardedHead = proxy.admitUpgrade(req, socket);
      if (forwardedHead === null) return;
      const decision = route(req);
      if (decision !== 'hold') {
        tunnels.set(socket, req);
        socket.once('close', () => tunnels.delete(socket));
        if (cancelRecheck === null) scheduleRecheck();
        proxy.upgrade(req, socket, head, forwardedHead);
        return;
      }
      socket.end(upgradeRefusal(state.current.config, state.clock.now()));
    },
    close() {
      unsubscribe();
      cancelRecheck?.();
      for (const socket of tunnels.keys()) socket.destroy();
    },
  };
}
