import { describe, expect, it } from 'vitest';
import { BYPASS_MAX_SECONDS, signBypassToken, verifyBypassToken } from '../../src/maintenance/bypass-token.ts';

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

  it('accepts only the one spelling it issues: no leading zero in the expiry, no set unused bits in the signature', () => {
    const token = signBypassToken(key, NOW + HOUR, 'abcdefghijk');
    const [version, expiry, id, signature] = token.split('.') as [string, string, string, string];
    expect(verifyBypassToken(key, token, NOW)).toMatchObject({ ok: true });
    expect(verifyBypassToken(key, [version, `0${expiry}`, id, signature].join('.'), NOW)).toEqual({ ok: false, reason: 'malformed' });
    // The last of 43 characters carries 4 bits of the signature and 2 unused bits: the same bytes, spelled otherwise.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(signature.at(-1)!);
    for (const unused of [1, 2, 3]) {
      const respelled = signature.slice(0, -1) + alphabet[last + unused];
      expect(Buffer.from(respelled, 'base64url').equals(Buffer.from(signature, 'base64url'))).toBe(true);
      expect(verifyBypassToken(key, [version, expiry, id, respelled].join('.'), NOW)).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('refuses a validly signed token that would outlast the longest link this service issues', () => {
    const token = signBypassToken(key, NOW + BYPASS_MAX_SECONDS * 1000 + 2 * HOUR);
    expect(verifyBypassToken(key, token, NOW)).toEqual({ ok: false, reason: 'beyond_max' });
    expect(verifyBypassToken(key, signBypassToken(key, NOW + BYPASS_MAX_SECONDS * 1000), NOW)).toMatchObject({ ok: true });
  });
});
