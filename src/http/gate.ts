import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, type Duplex } from 'node:stream';
import { Hono } from 'hono';
import { getRequestListener } from '@hono/node-server';
import type { MaintenanceState } from '../maintenance/state.ts';
import { admit, isCanonicalPath, isPathAllowed, type Admission } from '../maintenance/policy.ts';
import { BYPASS_PATH, type Bypass } from './bypass.ts';
import { bypassMethodNotAllowed, bypassVisit, maintenanceResponse, upgradeRefusal } from './maintenance-answer.ts';
import type { ForwardOptions, UpstreamProxy } from './proxy.ts';
import type { ForwardedHead } from './forwarded-head.ts';
import { BodyTooLargeError, READ_ONLY_HEADER, READ_ONLY_VALUE, readBodyUpTo } from './read-only.ts';

export interface GateDeps {
  state: MaintenanceState;
  bypass: Bypass;
  proxy: UpstreamProxy;
  /** The largest GraphQL request body read to judge it in read-only mode. */
  graphqlMaxBytes: number;
}

export interface GateListeners {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Ends every open tunnel and stops rechecking them. */
  close(): void;
}

/** How a passed request is forwarded, by admission and read-only mode: made once, not per request. */
const FORWARD = {
  pass: [
    { private: false, readOnly: false },
    { private: false, readOnly: true },
  ],
  private: [
    { private: true, readOnly: false },
    { private: true, readOnly: true },
  ],
} as const satisfies Record<'pass' | 'private', readonly [ForwardOptions, ForwardOptions]>;

/** How often open tunnels are checked again during maintenance: a rotated key or an expired bypass ends them within this. */
const TUNNEL_RECHECK_MS = 2_000;

/**
 * The gate's proxy port. Requests go straight to the application unless maintenance holds
 * them; then the gate answers with the 503 page itself, except for allowed paths and bypass
 * holders. Only those answers go through Hono: the forwarding path is Node's own http.
 */
export function createGateListeners({ state, bypass, proxy, graphqlMaxBytes }: GateDeps): GateListeners {
  const answers = new Hono();
  answers.get(BYPASS_PATH, (c) => bypassVisit(c, bypass));
  answers.all(BYPASS_PATH, bypassMethodNotAllowed);
  answers.all('*', (c) =>
    maintenanceResponse(
      c,
      state.current.config,
      state.clock.now(),
      state.current.cause,
      state.current.readOnly ? 'read-only' : 'maintenance',
    ),
  );
  const hono = getRequestListener(answers.fetch);
  /** The gate's own answer; in read-only mode it carries the read-only header, as every answer then does. */
  const answer = (req: IncomingMessage, res: ServerResponse) => {
    if (state.current.readOnly) res.setHeader(READ_ONLY_HEADER, READ_ONLY_VALUE);
    void hono(req, res);
  };

  /** Whether the request goes to the application; `private` when only a bypass let it through. */
  // Only a canonical path can be allowed here: the application, not this gate, resolves the path.
  // An upgraded connection (a WebSocket) carries writes as easily as reads: read-only mode
  // treats it as a write, so only allowed paths and bypass holders open one.
  const route = (req: IncomingMessage, upgrade = false): Admission =>
    admit(state.current, {
      method: upgrade ? 'UPGRADE' : req.method,
      matches: (prefixes) => {
        const url = req.url ?? '/';
        const query = url.indexOf('?');
        const path = query === -1 ? url : url.slice(0, query);
        // The prefix first: most paths match none, and then no URL is parsed for the canonical check.
        return isPathAllowed(prefixes, path) && isCanonicalPath(path);
      },
      isBypassed: () => {
        const forwardedFor = req.headers[bypass.settings.proxies.header];
        return bypass.admits({
          peer: req.socket.remoteAddress,
          cookie: req.headers.cookie,
          forwardedFor: Array.isArray(forwardedFor) ? forwardedFor.join(', ') : forwardedFor,
        });
      },
    });

  /**
   * A GraphQL request in read-only mode: its body (up to the cap) is read and judged, then
   * forwarded whole with its length, or refused. Nothing reaches the application before the verdict.
   */
  const judgeThenForward = async (req: IncomingMessage, res: ServerResponse, head: ForwardedHead) => {
    let body: Buffer;
    try {
      body =
        req.method === 'POST'
          ? await readBodyUpTo(Readable.toWeb(req) as ReadableStream<Uint8Array>, graphqlMaxBytes, req.headers['content-length'])
          : Buffer.alloc(0);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      // The rest of the body is never read: the connection closes after the refusal.
      res.shouldKeepAlive = false;
      answer(req, res);
      return;
    }
    // Loaded on the first GraphQL request judged: the graphql package weighs on no other gate.
    const { judgeGraphql } = await import('../maintenance/graphql.ts');
    const verdict = judgeGraphql({
      method: req.method ?? 'GET',
      contentType: req.headers['content-type'],
      search: new URL(req.url ?? '/', 'http://gate.invalid').searchParams,
      body: body.toString('utf8'),
    });
    // The state may have changed while the body arrived: a read passes unless maintenance is on now.
    const { active, readOnly } = state.current;
    if (verdict.read && !active) proxy.forward(req, res, head, { private: false, readOnly, ...(req.method === 'POST' ? { body } : {}) });
    else answer(req, res);
  };

  // Open tunnels with the request that opened them. Maintenance ends every tunnel that it
  // would not let open now: at once when it starts, and on each recheck while it lasts, so a
  // rotated key or an expired bypass cuts the tunnels it had let through.
  const tunnels = new Map<Duplex, IncomingMessage>();
  const recheckTunnels = () => {
    if (!state.current.active && !state.current.readOnly) return;
    for (const [socket, req] of tunnels) {
      if (route(req, true) === 'hold') socket.destroy();
    }
  };
  const unsubscribe = state.onChange((view, previous) => {
    if ((view.active && !previous.active) || (view.readOnly && !previous.readOnly)) recheckTunnels();
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
        answer(req, res);
        return;
      }
      const decision = route(req);
      if (decision === 'hold') answer(req, res);
      else if (decision === 'graphql') judgeThenForward(req, res, head).catch(() => res.destroy());
      else proxy.forward(req, res, head, FORWARD[decision][state.current.readOnly ? 1 : 0]);
    },
    upgrade(req, socket, head) {
      const forwardedHead = proxy.admitUpgrade(req, socket);
      if (forwardedHead === null) return;
      const decision = route(req, true);
      if (decision !== 'hold') {
        tunnels.set(socket, req);
        socket.once('close', () => tunnels.delete(socket));
        if (cancelRecheck === null) scheduleRecheck();
        proxy.upgrade(req, socket, head, forwardedHead);
        return;
      }
      socket.end(upgradeRefusal(state.current.config, state.clock.now(), state.current.readOnly ? 'read-only' : 'maintenance'));
    },
    close() {
      unsubscribe();
      cancelRecheck?.();
      for (const socket of tunnels.keys()) socket.destroy();
    },
  };
}
