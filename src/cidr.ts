import { BlockList, isIP } from 'node:net';

/** `::ffff:10.0.0.1`, as a dual-stack socket reports an IPv4 peer, is the IPv4 address. */
export function normalize(address: string): string {
  if (!address.startsWith('::ffff:') && !address.startsWith('::FFFF:')) return address;
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
 * What one client is counted as: an IPv4 address itself, an IPv6 address its /64, since one
 * host is commonly given a whole /64 and can speak from any address in it.
 */
export function clientKey(address: string): string {
  const plain = normalize(address);
  if (isIP(plain) !== 6) return plain;
  const [head = '', tail] = plain.split('%')[0]!.split('::');
  const groupsOf = (part: string) => (part === '' ? [] : part.split(':').flatMap((group) => (group.includes('.') ? ['0', '0'] : [group])));
  const left = groupsOf(head);
  const right = tail === undefined ? [] : groupsOf(tail);
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}
