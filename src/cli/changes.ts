import { CONFIG_KEYS, parseConfig, type MaintenanceConfig, type RawConfig } from '../config/parse.ts';
import type { ConfigIssue } from '../config/parse.ts';
import { decide, retryAfterSeconds } from '../maintenance/policy.ts';
import { UsageError, type Request } from './args.ts';

/** The option that sets each key, to name it when a value is refused. */
const OPTION_FOR_KEY: Record<string, string> = {
  [CONFIG_KEYS.message]: '--message',
  [CONFIG_KEYS.retryAfter]: '--retry-after',
  [CONFIG_KEYS.start]: '--start',
  [CONFIG_KEYS.end]: '--end',
};

/** The keys a command line sets, before anything is read: null clears a key. */
function givenKeys(request: Request): Record<string, string | null> {
  const data: Record<string, string | null> = {};
  if (request.message !== undefined) data[CONFIG_KEYS.message] = request.message;
  if (request.retryAfter !== undefined) data[CONFIG_KEYS.retryAfter] = request.retryAfter;
  if (request.start !== undefined) data[CONFIG_KEYS.start] = request.start;
  if (request.end !== undefined) data[CONFIG_KEYS.end] = request.end;
  return data;
}

/**
 * One line for the problems of a config: each named by the option that set it, or, for a
 * stored value the command did not touch, as the stored key that `repair` drops.
 */
export function describeIssues(issues: readonly ConfigIssue[], data: RawConfig, given: ReadonlySet<string>): string {
  return issues
    .map(({ key, message }) => {
      const after = key === CONFIG_KEYS.end && message.startsWith('must be after') && data[CONFIG_KEYS.start];
      const detail = `${message}${after ? ` (${data[CONFIG_KEYS.start]})` : ''}`;
      const named = given.has(key) || (key === CONFIG_KEYS.end && after && given.has(CONFIG_KEYS.start));
      return named ? `${OPTION_FOR_KEY[key] ?? key} ${detail}` : `the stored ${key} ${detail}: fix it, or drop it with the command repair`;
    })
    .join('; ');
}

/**
 * Checks the values of a command line by the rules the pods apply, on their own: exit 2
 * before anything is contacted. (A window's end before a stored start is found once read.)
 */
export function checkValues(request: Request): void {
  const given = Object.fromEntries(Object.entries(givenKeys(request)).filter((entry): entry is [string, string] => entry[1] !== null));
  const parsed = parseConfig(given);
  if (!parsed.ok) throw new UsageError(describeIssues(parsed.issues, given, new Set(Object.keys(given))));
}

export type Plan =
  | { write: false; said: string }
  | {
      write: true;
      data: Record<string, string | null>;
      /** Whether this change ends a window that holds maintenance now (off inside a window). */
      endsWindow: boolean;
    };

/**
 * What a command changes in the stored config, by the rules every tool shares: `on` sets the
 * switch; `off` means users get the app now (the switch off, and a window that holds
 * maintenance now cleared, as the panel's "End maintenance now"); `schedule` sets the window
 * and leaves the switch alone; `repair` drops the rejected keys. A message, Retry-After or
 * window not given keeps its stored value.
 */
export function planChange(request: Request, stored: RawConfig, now: number): Plan {
  const data = givenKeys(request);
  const parsed = parseConfig(stored);
  switch (request.command) {
    case 'on':
      if (parsed.ok && parsed.config.enabled && Object.keys(data).length === 0) return { write: false, said: 'maintenance is already on' };
      data[CONFIG_KEYS.mode] = 'true';
      break;
    case 'read-only':
      if (parsed.ok && parsed.config.readOnly && Object.keys(data).length === 0)
        return { write: false, said: 'the switch is already read-only' };
      data[CONFIG_KEYS.mode] = 'read-only';
      break;
    case 'off': {
      data[CONFIG_KEYS.mode] = 'false';
      // A window that holds maintenance or read-only now is cleared (the switch going off with
      // it, so a read-only switch cannot be left without its window, which means read-only now).
      const windowHolds = parsed.ok && decide({ ...parsed.config, enabled: false }, now).cause === 'window';
      if (windowHolds) {
        data[CONFIG_KEYS.start] = null;
        data[CONFIG_KEYS.end] = null;
      } else if (parsed.ok && decide(parsed.config, now).cause === null) {
        return { write: false, said: 'maintenance is already off' };
      }
      return { write: true, data, endsWindow: windowHolds };
    }

    case 'repair': {
      if (parsed.ok) return { write: false, said: 'the stored config is valid; nothing to repair' };
      for (const { key, message } of parsed.issues) {
        if (key in stored) data[key] = null;
        // A window whose end is not after its start: both go, as the window is what is wrong.
        if (key === CONFIG_KEYS.end && message.startsWith('must be after') && CONFIG_KEYS.start in stored) data[CONFIG_KEYS.start] = null;
      }
      break;
    }
    default:
      break;
  }
  return { write: true, data, endsWindow: false };
}

/** Which stored values a change kept (it did not set them): said, so nobody is surprised by them. */
export function keptValues(request: Request, written: RawConfig, config: MaintenanceConfig): string[] {
  return [
    request.message === undefined && written[CONFIG_KEYS.message] ? 'message' : null,
    request.retryAfter === undefined && written[CONFIG_KEYS.retryAfter] ? 'Retry-After' : null,
    request.command !== 'schedule' && request.command !== 'off' && (config.windowStart !== null || config.windowEnd !== null)
      ? 'window'
      : null,
  ].filter((item) => item !== null);
}

const at = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** What users get now and what changes next, in one line, with the Retry-After the pods send. */
export function usersGet(config: MaintenanceConfig, now: number): string {
  const decision = decide(config, now);
  const retry = `Retry-After ${retryAfterSeconds(config, now)} s`;
  const page = decision.readOnly
    ? `read-only: reads reach the application, writes get the maintenance page ("${config.message}", ${retry})`
    : `the maintenance page ("${config.message}", ${retry})`;
  if (decision.cause === 'switch') return `${page} now, until the switch is turned off`;
  const next = decision.nextChangeAt;
  if (decision.cause === 'window') return `${page} now, until ${next === null ? 'the window is cleared' : at(next)}`;
  if (next === null) return 'the application now; nothing is scheduled';
  const end = config.windowEnd;
  const later = { ...config, enabled: false };
  const what = config.readOnly ? 'read-only' : 'the maintenance page';
  return `the application now; ${what} ("${config.message}", Retry-After ${retryAfterSeconds(later, next)} s) from ${at(next)}${end !== null ? ` to ${at(end)}` : ''}`;
}
