import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Hono } from 'hono';
import { getRequestListener } from '@hono/node-server';
import type { MaintenanceState } from '../maintenance/state.ts';
import { isPathAllowed, retryAfterSeconds } from '../maintenance/policy.ts';
import { bypassVisit, maintenanceResponse } from './app.ts';
import { BYPASS_PATH, type Bypass } from './bypass.ts';
import { statusBlock, type UpstreamProxy } from './proxy.ts';

export interface GateDeps {
  state: MaintenanceState;
  bypass: Bypass;
  proxy: UpstreamProxy;
}

export interface GateListeners {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/**
 * A path that is safe to compare with the allowed paths: one the application cannot read as
 * another. `/health/../admin` or `/health%2F..%2Fadmin` would pass a prefix check for `/health`
 * and then be normalised by the application into `/admin`; such paths are never "allowed".
 */
export function isCanonicalPath(path: string): boolean {
  if (/%2f|%5c|\\/i.test(path)) return false;
  const resolved = URL.parse(path, 'http://gate.invalid');
  return resolved !== null && resolved.pathname === path;
}

/**
 * The gate's proxy port. Requests go straight to the application unless maintenance holds
 * them; then the gate answers with the 503 page itself, except for allowed paths and bypass
 * holders. Only those answers go through Hono: the forwarding path is Node's own http.
 */
export function createGateListeners({ state, bypass, proxy }: GateDeps): GateListeners {
  const answers = new Hono();
  answers.get(BYPASS_PATH, (c) => bypassVisit(c, bypass));
  answers.all('*', (c) => {
    const view = state.current;
    if (view.config === null) return c.text('Service Unavailable', 503);
    return maintenanceResponse(c, view.config, state.clock.now(), view.cause);
  });
  const answer = getRequestListener(answers.fetch);

  /** Whether the request goes to the application; `private` when only a bypass let it through. */
  const route = (req: IncomingMessage): 'pass' | 'private' | 'hold' => {
    const view = state.current;
    if (!view.active || view.config === null) return 'pass';
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (isCanonicalPath(path) && isPathAllowed(view.config.allowPaths, path)) return 'pass';
    const forwardedFor = req.headers['x-forwarded-for'];
    return bypass.admits({
      peer: req.socket.remoteAddress,
      cookie: req.headers.cookie,
      forwardedFor: Array.isArray(forwardedFor) ? forwardedFor.join(', ') : forwardedFor,
    })
      ? 'private'
      : 'hold';
  };

  const isBypassVisit = (url: string | undefined) => url !== undefined && url.startsWith(BYPASS_PATH) && (url.length === BYPASS_PATH.length || url[BYPASS_PATH.length] === '?');

  return {
    request(req, res) {
      if (isBypassVisit(req.url)) {
        void answer(req, res);
        return;
      }
      const decision = route(req);
      if (decision === 'hold') void answer(req, res);
      else proxy.forward(req, res, decision === 'private');
    },
    upgrade(req, socket, head) {
      const decision = route(req);
      if (decision !== 'hold') {
        proxy.upgrade(req, socket, head);
        return;
      }
      const config = state.current.config;
      const retryAfter = config === null ? 60 : retryAfterSeconds(config, state.clock.now());
      const body = JSON.stringify({ status: 'maintenance', message: config?.message ?? '', retryAfterSeconds: retryAfter });
      socket.end(
        statusBlock(503, 'Service Unavailable', [
          'Content-Type', 'application/json', 'Retry-After', String(retryAfter), 'Cache-Control', 'no-store',
          'Content-Length', String(Buffer.byteLength(body)), 'Connection', 'close',
        ]) + body,
      );
    },
  };
}
