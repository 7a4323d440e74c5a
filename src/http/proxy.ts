import { Agent, request, type ClientRequest, type ClientRequestArgs, type IncomingMessage, type ServerResponse } from 'node:http';
import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import { Counter, type Registry } from 'prom-client';
import { labelledCounter } from './counters.ts';
import type { Logger } from 'pino';
import { normalize } from '../cidr.ts';
import type { TrustedProxies } from './client-address.ts';
import { isCacheDirective, readRequestHead, responseHeaders, type ForwardedHead } from './forwarded-head.ts';
import { UPSTREAM_ERROR_PAGE } from './pages.ts';
import { BYPASS_CACHE_CONTROL } from './bypass.ts';
import { READ_ONLY_HEADER, READ_ONLY_VALUE } from './read-only.ts';

/** How one admitted request is forwarded. */
export interface ForwardOptions {
  /** Only a bypass let it through: no cache may keep the answer. */
  private: boolean;
  /** Read-only mode is in effect: the answer carries the read-only header. */
  readOnly: boolean;
  /** The body, already read whole (a GraphQL request judged in read-only mode), sent with its length. */
  body?: Buffer;
}

const PLAIN: ForwardOptions = { private: false, readOnly: false };

export interface ProxySettings {
  /** `UPSTREAM`: the application in the same pod, `http://127.0.0.1:PORT`. */
  upstream: URL;
  connectTimeoutMs: number;
  /** The longest the application may stay silent: before its response, or between two chunks of it. */
  responseTimeoutMs: number;
  /** The longest a request body may stall (no byte arriving); an upload that keeps moving is never cut. */
  bodyIdleTimeoutMs: number;
  proxies: TrustedProxies;
  registry: Registry;
  log: Logger;
}

class UpstreamTimeoutError extends Error {
  override readonly name = 'UpstreamTimeoutError';
}

/** The application answered something Node cannot pass on (a status below 100, a control character in its reason, a 101 to a plain request). */
class UpstreamResponseError extends Error {
  override readonly name = 'UpstreamResponseError';
}

function wantsJson(accept: string | undefined): boolean {
  return accept?.includes('application/json') === true && !accept.includes('text/html');
}

function firstValue(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const comma = value.indexOf(',');
  return (comma === -1 ? value : value.slice(0, comma)).trim() || undefined;
}

/**
 * A reverse proxy to the application in the same pod, on Node's own http and streams:
 * bodies stream both ways with backpressure and are never held whole; connections to the
 * application are kept alive and reused; Upgrade requests (WebSocket) become a byte pipe.
 * Every request is framed for the application exactly as Node's parser read it from the
 * client (see forwarded-head.ts), so no body can be read as a second request.
 */
export class UpstreamProxy {
  readonly #agent: Agent;
  readonly #failures: Counter<'kind'>;
  readonly #refused: Counter;
  readonly #refusedConnections = new WeakSet<Duplex>();
  readonly #host: string;
  readonly #port: number;
  readonly #connect: NonNullable<ClientRequestArgs['createConnection']>;
  #lastFailureLog = 0;

  readonly settings: ProxySettings;

  constructor(settings: ProxySettings) {
    this.settings = settings;
    const { upstream, connectTimeoutMs, responseTimeoutMs } = settings;
    this.#host = upstream.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = Number(upstream.port || 80);
    // The connect timer is armed once per new connection, not once per request.
    this.#connect = (options) => {
      const socket = createConnection(options as Parameters<typeof createConnection>[0]);
      const timer = setTimeout(
        () => socket.destroy(new UpstreamTimeoutError(`could not connect to ${upstream.host} within ${connectTimeoutMs} ms`)),
        connectTimeoutMs,
      );
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
      return socket;
    };
    // The response timeout is the sockets' idle timeout, set once per connection rather than
    // once per request (each request then only listens for it).
    this.#agent = new Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo', timeout: responseTimeoutMs });
    this.#agent.createConnection = this.#connect;
    this.#failures = labelledCounter(settings.registry, {
      name: 'gate_upstream_failures_total',
      help: 'Requests the gate could not complete with the application: refused/reset (error), silent too long (timeout), or an answer it cannot pass on (bad_response)',
      label: 'kind',
      values: ['error', 'timeout', 'bad_response'],
    });
    this.#refused = new Counter({
      name: 'gate_refused_requests_total',
      help: 'Requests the gate answered 400 without forwarding: framing another parser could read differently, or a stalled body (408)',
      registers: [settings.registry],
    });
  }

  /**
   * The request's head as it will be forwarded, or null when the request was refused (400,
   * and the connection closes) because another parser could frame it differently. Called for
   * every request on the proxy port, before anything else, even one the gate answers itself:
   * Node keeps a connection open after such an answer and reads what is pipelined behind it.
   */
  admit(req: IncomingMessage, res: ServerResponse): ForwardedHead | null {
    // Node has already parsed (and emits) requests pipelined behind a refused one; the
    // refusal closes the connection, and none of them may be answered or forwarded.
    if (this.#refusedConnections.has(req.socket)) {
      res.destroy();
      return null;
    }
    const verdict = readRequestHead(req.rawHeaders, req.httpVersion);
    if (verdict.ok) return verdict.head;
    this.#refuse(req, res, 400, verdict.problem);
    return null;
  }

  /** The same check for an Upgrade request, answered on its raw socket; null when refused. */
  admitUpgrade(req: IncomingMessage, socket: Duplex): ForwardedHead | null {
    const verdict = readRequestHead(req.rawHeaders, req.httpVersion, true);
    if (verdict.ok) return verdict.head;
    this.#refused.inc();
    socket.end(
      statusBlock(400, 'Bad Request', [
        'Content-Type',
        'text/plain',
        'Content-Length',
        String(Buffer.byteLength(verdict.problem)),
        'Connection',
        'close',
      ]) + verdict.problem,
    );
    return null;
  }

  /** Forwards one admitted request. */
  forward(req: IncomingMessage, res: ServerResponse, head: ForwardedHead, options: ForwardOptions = PLAIN): void {
    const { private: privateResponse, readOnly, body } = options;
    const headers = this.#withForwarding(head, req.socket.remoteAddress);
    if (body !== undefined) headers.push('Content-Length', String(body.length));
    else if (head.framing.kind === 'chunked') headers.push('Transfer-Encoding', 'chunked');
    else if (head.framing.kind === 'length') headers.push('Content-Length', head.framing.length);

    const upstreamRequest = this.#open(req, headers, this.#agent);
    // Once a 502/504 is on its way, a later error of the same exchange must not cut it.
    let failed = false;
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      this.#upstreamFailed(error, req, res, head.accept, readOnly);
    };
    upstreamRequest.on('response', (upstreamResponse) => {
      // A 101 without Upgrade, to a request that asked for none: whatever the connection carries
      // now is not HTTP, so it is closed rather than pooled, and the client gets a 502.
      if (upstreamResponse.statusCode === 101) {
        fail(new UpstreamResponseError('the application switched protocols on a request that asked for no upgrade'));
        upstreamRequest.destroy();
        return;
      }
      // A response that got past maintenance is one person's: no cache directive of the application's survives.
      const kept = responseHeaders(upstreamResponse.rawHeaders, privateResponse ? isCacheDirective : null);
      if (privateResponse) kept.push('Cache-Control', BYPASS_CACHE_CONTROL);
      if (readOnly) kept.push(READ_ONLY_HEADER, READ_ONLY_VALUE);
      try {
        res.writeHead(upstreamResponse.statusCode ?? 0, upstreamResponse.statusMessage, kept);
      } catch (error) {
        fail(new UpstreamResponseError(`the application's response cannot be passed on: ${(error as Error).message}`));
        upstreamResponse.destroy();
        return;
      }
      // By hand rather than pipe(): the application is paused while the client's socket is
      // full, so a slow reader holds at most a buffer or two, never the whole response.
      upstreamResponse.on('data', (chunk: Buffer) => {
        if (!res.write(chunk)) upstreamResponse.pause();
      });
      res.on('drain', () => upstreamResponse.resume());
      upstreamResponse.on('end', () => res.end());
      upstreamResponse.on('error', () => res.destroy());
    });
    // A 101 to a request that asked for no upgrade: Node hands over the socket; it is not ours to use.
    upstreamRequest.on('upgrade', (_response, socket: Duplex) => {
      socket.destroy();
      fail(new UpstreamResponseError('the application switched protocols on a request that asked for no upgrade'));
    });
    upstreamRequest.on('error', (error) => {
      if (!res.headersSent) fail(error);
      else if (!failed) res.destroy();
    });
    // A client that goes away takes its upstream request with it.
    res.on('close', () => {
      if (!res.writableFinished) upstreamRequest.destroy();
    });
    if (body !== undefined) upstreamRequest.end(body);
    else if (head.framing.kind === 'none' || (head.framing.kind === 'length' && head.framing.length === '0')) upstreamRequest.end();
    else this.#sendBody(req, res, upstreamRequest);
  }

  /** Passes an Upgrade request (WebSocket and the like) through, then pipes bytes both ways. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, forwardedHead: ForwardedHead): void {
    const headers = this.#withForwarding(forwardedHead, req.socket.remoteAddress);
    headers.push('Connection', 'Upgrade', 'Upgrade', req.headers.upgrade ?? '');
    // agent: false, since an upgraded connection never goes back to a pool.
    const upstreamRequest = this.#open(req, headers, false);
    socket.once('error', () => upstreamRequest.destroy());
    socket.once('close', () => upstreamRequest.destroy());
    upstreamRequest.on('upgrade', (upstreamResponse, upstreamSocket, upstreamHead) => {
      upstreamRequest.setTimeout(0);
      const block = safeStatusBlock(101, upstreamResponse.statusMessage, responseHeaders(upstreamResponse.rawHeaders, null), [
        'Connection',
        'Upgrade',
        'Upgrade',
        upstreamResponse.headers.upgrade ?? '',
      ]);
      if (block === null) {
        upstreamSocket.destroy();
        this.#failed(new UpstreamResponseError('the application switched protocols with an answer that cannot be passed on'), req);
        socket.end(statusBlock(502, 'Bad Gateway', ['Content-Length', '0', 'Connection', 'close']));
        return;
      }
      socket.write(block);
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
      const block = safeStatusBlock(
        upstreamResponse.statusCode ?? 0,
        upstreamResponse.statusMessage,
        responseHeaders(upstreamResponse.rawHeaders, null),
        ['Connection', 'close'],
      );
      if (block === null) {
        upstreamResponse.destroy();
        this.#failed(new UpstreamResponseError('the application declined the upgrade with an answer that cannot be passed on'), req);
        socket.end(statusBlock(502, 'Bad Gateway', ['Content-Length', '0', 'Connection', 'close']));
        return;
      }
      socket.write(block);
      upstreamResponse.pipe(socket);
    });
    upstreamRequest.on('error', (error) => {
      this.#failed(error, req);
      const status = error instanceof UpstreamTimeoutError ? 504 : 502;
      socket.end(statusBlock(status, status === 504 ? 'Gateway Timeout' : 'Bad Gateway', ['Content-Length', '0', 'Connection', 'close']));
    });
    upstreamRequest.end();
  }

  close(): void {
    this.#agent.destroy();
  }

  /**
   * Streams the request body to the application with backpressure. The body is cut only when
   * it stalls: an upload that keeps moving may take as long as it needs.
   */
  #sendBody(req: IncomingMessage, res: ServerResponse, upstreamRequest: ClientRequest): void {
    const { bodyIdleTimeoutMs } = this.settings;
    const stalled = setTimeout(() => {
      upstreamRequest.destroy();
      req.unpipe();
      if (!res.headersSent) this.#refuse(req, res, 408, `no byte of the request body for ${bodyIdleTimeoutMs / 1000} s`);
      else res.destroy();
    }, bodyIdleTimeoutMs);
    req.on('data', (chunk: Buffer) => {
      stalled.refresh();
      if (!upstreamRequest.write(chunk)) req.pause();
    });
    upstreamRequest.on('drain', () => {
      stalled.refresh();
      req.resume();
    });
    req.on('end', () => {
      clearTimeout(stalled);
      upstreamRequest.end();
    });
    req.on('close', () => clearTimeout(stalled));
  }

  /** A request refused before anything reached the application: the connection closes after the answer. */
  #refuse(req: IncomingMessage, res: ServerResponse, status: 400 | 408, problem: string): void {
    this.#refused.inc();
    this.#refusedConnections.add(req.socket);
    const body = `${status === 400 ? 'Bad Request' : 'Request Timeout'}: ${problem}\n`;
    res.shouldKeepAlive = false;
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=UTF-8',
      'Content-Length': Buffer.byteLength(body),
      Connection: 'close',
      'Cache-Control': 'no-store',
    });
    res.end(body);
  }

  #open(req: IncomingMessage, headers: string[], agent: Agent | false): ClientRequest {
    const { upstream, responseTimeoutMs } = this.settings;
    const upstreamRequest = request({
      host: this.#host,
      port: this.#port,
      method: req.method,
      path: req.url,
      headers,
      agent,
      ...(agent === false ? { createConnection: this.#connect } : {}),
    });
    if (agent === false) upstreamRequest.setTimeout(responseTimeoutMs);
    upstreamRequest.on('timeout', () =>
      upstreamRequest.destroy(new UpstreamTimeoutError(`no answer from ${upstream.host} within ${responseTimeoutMs} ms`)),
    );
    return upstreamRequest;
  }

  /** End-to-end request headers, with X-Forwarded-* set here and believed only from trusted proxies. */
  #withForwarding(head: ForwardedHead, peer: string | undefined): string[] {
    const headers = head.headers;
    const client = peer === undefined ? 'unknown' : normalize(peer);
    if (this.settings.proxies.trusts(peer)) {
      headers.push('X-Forwarded-For', head.forwardedFor ? `${head.forwardedFor}, ${client}` : client);
      headers.push('X-Forwarded-Proto', firstValue(head.forwardedProto) ?? 'http');
      headers.push('X-Forwarded-Host', firstValue(head.forwardedHost) ?? head.host ?? '');
      if (head.forwarded !== undefined) headers.push('Forwarded', head.forwarded);
      headers.push(...head.claims);
    } else {
      headers.push('X-Forwarded-For', client, 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', head.host ?? '');
    }
    return headers;
  }

  /** A 502 (504 for a silent application) for this request alone; the gate and its other connections carry on. */
  #upstreamFailed(error: Error, req: IncomingMessage, res: ServerResponse, accept: string | undefined, readOnly: boolean): void {
    this.#failed(error, req);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const status = error instanceof UpstreamTimeoutError ? 504 : 502;
    const json = wantsJson(accept);
    const body = json
      ? JSON.stringify({ status: status === 504 ? 'upstream_timeout' : 'upstream_unavailable' })
      : UPSTREAM_ERROR_PAGE[status];
    // The request body may still be arriving; the connection is closed after this answer rather than read to its end.
    res.shouldKeepAlive = false;
    // With its own reason: a writeHead that threw on the application's keeps that reason otherwise.
    res.writeHead(status, status === 504 ? 'Gateway Timeout' : 'Bad Gateway', {
      'Content-Type': json ? 'application/json' : 'text/html; charset=UTF-8',
      'Cache-Control': 'no-store',
      'Content-Length': Buffer.byteLength(body),
      ...(readOnly ? { [READ_ONLY_HEADER]: READ_ONLY_VALUE } : {}),
    });
    res.end(body);
  }

  #failed(error: Error, req: IncomingMessage): void {
    const kind = error instanceof UpstreamTimeoutError ? 'timeout' : error instanceof UpstreamResponseError ? 'bad_response' : 'error';
    this.#failures.inc({ kind });
    // At most one line a second: an application that is down must not flood the log.
    const now = Date.now();
    if (now - this.#lastFailureLog < 1000) return;
    this.#lastFailureLog = now;
    this.settings.log.warn(
      { error: error.message, method: req.method, upstream: this.settings.upstream.host },
      'the application did not answer the gate',
    );
  }
}

/** A response head written straight to a socket, as an upgraded or refused connection needs. */
export function statusBlock(status: number, message: string | undefined, rawHeaders: readonly string[]): string {
  const lines = [`HTTP/1.1 ${status} ${message ?? ''}`];
  for (let index = 0; index < rawHeaders.length; index += 2) lines.push(`${rawHeaders[index]}: ${rawHeaders[index + 1]}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Only what `res.writeHead` would accept: a status from 100 to 599 and a reason of visible characters and spaces. */
const SAFE_REASON = /^[\t\x20-\x7e\x80-\xff]*$/;

function safeStatusBlock(
  status: number,
  message: string | undefined,
  rawHeaders: readonly string[],
  extra: readonly string[],
): string | null {
  if (status < 100 || status > 599 || !SAFE_REASON.test(message ?? '')) return null;
  return statusBlock(status, message, [...rawHeaders, ...extra]);
}
