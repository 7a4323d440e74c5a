import { z } from 'zod';
import type { ApiError } from './api-types.ts';

export type { ApiError } from './api-types.ts';
import {
  CONFIG_KEYS,
  MAX_MESSAGE_LENGTH,
  MAX_RETRY_AFTER_SECONDS,
  parseConfig,
  describeConfig,
  type ConfigIssue,
  type MaintenanceConfig,
} from '../../config/parse.ts';
import type { ConfigChange, StoredConfig } from '../../config/writer.ts';
import { BYPASS_DEFAULT_SECONDS, BYPASS_MAX_SECONDS } from '../../maintenance/bypass-token.ts';

const timestamp = z.iso.datetime({
  offset: true,
  error: 'must be an RFC 3339 timestamp with a time zone, such as 2026-11-27T22:00:00Z, or null to clear it',
});

export const updateSchema = z
  .strictObject({
    mode: z.enum(['off', 'on', 'read-only'], { error: 'must be "off", "on" or "read-only"' }).optional(),
    // Before read-only mode, clients sent only this: true is "on", false is "off".
    enabled: z.boolean({ error: 'must be true or false' }).optional(),
    reason: z
      .string({ error: 'is required: say why, in 1 to 500 characters' })
      .trim()
      .min(1, 'is required: say why, in 1 to 500 characters')
      .max(500, 'must be at most 500 characters'),
    message: z.string({ error: 'must be a string' }).max(MAX_MESSAGE_LENGTH, `must be at most ${MAX_MESSAGE_LENGTH} characters`).optional(),
    start: timestamp.nullable().optional(),
    end: timestamp.nullable().optional(),
    retryAfterSeconds: z
      .int({ error: 'must be a whole number of seconds, or null for the default' })
      .min(1, 'must be at least 1')
      .max(MAX_RETRY_AFTER_SECONDS, `must be at most ${MAX_RETRY_AFTER_SECONDS}`)
      .nullable()
      .optional(),
    resourceVersion: z.string({ error: 'must be a string' }).min(1, 'must not be empty').optional(),
  })
  .refine(
    (update) =>
      update.mode !== undefined ||
      update.enabled !== undefined ||
      [update.message, update.start, update.end, update.retryAfterSeconds].some((value) => value !== undefined),
    {
      message:
        'nothing to change: give mode ("off", "on" or "read-only"), or message, start, end or retryAfterSeconds (the switch then stays as it is)',
      path: ['mode'],
    },
  )
  .refine((update) => update.mode === undefined || update.enabled === undefined || update.enabled === (update.mode === 'on'), {
    message: 'must agree with mode (true only for "on"), or be left out',
    path: ['enabled'],
  })
  .refine((update) => !update.start || !update.end || Date.parse(update.end) > Date.parse(update.start), {
    message: 'must be after start',
    path: ['end'],
  });

export const bypassLinkSchema = z.strictObject({
  reason: z
    .string({ error: 'is required: say who it is for and why, in 1 to 500 characters' })
    .trim()
    .min(1, 'is required: say who it is for and why, in 1 to 500 characters')
    .max(500, 'must be at most 500 characters'),
  expiresInSeconds: z
    .int({ error: 'must be a whole number of seconds' })
    .min(60, 'must be at least 60')
    .max(BYPASS_MAX_SECONDS, `must be at most ${BYPASS_MAX_SECONDS} (7 days)`)
    .default(BYPASS_DEFAULT_SECONDS),
});

export type MaintenanceUpdate = z.infer<typeof updateSchema>;

/** The request field for each ConfigMap key, to name the field when the resulting config is refused. */
const FIELD_FOR_KEY: Record<string, string> = {
  [CONFIG_KEYS.mode]: 'mode',
  [CONFIG_KEYS.message]: 'message',
  [CONFIG_KEYS.retryAfter]: 'retryAfterSeconds',
  [CONFIG_KEYS.start]: 'start',
  [CONFIG_KEYS.end]: 'end',
};

/** Checks a parsed JSON body against a schema; the first problem names its field. */
export function parseBody<T extends z.ZodType>(
  schema: T,
  json: unknown,
): { ok: true; value: z.output<T> } | { ok: false; error: ApiError } {
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0]!;
  const field = issue.code === 'unrecognized_keys' ? issue.keys[0]! : issue.path.length > 0 ? String(issue.path[0]) : 'body';
  const message =
    issue.code === 'unrecognized_keys'
      ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => JSON.stringify(key.slice(0, 100))).join(', ')}`
      : issue.path.length === 0
        ? 'must be a JSON object'
        : issue.message;
  return { ok: false, error: { error: 'invalid_request', field, message: `${field}: ${message}` } };
}

/** Names the request field behind a refused ConfigMap snapshot. */
export function configErrorToApiError(issues: ConfigIssue[]): ApiError {
  const first = issues[0]!;
  const field = FIELD_FOR_KEY[first.key] ?? first.key;
  return {
    error: 'invalid_request',
    field,
    message: `${field}: the resulting config would be invalid: ${issues.map(({ key, message }) => `${key}: ${message}`).join('; ')}`,
  };
}

export function toConfigChange(update: MaintenanceUpdate, actor: string): ConfigChange {
  const mode = update.mode ?? (update.enabled === undefined ? undefined : update.enabled ? 'on' : 'off');
  const data: Record<string, string | null> = {};
  if (mode !== undefined) data[CONFIG_KEYS.mode] = mode === 'on' ? 'true' : mode === 'off' ? 'false' : 'read-only';
  if (update.message !== undefined) data[CONFIG_KEYS.message] = update.message;
  if (update.start !== undefined) data[CONFIG_KEYS.start] = update.start;
  if (update.end !== undefined) data[CONFIG_KEYS.end] = update.end;
  if (update.retryAfterSeconds !== undefined)
    data[CONFIG_KEYS.retryAfter] = update.retryAfterSeconds === null ? null : String(update.retryAfterSeconds);
  return {
    data,
    actor,
    reason: update.reason,
    ...(update.resourceVersion !== undefined ? { expectedVersion: update.resourceVersion } : {}),
  };
}

/** The keys of the switch, in the order the panel lists a rejected config. */
const SWITCH_KEYS = Object.values(CONFIG_KEYS);

/**
 * The admin API's view of the switch, in two parts kept apart. First what users get now: the
 * stored config when it is valid, else the last good config the pods keep applying (`shows`
 * says which, or `nothing_valid` before any good config). Then, when the stored config is
 * rejected, what is stored and why (`rejected`): every key of the switch as written, each
 * with its problem, so nothing rejected is ever shown as if users saw it.
 */
export function describeStored(stored: StoredConfig, applied: MaintenanceConfig | null = null) {
  const parsed = parseConfig(stored.data);
  const shown = parsed.ok ? parsed.config : applied;
  const config = describeConfig(shown ?? DEFAULT_CONFIG);
  const problems = new Map(parsed.ok ? [] : parsed.issues.map(({ key, message }) => [key, message]));
  return {
    ...config,
    shows: parsed.ok ? ('stored' as const) : shown ? ('last_good' as const) : ('nothing_valid' as const),
    resourceVersion: stored.version,
    changedBy: stored.audit.changedBy,
    changedAt: stored.audit.changedAt,
    reason: stored.audit.reason,
    changedOutside: stored.audit.outside ?? null,
    configError: parsed.ok ? null : parsed.error,
    readOnlyRefused: stored.readOnlyRefused,
    rejected: parsed.ok
      ? null
      : {
          error: parsed.error,
          keys: SWITCH_KEYS.filter((key) => stored.data[key] !== undefined || problems.has(key)).map((key) => ({
            key,
            value: stored.data[key] ?? null,
            problem: problems.get(key) ?? null,
          })),
        },
  };
}

const DEFAULT_CONFIG: MaintenanceConfig = (() => {
  const parsed = parseConfig({});
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.config;
})();
