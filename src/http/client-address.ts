import { isIP } from 'node:net';
import { CidrList, normalize } from '../cidr.ts';

/** Which header the trusted proxies write the client into: `X-Forwarded-For`, or RFC 7239's `Forwarded` (`for=`). */
export type ForwardingHeader = 'x-forwarded-for' | 'forwarded';

/** The client the proxies could not name: an address in no network, so it matches no bypass. */
const UNKNOWN_CLIENT = 'unknown';

/**
 * One hop as a proxy wrote it, as a bare address: `203.0.113.7`, `203.0.113.7:51234` (Azure
 * Application Gateway), `[2001:db8::1]:443`, `"[2001:db8::1]"`; null for anything else
 * (`unknown`, `_hidden`, `010.0.0.1`), which is not an address at all.
 */
function hopAddress(hop: string): string | null {
  let text = hop.trim();
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1);
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed) return isIP(bracketed[1]!) === 6 ? normalize(bracketed[1]!) : null;
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(text);
  if (withPort) text = withPort[1]!;
  return isIP(text) === 0 ? null : normalize(text);
}

/** The `for=` of each element of a `Forwarded` header, in order; null where an element has none. */
export function forwardedFor(header: string): (string | null)[] {
  return header.split(',').map((element) => {
    for (const pair of element.split(';')) {
      const separator = pair.indexOf('=');
      if (separator !== -1 && pair.slice(0, separator).trim().toLowerCase() === 'for') return pair.slice(separator + 1);
    }
    return null;
  });
}

/**
 * The proxies whose forwarding headers may be believed, from `TRUSTED_PROXY_CIDRS`.
 * With none configured, `X-Forwarded-For` and `Forwarded` are ignored: anyone can send them.
 */
export class TrustedProxies {
  readonly #networks: CidrList;
  readonly header: ForwardingHeader;

  constructor(cidrs: readonly string[], header: ForwardingHeader = 'x-forwarded-for') {
    this.#networks = new CidrList(cidrs);
    this.header = header;
  }

  trusts(address: string | undefined): boolean {
    return this.#networks.has(address);
  }

  /**
   * The client behind the proxies: the peer itself unless it is trusted; then, reading the
   * forwarding header (`this.header`) from the right, the first hop that is not a trusted
   * proxy. A hop that a trusted proxy wrote but that is not an address ends the walk as
   * `unknown`: the entries left of it are the client's own words, never its address.
   */
  clientAddress(peer: string | undefined, header: string | undefined): string {
    const direct = peer === undefined ? UNKNOWN_CLIENT : normalize(peer);
    if (!this.trusts(direct) || header === undefined) return direct;
    const hops = this.header === 'forwarded' ? forwardedFor(header) : header.split(',');
    let nearest = direct;
    for (let index = hops.length - 1; index >= 0; index--) {
      const written = hops[index];
      const address = written === null || written === undefined ? null : hopAddress(written);
      if (address === null) return UNKNOWN_CLIENT;
      if (!this.trusts(address)) return address;
      nearest = address;
    }
    return nearest;
  }

  /** A forwarding header's value, only when the peer is a trusted proxy. */
  forwarded(peer: string | undefined, value: string | undefined): string | undefined {
    return value !== undefined && this.trusts(peer) ? value.split(',')[0]!.trim() : undefined;
  }
}
