import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { signBypassToken } from '../../src/maintenance/bypass-token.ts';
import { Bypass, cookieValue } from '../../src/http/bypass.ts';
import { CidrList } from '../../src/cidr.ts';
import { TrustedProxies } from '../../src/http/client-address.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const key = Buffer.from('k'.repeat(32));
const otherKey = Buffer.from('o'.repeat(32));
const NOW = Date.parse('2026-11-28T10:00:00Z');
const HOUR = 3600_000;

describe('cookieValue', () => {
  it.each([
    ['a=1; maintenance_bypass=tok; b=2', 'tok'],
    ['maintenance_bypass=tok', 'tok'],
    ['xmaintenance_bypass=tok', undefined],
    ['maintenance_bypass_old=tok', undefined],
    [undefined, undefined],
  ])('finds the bypass cookie in %j', (header, expected) => {
    expect(cookieValue(header, 'maintenance_bypass')).toBe(expected);
  });
});

describe('Bypass', () => {
  const make = (networks: string[] = [], proxies: string[] = [], current: Buffer | null = key) => {
    const clock = new FakeClock(NOW);
    const bypass = new Bypass({
      key: () => current,
      networks: new CidrList(networks),
      proxies: new TrustedProxies(proxies),
      secureCookie: true,
      clock,
      registry: new Registry(),
    });
    return { bypass, clock };
  };

  it('admits a valid cookie, and treats a forged, expired or wrong-key cookie like none', () => {
    const { bypass, clock } = make();
    const good = signBypassToken(key, NOW + HOUR);
    expect(bypass.admits({ peer: '203.0.113.1', cookie: `maintenance_bypass=${good}`, forwardedFor: undefined })).toBe(true);
    expect(
      bypass.admits({
        peer: '203.0.113.1',
        cookie: `maintenance_bypass=${signBypassToken(otherKey, NOW + HOUR)}`,
        forwardedFor: undefined,
      }),
    ).toBe(false);
    expect(bypass.admits({ peer: '203.0.113.1', cookie: 'maintenance_bypass=forged', forwardedFor: undefined })).toBe(false);
    expect(bypass.admits({ peer: '203.0.113.1', cookie: undefined, forwardedFor: undefined })).toBe(false);
    clock.advanceTo(NOW + HOUR);
    expect(bypass.admits({ peer: '203.0.113.1', cookie: `maintenance_bypass=${good}`, forwardedFor: undefined })).toBe(false);
  });

  it('admits allowed networks, by the forwarded client only behind a trusted proxy', () => {
    const { bypass } = make(['198.51.100.0/24', '2001:db8::/32'], ['10.0.0.0/8']);
    expect(bypass.admits({ peer: '198.51.100.7', cookie: undefined, forwardedFor: undefined })).toBe(true);
    expect(bypass.admits({ peer: '2001:db8::1', cookie: undefined, forwardedFor: undefined })).toBe(true);
    expect(bypass.admits({ peer: '10.0.0.3', cookie: undefined, forwardedFor: '198.51.100.7' })).toBe(true);
    expect(bypass.admits({ peer: '203.0.113.1', cookie: undefined, forwardedFor: '198.51.100.7' })).toBe(false);
    expect(bypass.admits({ peer: '10.0.0.3', cookie: undefined, forwardedFor: '203.0.113.1' })).toBe(false);
  });

  it('sets a cookie for a good link only, and redirects either way', () => {
    const { bypass } = make();
    const token = signBypassToken(key, NOW + 2 * HOUR);
    expect(bypass.visit(token)).toEqual({
      location: '/',
      setCookie: `maintenance_bypass=${token}; Path=/; Max-Age=7200; HttpOnly; SameSite=Lax; Secure`,
    });
    expect(bypass.visit('forged')).toEqual({ location: '/', setCookie: null });
    expect(bypass.visit(undefined)).toEqual({ location: '/', setCookie: null });
    expect(make([], [], null).bypass.visit(token)).toEqual({ location: '/', setCookie: null });
  });
});
