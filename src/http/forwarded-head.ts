/**
 * How a request's head is carried to the application, read from the client's raw headers in
 * one pass. The body's framing is the one Node's parser used to read it, and nothing a client
 * writes can change that on the way: framing headers are never taken from the client as
 * they are, a `Connection` header cannot remove them, and any request whose framing another
 * parser could read differently is refused instead of forwarded.
 */

/** Headers that belong to one connection, never forwarded (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'upgrade',
]);

/** Set again by the gate from what its own parser read, never copied. */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'expect']);

/** Headers some frameworks route by instead of the request line; the gate decides on the request line alone. */
const ROUTING_OVERRIDES = new Set([
  'x-original-url',
  'x-original-uri',
  'x-rewrite-url',
  'x-original-path',
  'x-envoy-original-path',
  'x-forwarded-uri',
  'x-forwarded-path',
  'x-http-destinationurl',
]);

/** The forwarding headers the gate writes itself; believed (and extended) only from a trusted proxy. */
const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']);

/**
 * Headers through which proxies tell an application who the client is, how it connected and
 * under which URL base (nginx `real_ip_header`, Rails, Werkzeug's ProxyFix and others believe
 * them). From a client they are a lie about its address or scheme: kept only from a trusted proxy.
 */
const CLIENT_CLAIMS = new Set([
  'x-real-ip',
  'client-ip',
  'x-client-ip',
  'true-client-ip',
  'x-cluster-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-ssl',
  'x-forwarded-scheme',
  'x-forwarded-protocol',
  'x-forwarded-server',
  'x-url-scheme',
  'front-end-https',
]);

/** Names that no `Connection` header may list: removing them would change what the request is. */
const NEVER_HOP_BY_HOP = new Set(['content-length', 'transfer-encoding', 'host']);

export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: string } | { kind: 'chunked' };

export interface ForwardedHead {
  /** End-to-end headers as the client wrote them (names' case kept), without framing or forwarding headers. */
  headers: string[];
  framing: BodyFraming;
  host: string | undefined;
  accept: string | undefined;
  /** The client's own forwarding headers, for the caller to believe only from a trusted proxy. */
  forwardedFor: string | undefined;
  forwardedProto: string | undefined;
  forwardedHost: string | undefined;
  forwarded: string | undefined;
  /** What the client claims about itself (CLIENT_CLAIMS), as written, for the caller to pass on only from a trusted proxy. */
  claims: string[];
}

export type HeadVerdict = { ok: true; head: ForwardedHead } | { ok: false; problem: string };

const refuse = (problem: string): HeadVerdict => ({ ok: false, problem });

/** The comma-separated tokens of a Connection header, lower-cased. */
function connectionTokens(value: string): string[] {
  return value.split(',').map((token) => token.trim().toLowerCase());
}

function joinValue(previous: string | undefined, value: string): string {
  return previous === undefined ? value : `${previous}, ${value}`;
}

/**
 * Reads a request head for forwarding. `upgrade` heads carry no body of their own: after the
 * switch, bytes belong to the tunnel, so a framing header there is refused as ambiguous.
 */
export function readRequestHead(rawHeaders: readonly string[], httpVersion: string, upgrade = false): HeadVerdict {
  // Node's parser also reads an HTTP/0.9 line (`GET /`, no headers) and any HTTP/x.y; forwarded
  // as HTTP/1.1, either would be a different request from the one the client sent.
  if (httpVersion !== '1.1' && httpVersion !== '1.0') return refuse(`HTTP/${httpVersion} is not HTTP/1.0 or HTTP/1.1`);
  const listed: string[] = [];
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      for (const token of connectionTokens(rawHeaders[index + 1]!)) {
        if (NEVER_HOP_BY_HOP.has(token)) return refuse(`Connection lists ${token}, which is never hop-by-hop`);
        listed.push(token);
      }
    }
  }

  const headers: string[] = [];
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let hosts = 0;
  let host: string | undefined;
  let accept: string | undefined;
  let forwardedFor: string | undefined;
  let forwardedProto: string | undefined;
  let forwardedHost: string | undefined;
  let forwarded: string | undefined;
  const claims: string[] = [];
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index]!;
    const value = rawHeaders[index + 1]!;
    const lower = name.toLowerCase();
    if (FRAMING.has(lower)) {
      if (lower === 'content-length') {
        if (contentLength !== undefined) return refuse('more than one Content-Length');
        contentLength = value;
      } else if (lower === 'transfer-encoding') {
        if (transferEncoding !== undefined) return refuse('more than one Transfer-Encoding');
        transferEncoding = value;
      }
      continue;
    }
    if (FORWARDING.has(lower)) {
      if (lower === 'x-forwarded-for') forwardedFor = joinValue(forwardedFor, value);
      else if (lower === 'x-forwarded-proto') forwardedProto ??= value;
      else if (lower === 'x-forwarded-host') forwardedHost ??= value;
      else forwarded = joinValue(forwarded, value);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || ROUTING_OVERRIDES.has(lower) || listed.includes(lower)) continue;
    if (CLIENT_CLAIMS.has(lower)) {
      claims.push(name, value);
      continue;
    }
    if (lower === 'host') {
      hosts++;
      host = value;
    } else if (lower === 'accept') {
      accept = joinValue(accept, value);
    }
    headers.push(name, value);
  }
  if (hosts > 1) return refuse('more than one Host');

  let framing: BodyFraming = { kind: 'none' };
  if (transferEncoding !== undefined) {
    // Node's parser also reads `gzip, chunked` or `identity, chunked`; passing on the body it
    // de-chunked would drop the other codings, and other parsers disagree about such lists.
    if (transferEncoding.trim().toLowerCase() !== 'chunked')
      return refuse(`Transfer-Encoding ${JSON.stringify(transferEncoding)} is not exactly "chunked"`);
    if (httpVersion !== '1.1') return refuse(`Transfer-Encoding in an HTTP/${httpVersion} request`);
    if (contentLength !== undefined) return refuse('both Content-Length and Transfer-Encoding');
    framing = { kind: 'chunked' };
  } else if (contentLength !== undefined) {
    if (!/^\d{1,15}$/.test(contentLength)) return refuse(`Content-Length ${JSON.stringify(contentLength)} is not a number`);
    framing = { kind: 'length', length: String(Number(contentLength)) };
  }
  if (upgrade && framing.kind !== 'none' && !(framing.kind === 'length' && framing.length === '0'))
    return refuse('an Upgrade request with a body');
  return { ok: true, head: { headers, framing, host, accept, forwardedFor, forwardedProto, forwardedHost, forwarded, claims } };
}

/**
 * Whether a response header tells a cache how long to keep the response: `Cache-Control`, the
 * targeted fields of RFC 9213 that CDNs obey instead of it (`CDN-Cache-Control`,
 * `Cloudflare-CDN-Cache-Control`, any `*-Cache-Control`), `Surrogate-Control` and `Expires`.
 */
export function isCacheDirective(lowerName: string): boolean {
  return lowerName.endsWith('cache-control') || lowerName === 'surrogate-control' || lowerName === 'expires';
}

/** A response's end-to-end headers: hop-by-hop ones, those its Connection header lists, and those `skip` names, left out. */
export function responseHeaders(rawHeaders: readonly string[], skip: ((lowerName: string) => boolean) | null): string[] {
  const listed: string[] = [];
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') listed.push(...connectionTokens(rawHeaders[index + 1]!));
  }
  const kept: string[] = [];
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index]!;
    const lower = name.toLowerCase();
    if (lower === 'transfer-encoding' || HOP_BY_HOP.has(lower) || skip?.(lower)) continue;
    if (lower !== 'content-length' && listed.includes(lower)) continue;
    kept.push(name, rawHeaders[index + 1]!);
  }
  return kept;
}
