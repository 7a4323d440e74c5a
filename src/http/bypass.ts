import type { Counter, Registry } from 'prom-client';
import { labelledCounter } from './counters.ts';
import type { Clock } from '../clock.ts';
import { verifyBypassToken } from '../maintenance/bypass-token.ts';
import type { CidrList } from '../cidr.ts';
import type { TrustedProxies } from './client-address.ts';

/** Where a bypass link points, on the user role and the gate alike. */
export const BYPASS_PATH = '/__maintenance/bypass';
const BYPASS_COOKIE = 'maintenance_bypass';
/** On every response that got past maintenance: no shared cache may hand it to someone else. */
export const BYPASS_CACHE_CONTROL = 'private, no-store';

export interface BypassSettings {
  /** The current HMAC key, or null when bypass links are off. */
  key: () => Buffer | null;
  /** `MAINTENANCE_BYPASS_CIDRS`: clients from these networks always see the app. */
  networks: CidrList;
  /** `TRUSTED_PROXY_CIDRS`: whose X-Forwarded-For names the client. */
  proxies: TrustedProxies;
  /** Off only for plain-HTTP local use: browsers drop Secure cookies on http:// except on localhost. */
  secureCookie: boolean;
  clock: Clock;
  registry: Registry;
}

export interface BypassRequest {
  peer: string | undefined;
  cookie: string | undefined;
  /** The forwarding header the trusted proxies write (`TRUSTED_PROXY_HEADER`). */
  forwardedFor: string | undefined;
}

/** The value of one cookie in a Cookie header, without a general parser on the hot path. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const separator = part.indexOf('=');
    if (separator !== -1 && part.slice(0, separator).trim() === name) return part.slice(separator + 1).trim();
  }
  return undefined;
}

/**
 * Who may see the application during maintenance: clients from the allowed networks, and
 * holders of a valid bypass cookie. A forged, expired or wrong-key cookie is treated exactly
 * like no cookie, so the answer never tells which it was.
 */
export class Bypass {
  readonly #outcomes: Counter<'result'>;

  readonly settings: BypassSettings;

  constructor(settings: BypassSettings) {
    this.settings = settings;
    this.#outcomes = labelledCounter(settings.registry, {
      name: 'maintenance_bypass_requests_total',
      help: 'Requests during maintenance that carried a bypass (network, cookie) or a refused cookie (malformed, bad_signature, expired, beyond_max, no_key)',
      label: 'result',
      values: [],
    });
  }

  admits(request: BypassRequest): boolean {
    const { networks, proxies, key, clock } = this.settings;
    if (!networks.empty && networks.has(proxies.clientAddress(request.peer, request.forwardedFor))) {
      this.#outcomes.inc({ result: 'network' });
      return true;
    }
    const token = cookieValue(request.cookie, BYPASS_COOKIE);
    if (token === undefined) return false;
    const verdict = verifyBypassToken(key(), token, clock.now());
    this.#outcomes.inc({ result: verdict.ok ? 'cookie' : verdict.reason });
    return verdict.ok;
  }

  /**
   * The answer to a visit of a bypass link: a redirect to `/`, setting the cookie only when the
   * token is good. A bad token gets the same redirect, and then the same page as anyone.
   */
  visit(token: string | undefined): { location: string; setCookie: string | null } {
    const verdict = token === undefined ? null : verifyBypassToken(this.settings.key(), token, this.settings.clock.now());
    if (verdict === null || !verdict.ok) {
      this.#outcomes.inc({ result: verdict?.ok === false ? verdict.reason : 'malformed' });
      return { location: '/', setCookie: null };
    }
    const maxAge = Math.max(1, Math.floor((verdict.expiresAt - this.settings.clock.now()) / 1000));
    const attributes = [`${BYPASS_COOKIE}=${token}`, 'Path=/', `Max-Age=${maxAge}`, 'HttpOnly', 'SameSite=Lax'];
    if (this.settings.secureCookie) attributes.push('Secure');
    return { location: '/', setCookie: attributes.join('; ') };
  }
}
