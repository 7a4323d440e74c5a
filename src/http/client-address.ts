import { BlockList, isIP } from 'node:net';

/** `::ffff:10.0.0.1`, as a dual-stack socket reports an IPv4 peer, is the IPv4 address. */
export function normalize(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/** A set of networks, such as `10.0.0.0/8` or `fd00::/8`; a bare address means just that host. */
export class CidrList {
  readonly #list = new BlockList();
  readonly empty: boolean;

  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [address = '', bits] = cidr.split('/');
      const family = isIP(address);
      if (family === 0) throw new Error(`not an IP address or CIDR: ${JSON.stringify(cidr)}`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits);
      if (!/^\d+$/.test(bits ?? '0') || prefix > (family === 4 ? 32 : 128)) throw new Error(`bad prefix length in ${JSON.stringify(cidr)}`);
      this.#list.addSubnet(address, prefix, type);
    }
    this.empty = cidrs.length === 0;
  }

  /** IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) count as their IPv4 address. */
  has(address: string | undefined): boolean {
    if (this.empty || address === undefined) return false;
    const plain = normalize(address);
    const family = isIP(plain);
    return family !== 0 && this.#list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/**
 * The proxies whose forwarding headers may be believed, from `TRUSTED_PROXY_CIDRS`.
 * With none configured, `X-Forwarded-*` is ignored: anyone can send it.
 */
export class TrustedProxies {
  readonly #networks: CidrList;

  constructor(cidrs: readonly string[]) {
    this.#networks = new CidrList(cidrs);
  }

  trusts(address: string | undefined): boolean {
    return this.#networks.has(address);
  }

  /**
   * The client behind the proxies: the peer itself unless it is trusted; then, reading
   * `X-Forwarded-For` from the right, the first address that is not a trusted proxy.
   */
  clientAddress(peer: string | undefined, forwardedFor: string | undefined): string {
    const direct = peer === undefined ? 'unknown' : normalize(peer);
    if (!this.trusts(direct) || forwardedFor === undefined) return direct;
    const hops = forwardedFor.split(',').map((hop) => normalize(hop.trim())).filter((hop) => isIP(hop) !== 0);
    for (let index = hops.length - 1; index >= 0; index--) {
      if (!this.trusts(hops[index])) return hops[index]!;
    }
    return hops[0] ?? direct;
  }

  /** A forwarding header's value, only when the peer is a trusted proxy. */
  forwarded(peer: string | undefined, value: string | undefined): string | undefined {
    return value !== undefined && this.trusts(peer) ? value.split(',')[0]!.trim() : undefined;
  }
}
