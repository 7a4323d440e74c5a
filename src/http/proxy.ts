import { Agent, request, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { normalize, type TrustedProxies } from './client-address.ts';
import { UPSTREAM_ERROR_PAGE } from './pages.ts';

export interface ProxySettings {
  /** `UPSTREAM`: the application in the same pod, `http://127.0.0.1:PORT`. */
  upstream: URL;
  connectTimeoutMs: number;
  /** The longest the application may stay silent: before its response, or between two chunks of it. */
  responseTimeoutMs: number;
  proxies: TrustedProxies;
  registry: Registry;
  log: Logger;
}

/** Headers that belong to one connection, never forwarded (RFC 9110 7.6.1), and the forwarding headers this proxy rewrites. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade',
]);
const REWRITTEN = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);

class UpstreamTimeoutError extends Error {
  override readonly name = 'UpstreamTimeoutError';
}

/** Names listed in a Connection header are hop-by-hop too. */
function connectionTokens(headers: IncomingHttpHeaders): Set<string> | null {
  const value = headers.connection;
  return value ? new Set(value.split(',').map((token) => token.trim().toLowerCase())) : null;
}

function endToEnd(rawHeaders: string[], listed: Set<string> | null, skip: Set<string> | null): string[] {
  const kept: string[] = [];
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed?.has(lower) || skip?.has(lower)) continue;
    kept.push(name, rawHeaders[index + 1]!);
  }
  return kept;
}

function wantsJson(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('application/json') && !accept.includes('text/html');
}

/**
 * A reverse proxy to the application in the same pod, on Node's own http and streams:
 * bodies stream both ways and are never held whole; connections to the application are
 * kept alive and reused; Upgrade requests (WebSocket) become a byte pipe.
 */
export class UpstreamProxy {
  readonly #agent: Agent;
  readonly #failures: Counter<'kind'>;
  #lastFailureLog = 0;

  readonly settings: ProxySettings;

  constructor(settings: ProxySettings) {
    this.settings = settings;
    // The response timeout is the sockets' idle timeout, set once per connection rather than
    // once per request (each request then only listens for it).
    this.#agent = new Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo', timeout: settings.responseTimeoutMs });
    this.#failures = new Counter({
      name: 'gate_upstream_failures_total',
      help: 'Requests the gate could not complete with the application: refused/reset (error) or silent too long (timeout)',
      labelNames: ['kind'] as const,
      registers: [settings.registry],
    });
    this.#failures.inc({ kind: 'error' }, 0);
    this.#failures.inc({ kind: 'timeout' }, 0);
  }

  /** Forwards one request. `privateResponse` marks a response that got past maintenance: no cache may keep it. */
  forward(req: IncomingMessage, res: ServerResponse, privateResponse = false): void {
    const upstreamRequest = this.#open(req, this.#requestHeaders(req), this.#agent);
    upstreamRequest.on('response', (upstreamResponse) => {
      const skip = privateResponse ? CACHE_CONTROL : null;
      const headers = endToEnd(upstreamResponse.rawHeaders, connectionTokens(upstreamResponse.headers), skip);
      if (privateResponse) headers.push('Cache-Control', 'private, no-store');
      res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.statusMessage, headers);
      upstreamResponse.pipe(res);
      upstreamResponse.once('error', () => res.destroy());
    });
    upstreamRequest.on('error', (error) => {
      this.#failed(error, req);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const status = error instanceof UpstreamTimeoutError ? 504 : 502;
      const json = wantsJson(req.headers.accept);
      const body = json ? JSON.stringify({ status: status === 504 ? 'upstream_timeout' : 'upstream_unavailable' }) : UPSTREAM_ERROR_PAGE[status];
      // The request body may still be arriving; the connection is closed after this answer rather than read to its end.
      res.shouldKeepAlive = false;
      res.writeHead(status, {
        'Content-Type': json ? 'application/json' : 'text/html; charset=UTF-8',
        'Cache-Control': 'no-store',
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(body);
    });
    // A client that goes away takes its upstream request with it.
    res.once('close', () => {
      if (!res.writableFinished) upstreamRequest.destroy();
    });
    if (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0') req.pipe(upstreamRequest);
    else upstreamRequest.end();
  }

  /** Passes an Upgrade request (WebSocket and the like) through, then pipes bytes both ways. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const headers = this.#requestHeaders(req);
    headers.push('Connection', 'Upgrade', 'Upgrade', req.headers.upgrade ?? '');
    // agent: false, since an upgraded connection never goes back to a pool.
    const upstreamRequest = this.#open(req, headers, false);
    socket.once('error', () => upstreamRequest.destroy());
    upstreamRequest.on('upgrade', (upstreamResponse, upstreamSocket, upstreamHead) => {
      upstreamRequest.setTimeout(0);
      socket.write(statusBlock(101, upstreamResponse.statusMessage, upstreamResponse.rawHeaders));
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      upstreamSocket.pipe(socket).pipe(upstreamSocket);
      upstreamSocket.once('error', () => socket.destroy());
      upstreamSocket.once('close', () => socket.destroy());
      socket.once('close', () => upstreamSocket.destroy());
    });
    // The application declined to upgrade: its ordinary answer goes back, and the connection ends.
    upstreamRequest.on('response', (upstreamResponse) => {
      // Without Transfer-Encoding, the body ends where the connection does.
      const headers = endToEnd(upstreamResponse.rawHeaders, connectionTokens(upstreamResponse.headers), null);
      socket.write(statusBlock(upstreamResponse.statusCode ?? 502, upstreamResponse.statusMessage, [...headers, 'Connection', 'close']));
      upstreamResponse.pipe(socket);
    });
    upstreamRequest.on('error', (error) => {
      this.#failed(error, req);
      const status = error instanceof UpstreamTimeoutError ? 504 : 502;
      socket.end(statusBlock(status, status === 504 ? 'Gateway Timeout' : 'Bad Gateway', ['Content-Length', '0', 'Connection', 'close']));
    });
    req.pipe(upstreamRequest);
  }

  close(): void {
    this.#agent.destroy();
  }

  #open(req: IncomingMessage, headers: string[], agent: Agent | false): ClientRequest {
    const { upstream, connectTimeoutMs, responseTimeoutMs } = this.settings;
    const upstreamRequest = request({
      host: upstream.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: upstream.port || 80,
      method: req.method,
      path: req.url,
      headers,
      agent,
    });
    if (agent === false) upstreamRequest.setTimeout(responseTimeoutMs);
    upstreamRequest.once('timeout', () => upstreamRequest.destroy(new UpstreamTimeoutError(`no answer from ${upstream.host} within ${responseTimeoutMs} ms`)));
    upstreamRequest.once('socket', (socket: Socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(() => upstreamRequest.destroy(new UpstreamTimeoutError(`could not connect to ${upstream.host} within ${connectTimeoutMs} ms`)), connectTimeoutMs);
      socket.once('connect', () => clearTimeout(timer));
      upstreamRequest.once('close', () => clearTimeout(timer));
    });
    return upstreamRequest;
  }

  /** End-to-end request headers, with X-Forwarded-* set here and believed only from trusted proxies. */
  #requestHeaders(req: IncomingMessage): string[] {
    const peer = req.socket.remoteAddress;
    const trusted = this.settings.proxies.trusts(peer);
    const headers = endToEnd(req.rawHeaders, connectionTokens(req.headers), trusted ? REWRITTEN : FORWARDING);
    const forwardedFor = trusted ? req.headers['x-forwarded-for'] : undefined;
    const client = peer === undefined ? 'unknown' : normalize(peer);
    headers.push('X-Forwarded-For', forwardedFor ? `${forwardedFor}, ${client}` : client);
    headers.push('X-Forwarded-Proto', (trusted && firstValue(req.headers['x-forwarded-proto'])) || 'http');
    headers.push('X-Forwarded-Host', (trusted && firstValue(req.headers['x-forwarded-host'])) || req.headers.host || '');
    return headers;
  }

  #failed(error: Error, req: IncomingMessage): void {
    this.#failures.inc({ kind: error instanceof UpstreamTimeoutError ? 'timeout' : 'error' });
    // At most one line a second: an application that is down must not flood the log.
    const now = Date.now();
    if (now - this.#lastFailureLog < 1000) return;
    this.#lastFailureLog = now;
    this.settings.log.warn({ error: error.message, method: req.method, upstream: this.settings.upstream.host }, 'the application did not answer the gate');
  }
}

const CACHE_CONTROL = new Set(['cache-control']);
/** From a client that is not a trusted proxy, every forwarding header is dropped: anyone can send one. */
const FORWARDING = new Set([...REWRITTEN, 'forwarded']);

function firstValue(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  return text?.split(',')[0]?.trim() || undefined;
}

/** A response head written straight to a socket, as an upgraded or refused connection needs. */
export function statusBlock(status: number, message: string | undefined, rawHeaders: readonly string[]): string {
  const lines = [`HTTP/1.1 ${status} ${message ?? ''}`];
  for (let index = 0; index < rawHeaders.length; index += 2) lines.push(`${rawHeaders[index]}: ${rawHeaders[index + 1]}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}
