import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Links last 8 hours unless asked otherwise, and never more than 7 days. */
export const BYPASS_DEFAULT_SECONDS = 8 * 3600;
export const BYPASS_MAX_SECONDS = 7 * 86_400;

const VERSION = 'b1';
// One spelling per token: no leading zero in the expiry, and the signature as base64url writes
// it (its last character's two unused bits zero, checked after decoding). The id is signed as
// written, so another spelling of it never verifies.
const TOKEN = /^b1\.([1-9]\d{0,11})\.([A-Za-z0-9_-]{11})\.([A-Za-z0-9_-]{43})$/;

export interface BypassGrant {
  /** A short random id, safe to log and to name in Events; the signature never is. */
  id: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

export type BypassVerdict =
  | ({ ok: true } & BypassGrant)
  | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' | 'beyond_max' | 'no_key' };

function signature(key: Buffer, expiresAtSeconds: number, id: string): Buffer {
  return createHmac('sha256', key).update(`${VERSION}.${expiresAtSeconds}.${id}`).digest();
}

/**
 * A bypass token: `b1.<expiry in Unix seconds>.<id>.<HMAC-SHA256 of the rest>`. It carries no
 * name or reason (those go to the Event), so a token in a URL or cookie reveals nothing.
 */
export function signBypassToken(key: Buffer, expiresAt: number, id: string = randomBytes(8).toString('base64url')): string {
  const seconds = Math.floor(expiresAt / 1000);
  return `${VERSION}.${seconds}.${id}.${signature(key, seconds, id).toString('base64url')}`;
}

/**
 * Checks a token against the current key. A token that claims to last beyond the longest
 * link this service issues is refused too: no key leak can mint a permanent pass.
 */
export function verifyBypassToken(key: Buffer | null, token: string, now: number): BypassVerdict {
  if (key === null) return { ok: false, reason: 'no_key' };
  const match = TOKEN.exec(token);
  if (!match) return { ok: false, reason: 'malformed' };
  const seconds = Number(match[1]);
  const id = match[2]!;
  const given = Buffer.from(match[3]!, 'base64url');
  if (given.toString('base64url') !== match[3]) return { ok: false, reason: 'malformed' };
  const expected = signature(key, seconds, id);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad_signature' };
  const expiresAt = seconds * 1000;
  if (expiresAt <= now) return { ok: false, reason: 'expired' };
  if (expiresAt > now + BYPASS_MAX_SECONDS * 1000 + 60_000) return { ok: false, reason: 'beyond_max' };
  return { ok: true, id, expiresAt };
}
