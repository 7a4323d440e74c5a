import { MAX_RETRY_AFTER_SECONDS, type MaintenanceConfig } from '../config/parse.ts';

export type MaintenanceCause = 'switch' | 'window';

export interface Decision {
  active: boolean;
  /** Why maintenance is on; the switch wins when both apply. */
  cause: MaintenanceCause | null;
  /** Epoch milliseconds of the next window edge, when the decision may change by itself. */
  nextChangeAt: number | null;
}

export function isInWindow(config: MaintenanceConfig, now: number): boolean {
  const { windowStart: start, windowEnd: end } = config;
  if (start === null && end === null) return false;
  return (start === null || now >= start) && (end === null || now < end);
}

export function decide(config: MaintenanceConfig, now: number): Decision {
  const inWindow = isInWindow(config, now);
  const cause: MaintenanceCause | null = config.enabled ? 'switch' : inWindow ? 'window' : null;
  return { active: cause !== null, cause, nextChangeAt: nextWindowEdge(config, now) };
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
