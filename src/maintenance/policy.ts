import { MAX_RETRY_AFTER_SECONDS, type MaintenanceConfig } from '../config/parse.ts';

export type MaintenanceCause = 'switch' | 'window';

export interface Decision {
  active: boolean;
  /** Why maintenance is on; the switch wins when both apply. */
  cause: MaintenanceCause | null;
  /**
   * Epoch milliseconds of the next moment the decision changes by itself: a window edge while
   * the switch is off; never while it is on, whatever the window does.
   */
  nextChangeAt: number | null;
}

function isInWindow(config: MaintenanceConfig, now: number): boolean {
  const { windowStart: start, windowEnd: end } = config;
  if (start === null && end === null) return false;
  return (start === null || now >= start) && (end === null || now < end);
}

export function decide(config: MaintenanceConfig, now: number): Decision {
  const inWindow = isInWindow(config, now);
  const cause: MaintenanceCause | null = config.enabled ? 'switch' : inWindow ? 'window' : null;
  return { active: cause !== null, cause, nextChangeAt: config.enabled ? null : nextWindowEdge(config, now) };
}

function nextWindowEdge(config: MaintenanceConfig, now: number): number | null {
  if (config.windowStart !== null && now < config.windowStart) return config.windowStart;
  if (config.windowEnd !== null && now < config.windowEnd) return config.windowEnd;
  return null;
}

/**
 * Inside a window with an end, clients are told to come back when it ends, at most the
 * documented 7 days ahead; otherwise the configured value.
 */
export function retryAfterSeconds(config: MaintenanceConfig, now: number): number {
  if (config.windowEnd !== null && isInWindow(config, now)) {
    return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil((config.windowEnd - now) / 1000)));
  }
  return config.retryAfterSeconds;
}

/** Prefix match on whole path segments: `/api` allows `/api` and `/api/x`, not `/apiary`. */
export function isPathAllowed(allowPaths: readonly string[], path: string): boolean {
  for (const prefix of allowPaths) {
    if (path === prefix) return true;
    if (path.startsWith(prefix) && (prefix.endsWith('/') || path.charCodeAt(prefix.length) === 47)) return true;
  }
  return false;
}

/** Percent-encodings of the characters that can change how a path splits: `.`, `/`, `\\`, `;`, `%` itself, and NUL. */
const ENCODED_SEPARATOR = /%(?:2e|2f|5c|3b|25|00)/i;

/**
 * A path that is safe to compare with the allowed paths: one no application can read as
 * another. `/health/../admin`, `/health/..;/admin` (Tomcat's path parameters) or
 * `/health%2F..%2Fadmin` would pass a prefix check for `/health` and then be normalised by
 * the application into `/admin`; such paths are never "allowed". So: no dot segments, no
 * `;`, no backslash, no encoded separator (or double encoding), no empty segment (one
 * trailing slash is fine), and nothing a URL parser would rewrite.
 */
export function isCanonicalPath(path: string): boolean {
  if (path.charCodeAt(0) !== 47 || path.includes(';') || path.includes('\\') || path.includes('//') || ENCODED_SEPARATOR.test(path))
    return false;
  for (const segment of path.split('/')) {
    if (segment === '.' || segment === '..') return false;
  }
  const resolved = URL.parse(path, 'http://gate.invalid');
  return resolved !== null && resolved.pathname === path;
}

/** What happens to one request: it reaches the application, reaches it but no cache may keep the answer, or gets the 503 page. */
export type Admission = 'pass' | 'private' | 'hold';

/**
 * The one pass / private / hold decision, for the user role and the gate alike. Off, or on an
 * allowed path, a request passes; during maintenance a bypass holder passes privately; anyone
 * else is held. The checks are functions so that, while maintenance is off, nothing is computed.
 */
export function admit(
  view: { active: boolean; config: MaintenanceConfig | null },
  isAllowed: (allowPaths: readonly string[]) => boolean,
  isBypassed: () => boolean,
): Admission {
  if (!view.active || view.config === null || isAllowed(view.config.allowPaths)) return 'pass';
  return isBypassed() ? 'private' : 'hold';
}
