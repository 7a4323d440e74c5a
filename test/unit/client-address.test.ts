import { describe, expect, it } from 'vitest';
import { TrustedProxies } from '../../src/http/client-address.ts';
import { RateLimiter } from '../../src/http/admin/rate-limit.ts';

describe('TrustedProxies', () => {
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

  it('refuses what is not an address or a CIDR', () => {
    expect(() => new TrustedProxies(['10.0.0.0/33'])).toThrow(/prefix/);
    expect(() => new TrustedProxies(['example.com'])).toThrow(/not an IP/);
    expect(() => new TrustedProxies(['10.0.0.0/x'])).toThrow(/prefix/);
  });
});

describe('RateLimiter', () => {
  it('allows a burst per key, then refills at its rate, and says when to come back', () => {
    let now = 0;
    const limiter = new RateLimiter({ perMinute: 6, burst: 3, now: () => now });
    expect([1, 2, 3].map(() => limiter.take('a').ok)).toEqual([true, true, true]);
    expect(limiter.take('a')).toEqual({ ok: false, retryAfterSeconds: 10 });
    expect(limiter.take('b').ok).toBe(true);
    now += 10_000;
    expect(limiter.take('a').ok).toBe(true);
    expect(limiter.take('a').ok).toBe(false);
  });

  it('forgets the least recently used keys beyond its bound', () => {
    const limiter = new RateLimiter({ perMinute: 1, burst: 1, maxKeys: 2, now: () => 0 });
    limiter.take('a');
    limiter.take('b');
    limiter.take('c');
    expect(limiter.take('a').ok).toBe(true);
  });
});
