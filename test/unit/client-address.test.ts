import { describe, expect, it } from 'vitest';
import { TrustedProxies } from '../../src/http/client-address.ts';

describe('TrustedProxies', () => {
  it('reads X-Forwarded-For only from trusted proxies, from the right', () => {
    const proxies = new TrustedProxies(['10.0.0.0/8', 'fd00::/8']);
    expect(proxies.clientAddress('203.0.113.9', '198.51.100.1')).toBe('203.0.113.9');
    expect(proxies.clientAddress('10.0.0.2', '198.51.100.1, 10.0.0.5')).toBe('198.51.100.1');
    expect(proxies.clientAddress('fd00::2', '2001:db8::7')).toBe('2001:db8::7');
    expect(proxies.clientAddress('10.0.0.2', '192.0.2.66, 198.51.100.1')).toBe('198.51.100.1');
  });

  const proxies = new TrustedProxies(['10.0.0.0/8', 'fd00::/8', '192.168.1.5']);

  it('trusts addresses inside the CIDRs, IPv4, IPv6 and IPv4-mapped', () => {
    expect(proxies.trusts('10.1.2.3')).toBe(true);
    expect(proxies.trusts('::ffff:10.1.2.3')).toBe(true);
    expect(proxies.trusts('fd12::1')).toBe(true);
    expect(proxies.trusts('192.168.1.5')).toBe(true);
    expect(proxies.trusts('192.168.1.6')).toBe(false);
    expect(proxies.trusts('11.0.0.1')).toBe(false);
    expect(proxies.trusts('fe80::1')).toBe(false);
    expect(proxies.trusts(undefined)).toBe(false);
  });

  it('believes X-Forwarded-For only from a trusted peer, reading from the right', () => {
    expect(proxies.clientAddress('203.0.113.9', '1.2.3.4')).toBe('203.0.113.9');
    expect(proxies.clientAddress('10.0.0.1', '1.2.3.4')).toBe('1.2.3.4');
    expect(proxies.clientAddress('10.0.0.1', 'spoofed, 1.2.3.4, 10.0.0.2')).toBe('1.2.3.4');
    expect(proxies.clientAddress('10.0.0.1', '2001:db8::1')).toBe('2001:db8::1');
    expect(proxies.clientAddress('10.0.0.1', undefined)).toBe('10.0.0.1');
    expect(new TrustedProxies([]).clientAddress('10.0.0.1', '1.2.3.4')).toBe('10.0.0.1');
    expect(proxies.forwarded('10.0.0.1', 'panel.example, other')).toBe('panel.example');
    expect(proxies.forwarded('203.0.113.9', 'panel.example')).toBeUndefined();
  });

  it('reads hops written with a port, in brackets or quoted, as their address', () => {
    expect(proxies.clientAddress('10.0.0.1', '198.51.100.7, 203.0.113.4:51234')).toBe('203.0.113.4');
    expect(proxies.clientAddress('10.0.0.1', '198.51.100.7, [2001:db8::17]:4711')).toBe('2001:db8::17');
    expect(proxies.clientAddress('10.0.0.1', '198.51.100.7, [2001:db8::17]')).toBe('2001:db8::17');
    expect(proxies.clientAddress('10.0.0.1', '198.51.100.7, 10.0.0.2:80, 203.0.113.4:1')).toBe('203.0.113.4');
  });

  it('never believes an earlier hop when the nearest one a trusted proxy wrote is not an address', () => {
    // The attacker's own entry (192.0.2.10, say an allowed office network) sits left of what the proxy wrote.
    for (const written of ['unknown', '_hidden', '010.0.0.1', '203.0.113.4:port', '[203.0.113.4]', '', 'host.example']) {
      expect(proxies.clientAddress('10.0.0.1', `192.0.2.10, ${written}`), written).toBe('unknown');
    }
    expect(proxies.clientAddress('10.0.0.1', '192.0.2.10, unknown, 10.0.0.2')).toBe('unknown');
  });

  it('reads RFC 7239 Forwarded for= when the proxies write that header', () => {
    const forwarded = new TrustedProxies(['10.0.0.0/8'], 'forwarded');
    expect(forwarded.header).toBe('forwarded');
    expect(forwarded.clientAddress('10.0.0.1', 'for=192.0.2.60;proto=http;by=10.0.0.1')).toBe('192.0.2.60');
    expect(forwarded.clientAddress('10.0.0.1', 'for=192.0.2.10, for="[2001:db8:cafe::17]:4711"')).toBe('2001:db8:cafe::17');
    expect(forwarded.clientAddress('10.0.0.1', 'for=192.0.2.10, For=203.0.113.5:80;proto=https, for=10.0.0.9')).toBe('203.0.113.5');
    expect(forwarded.clientAddress('10.0.0.1', 'for=192.0.2.10, for=_hidden')).toBe('unknown');
    expect(forwarded.clientAddress('10.0.0.1', 'for=192.0.2.10, proto=https')).toBe('unknown');
    expect(forwarded.clientAddress('203.0.113.9', 'for=192.0.2.10')).toBe('203.0.113.9');
  });

  it('refuses what is not an address or a CIDR', () => {
    expect(() => new TrustedProxies(['10.0.0.0/33'])).toThrow(/prefix/);
    expect(() => new TrustedProxies(['example.com'])).toThrow(/not an IP/);
    expect(() => new TrustedProxies(['10.0.0.0/x'])).toThrow(/prefix/);
  });
});
