import { request, type ClientRequest, type ClientRequestArgs, type IncomingMessage, type ServerResponse } from 'node:http';
import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import { Counter, type Registry } from 'prom-client';
import { labelledCounter } from './counters.ts';
import type { Logger } from 'pino';
import { normalize } from '../cidr.ts';
import type { TrustedProxies } from './client-address.ts';
import { isCacheDirective, readRequestHead, responseHeaders, type ForwardedHead } from './forwarded-head.ts';
import { UPSTREAM_ERROR_PAGE } from './pages.ts';
import { statusBlock } from './status-block.ts';
import { BYPASS_CACHE_CONTROL } from './bypass.ts';
import { READ_ONLY_HEADER, READ_ONLY_VALUE } from './read-only.ts';
import { errors as undiciErrors, Pool, type Dispatcher } from 'undici';

type DispatchController = Dispatcher.DispatchController;

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

/** The client left before the answer was whole: nothing to answer, nothing to count. */
class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
}

/** undici's errors as the gate counts and answers them: silence is a 504, anything else a 502. */
function asUpstreamError(error: Error, settings: Pick<ProxySettings, 'upstream' | 'connectTimeoutMs' | 'responseTimeoutMs'>): Error {
  if (error instanceof undiciErrors.ConnectTimeoutError)
    return new UpstreamTimeoutError(`could not connect to ${settings.upstream.host} within ${settings.connectTimeoutMs} ms`);
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError)
    return new UpstreamTimeoutError(`no answer from ${settings.upstream.host} within ${settings.responseTimeoutMs} ms`);
  if (error instanceof undiciErrors.SocketError && error.message === 'bad upgrade')
    return new UpstreamResponseError('the application switched protocols on a request that asked for no upgrade');
  if (error instanceof undiciErrors.HTTPParserError || error instanceof undiciErrors.ResponseContentLengthMismatchError)
    return new UpstreamResponseError(`the application's response cannot be passed on: ${error.message}`);
  return error;
}

/** A response's raw headers as Node's own `rawHeaders` are: names and values, in order, as strings. */
function rawStrings(raw: DispatchController['rawHeaders']): string[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((item) => (typeof item === 'string' ? item : item.toString('latin1')));
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
  readonly #pool: Pool;
  /** Client connections with an exchange under way, and the pipelined requests that wait behind it. */
  readonly #exchanges = new WeakMap<Duplex, (() => void)[]>();
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
    // The response timeout bounds the wait for the answer's head and each pause within its body.
    this.#pool = new Pool(upstream.origin, {
      connectTimeout: connectTimeoutMs,
      headersTimeout: responseTimeoutMs,
      bodyTimeout: responseTimeoutMs,
    });
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

  /**
   * Forwards one admitted request through undici's pool: its dispatch is the client side at a
   * fraction of node:http's cost (no ClientRequest, no IncomingMessage per exchange), with the
   * same parser (llhttp). The body streams in with backpressure as Node's server read it, framed
   * by its length or chunked exactly as it arrived; the answer streams back the same way.
   */
  forward(req: IncomingMessage, res: ServerResponse, head: ForwardedHead, options: ForwardOptions = PLAIN): void {
    // Requests pipelined on one connection reach the application one after the other, as nginx
    // sends them: the next waits for the answer to the one before (undici would send each on
    // its own connection at once). A client that waits for its answers never waits here.
    const waiting = this.#exchanges.get(req.socket);
    if (waiting !== undefined) waiting.push(() => this.#dispatch(req, res, head, options));
    else this.#dispatch(req, res, head, options);
  }

  #dispatch(req: IncomingMessage, res: ServerResponse, head: ForwardedHead, options: ForwardOptions): void {
    const { private: privateResponse, readOnly, body } = options;
    const headers = this.#withForwarding(head, req.socket.remoteAddress);
    let requestBody: Buffer | IncomingMessage | null = null;
    if (body !== undefined) {
      headers.push('content-length', String(body.length));
      requestBody = body;
    } else if (head.framing.kind === 'length' && head.framing.length !== '0') {
      headers.push('content-length', head.framing.length);
      requestBody = req;
    } else if (head.framing.kind === 'chunked') {
      // No length: undici sends the body chunked, as the client did.
      requestBody = req;
    } else if (head.framing.kind === 'length') {
      headers.push('content-length', '0');
    }
    const stall = requestBody === req ? this.#stallTimer(req, res) : null;
    const socket = req.socket;
    this.#exchanges.set(socket, []);
    let over = false;
    const done = () => {
      clearTimeout(stall ?? undefined);
      if (over) return;
      over = true;
      this.#exchangeDone(socket);
    };

    // Once a 502/504 is on its way, a later error of the same exchange must not cut it.
    let failed = false;
    let controller: DispatchController | null = null;
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      this.#upstreamFailed(error, req, res, head.accept, readOnly);
    };
    const resume = () => controller?.resume();
    res.on('drain', resume);
    // A client that goes away takes its upstream request with it.
    res.on('close', () => {
      if (!res.writableFinished) controller?.abort(new ClientGoneError('the client went away'));
    });
    this.#pool.dispatch(
      { path: req.url ?? '/', method: (req.method ?? 'GET') as Dispatcher.HttpMethod, headers, body: requestBody, upgrade: null },
      {
        onRequestStart: (started) => {
          controller = started;
          if (res.destroyed) started.abort(new ClientGoneError('the client went away'));
        },
        onBodySent: () => stall?.refresh(),
        onRequestSent: () => clearTimeout(stall ?? undefined),
        onResponseStart: (started, statusCode, _headers, statusMessage) => {
          // A 101 to a request that asked for no upgrade: whatever the connection carries now is
          // not HTTP, so it is closed rather than pooled, and the client gets a 502.
          if (statusCode === 101) {
            fail(new UpstreamResponseError('the application switched protocols on a request that asked for no upgrade'));
            started.abort(new UpstreamResponseError('switched protocols'));
            return;
          }
          // A response that got past maintenance is one person's: no cache directive of the application's survives.
          const kept = responseHeaders(rawStrings(started.rawHeaders), privateResponse ? isCacheDirective : null);
          if (privateResponse) kept.push('Cache-Control', BYPASS_CACHE_CONTROL);
          if (readOnly) kept.push(READ_ONLY_HEADER, READ_ONLY_VALUE);
          try {
            res.writeHead(statusCode, statusMessage, kept);
          } catch (error) {
            fail(new UpstreamResponseError(`the application's response cannot be passed on: ${(error as Error).message}`));
            started.abort(new UpstreamResponseError('not passed on'));
          }
        },
        // The application is paused while the client's socket is full, so a slow reader holds at
        // most a buffer or two, never the whole response.
        onResponseData: (started, chunk) => {
          if (!res.write(chunk)) started.pause();
        },
        onResponseEnd: () => {
          res.off('drain', resume);
          res.end();
          done();
        },
        onResponseError: (_started, error) => {
          done();
          res.off('drain', resume);
          // Gone, or already answered here (a stalled body's 408): nothing more to say.
          if (error instanceof ClientGoneError || res.writableEnded) return;
          if (!res.headersSent) fail(asUpstreamError(error, this.settings));
          else if (!failed) res.destroy();
        },
      },
    );
  }

  /** An exchange is over: the next request pipelined behind it on its connection goes, and the rest wait for that one. */
  #exchangeDone(socket: Duplex): void {
    const waiting = this.#exchanges.get(socket);
    this.#exchanges.delete(socket);
    const next = waiting?.shift();
    if (next === undefined) return;
    next();
    this.#exchanges.get(socket)?.push(...waiting!);
  }

  /**
   * Cuts a request body that stalls: an upload that keeps moving may take as long as it needs.
   * undici reads the body itself, with backpressure, and says when each chunk went out, which
   * refreshes this timer (a listener of our own on the body would take its bytes from undici).
   */
  #stallTimer(req: IncomingMessage, res: ServerResponse): NodeJS.Timeout {
    const { bodyIdleTimeoutMs } = this.settings;
    const stalled = setTimeout(() => {
      if (!res.headersSent) this.#refuse(req, res, 408, `no byte of the request body for ${bodyIdleTimeoutMs / 1000} s`);
      else res.destroy();
      req.destroy();
    }, bodyIdleTimeoutMs);
    req.once('close', () => clearTimeout(stalled));
    return stalled;
  }

  /** Passes an Upgrade request (WebSocket and the like) through, then pipes bytes both ways. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, forwardedHead: ForwardedHead): void {
    const headers = this.#withForwarding(forwardedHead, req.socket.remoteAddress);
    headers.push('Connection', 'Upgrade', 'Upgrade', req.headers.upgrade ?? '');
    const upstreamRequest = this.#open(req, headers);
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
    void this.#pool.destroy();
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

  /** An upgrade's request, on a connection of its own: an upgraded connection never goes back to a pool. */
  #open(req: IncomingMessage, headers: string[]): ClientRequest {
    const { upstream, responseTimeoutMs } = this.settings;
    const upstreamRequest = request({
      host: this.#host,
      port: this.#port,
      method: req.method,
      path: req.url,
      headers,
      agent: false,
      createConnection: this.#connect,
    });
    upstreamRequest.setTimeout(responseTimeoutMs);
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
