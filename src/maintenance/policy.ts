import { MAX_RETRY_AFTER_SECONDS, type MaintenanceConfig, type SwitchMode } from '../config/parse.ts';

export type MaintenanceCause = 'switch' | 'window';

export interface Decision {
  /** Maintenance in effect: pods fail readiness, every request but the allowed gets the 503 page. */
  active: boolean;
  /** Read-only in effect: pods stay ready, reads reach the app, writes get the 503 page. Never with `active`. */
  readOnly: boolean;
  /** Why maintenance or read-only is on; the switch wins when both apply. */
  cause: MaintenanceCause | null;
  /**
   * Epoch milliseconds of the next moment the decision changes by itself: a window edge while
   * the switch leaves it to the window; never while the switch holds it on.
   */
  nextChangeAt: number | null;
}

function isInWindow(config: MaintenanceConfig, now: number): boolean {
  const { windowStart: start, windowEnd: end } = config;
  if (start === null && end === null) return false;
  return (start === null || now >= start) && (end === null || now < end);
}

const hasWindow = (config: MaintenanceConfig) => config.windowStart !== null || config.windowEnd !== null;

/**
 * The switch on: maintenance now, whatever the window. The switch read-only: read-only now, or,
 * with a window, read-only inside it (the window's kind). Otherwise a window is maintenance.
 */
export function decide(config: MaintenanceConfig, now: number): Decision {
  if (config.enabled) return { active: true, readOnly: false, cause: 'switch', nextChangeAt: null };
  if (config.readOnly && !hasWindow(config)) return { active: false, readOnly: true, cause: 'switch', nextChangeAt: null };
  const inWindow = isInWindow(config, now);
  return {
    active: inWindow && !config.readOnly,
    readOnly: inWindow && config.readOnly,
    cause: inWindow ? 'window' : null,
    nextChangeAt: nextWindowEdge(config, now),
  };
}

/** What is in effect, as one word: maintenance on, read-only, or off. */
export function effectiveMode(decision: Pick<Decision, 'active' | 'readOnly'>): SwitchMode {
  return decision.active ? 'on' : decision.readOnly ? 'read-only' : 'off';
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

/** What happens to one request: it reaches the application, reaches it but no cache may keep the answer, gets the 503 page, or waits for its GraphQL operation to be judged (read-only). */
export type Admission = 'pass' | 'private' | 'hold' | 'graphql';

/** The methods that only read, by HTTP's own definition of safe methods, which read-only mode lets through. */
export function isReadMethod(method: string | undefined): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}

export interface AdmissionRequest {
  method: string | undefined;
  /** The request's path against a list of prefixes; a gate answers false for a path the app could read as another. */
  matches(prefixes: readonly string[]): boolean;
  isBypassed(): boolean;
}

/**
 * The one decision for the user role and the gate alike. Off, or on an allowed path, a request
 * passes. In maintenance a bypass holder passes privately and anyone else is held. In read-only
 * reads pass; a bypass holder's writes pass privately; on a GraphQL path GET and POST wait for
 * their operation to be judged; other writes are held. The checks are functions so that, while
 * nothing is on, nothing is computed.
 */
export function admit(
  view: { active: boolean; readOnly: boolean; config: MaintenanceConfig | null },
  request: AdmissionRequest,
): Admission {
  if ((!view.active && !view.readOnly) || view.config === null || request.matches(view.config.allowPaths)) return 'pass';
  if (view.active) return request.isBypassed() ? 'private' : 'hold';
  // Read-only: a read passes as it would for anyone, so no bypass is looked for.
  const graphql = (request.method === 'GET' || request.method === 'POST') && request.matches(view.config.graphqlPaths);
  if (!graphql && isReadMethod(request.method)) return 'pass';
  if (request.isBypassed()) return 'private';
  return graphql ? 'graphql' : 'hold';
}
