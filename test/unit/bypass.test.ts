import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BYPASS_MAX_SECONDS, signBypassToken, verifyBypassToken } from '../../src/maintenance/bypass-token.ts';
import { Bypass, cookieValue } from '../../src/http/bypass.ts';
import { CidrList } from '../../src/cidr.ts';
import { TrustedProxies } from '../../src/http/client-address.ts';
import { isCanonicalPath } from '../../src/http/gate.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const key = Buffer.from('k'.repeat(32));
const otherKey = Buffer.from('o'.repeat(32));
const NOW = Date.parse('2026-11-28T10:00:00Z');
const HOUR = 3600_000;

describe('bypass tokens', () => {
  it('verifies a token it signed, until it expires', () => {
    const token = signBypassToken(key, NOW + 8 * HOUR, 'abcdefghijk');
    expect(verifyBypassToken(key, token, NOW)).toEqual({ ok: true, id: 'abcdefghijk', expiresAt: NOW + 8 * HOUR });
    expect(verifyBypassToken(key, token, NOW + 8 * HOUR - 1)).toMatchObject({ ok: true });
    expect(verifyBypassToken(key, token, NOW + 8 * HOUR)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses a token signed with another key: rotating the key revokes every link', () => {
    const token = signBypassToken(otherKey, NOW + HOUR);
    expect(verifyBypassToken(key, token, NOW)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyBypassToken(null, signBypassToken(key, NOW + HOUR), NOW)).toEqual({ ok: false, reason: 'no_key' });
  });

  it('refuses an edited expiry, id or signature', () => {
    const token = signBypassToken(key, NOW + HOUR, 'abcdefghijk');
    const [version, expiry, id, signature] = token.split('.') as [string, string, string, string];
    const later = String(Number(expiry) + 3600);
    expect(verifyBypassToken(key, [version, later, id, signature].join('.'), NOW)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyBypassToken(key, [version, expiry, 'abcdefghijl', signature].join('.'), NOW)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
    expect(verifyBypassToken(key, [version, expiry, id, flipped].join('.'), NOW)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it.each([
    '',
    'b1',
    'b1.1.2.3',
    'x'.repeat(10_000),
    `b2.1790000000.abcdefghijk.${'A'.repeat(43)}`,
    `b1.${'9'.repeat(13)}.abcdefghijk.${'A'.repeat(43)}`,
  ])('calls %j malformed', (token) => {
    expect(verifyBypassToken(key, token, NOW)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses a validly signed token that would outlast the longest link this service issues', () => {
    const token = signBypassToken(key, NOW + BYPASS_MAX_SECONDS * 1000 + 2 * HOUR);
    expect(verifyBypassToken(key, token, NOW)).toEqual({ ok: false, reason: 'beyond_max' });
    expect(verifyBypassToken(key, signBypassToken(key, NOW + BYPASS_MAX_SECONDS * 1000), NOW)).toMatchObject({ ok: true });
  });
});

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

describe('CidrList and TrustedProxies', () => {
  it.each([
    ['10.1.2.3', true],
    ['::ffff:10.1.2.3', true],
    ['11.0.0.1', false],
    ['fd00::1', true],
    ['fe80::1', false],
    ['192.168.1.7', true],
    ['192.168.1.8', false],
    ['not-an-ip', false],
  ])('10.0.0.0/8, fd00::/8, 192.168.1.7 contains %s: %s', (address, expected) => {
    expect(new CidrList(['10.0.0.0/8', 'fd00::/8', '192.168.1.7']).has(address)).toBe(expected);
  });

  it.each(['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0.0/x'])('refuses %j', (cidr) => {
    expect(() => new CidrList([cidr])).toThrow(cidr);
  });

  it('reads X-Forwarded-For only from trusted proxies, from the right', () => {
    const proxies = new TrustedProxies(['10.0.0.0/8', 'fd00::/8']);
    expect(proxies.clientAddress('203.0.113.9', '198.51.100.1')).toBe('203.0.113.9');
    expect(proxies.clientAddress('10.0.0.2', '198.51.100.1, 10.0.0.5')).toBe('198.51.100.1');
    expect(proxies.clientAddress('fd00::2', '2001:db8::7')).toBe('2001:db8::7');
    expect(proxies.clientAddress('10.0.0.2', '192.0.2.66, 198.51.100.1')).toBe('198.51.100.1');
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

describe('isCanonicalPath', () => {
  it.each([
    ['/health', true],
    ['/api/v1/items', true],
    ['/health/../admin', false],
    ['/health/%2e%2e/admin', false],
    ['/health%2F..%2Fadmin', false],
    ['/health\\..\\admin', false],
    ['/health/./x', false],
    // Tomcat's path parameters: `..;` is a dot segment to it.
    ['/api/health/..;/..;/admin/users', false],
    ['/api/health/..;/admin', false],
    ['/api/health;jsessionid=1', false],
    ['/api/health/..%3b/admin', false],
    // Double encoding, and encoded NUL or backslash.
    ['/api/health/%252e%252e/admin', false],
    ['/api/health/%2E%2E/admin', false],
    ['/api/health/%00/admin', false],
    ['/api/health/%5c..%5cadmin', false],
    ['/api/health/.', false],
    ['/api/health/..', false],
    // Empty segments: some servers collapse them, some do not.
    ['/api//health', false],
    ['//api/health', false],
    ['/api/health//x', false],
    ['/api/health/', true],
    ['/api/health/%41', true],
    ['/', true],
    ['', false],
    ['api/health', false],
  ])('%s: %s', (path, expected) => {
    expect(isCanonicalPath(path)).toBe(expected);
  });
});
