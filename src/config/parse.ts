import { createHash } from 'node:crypto';
import { z } from 'zod';

/** The ConfigMap keys this service reads. Any other key in the ConfigMap is ignored. */
export const CONFIG_KEYS = {
  mode: 'MAINTENANCE_MODE',
  message: 'MAINTENANCE_MESSAGE',
  retryAfter: 'MAINTENANCE_RETRY_AFTER',
  start: 'MAINTENANCE_START',
  end: 'MAINTENANCE_END',
  allowPaths: 'MAINTENANCE_ALLOW_PATHS',
  pageHtml: 'MAINTENANCE_PAGE_HTML',
  graphqlPaths: 'MAINTENANCE_GRAPHQL_PATHS',
} as const;

/**
 * A fingerprint of the maintenance keys of a ConfigMap's data, as the tools record it when they
 * write (annotation data-hash): each present key in name order, then its value in base64, one
 * per line, hashed with SHA-256. The kubectl plugin computes the same in bash.
 */
export function dataHash(data: RawConfig): string {
  const keys = (Object.values(CONFIG_KEYS) as string[]).filter((key) => data[key] !== undefined).sort();
  const canonical = keys.map((key) => `${key}\n${Buffer.from(data[key]!, 'utf8').toString('base64')}\n`).join('');
  return createHash('sha256').update(canonical).digest('hex');
}

/** A comma-separated list, each item trimmed, empty items dropped: `/healthz, /webhooks/`. */
export const commaList = z.string().transform((text) =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== ''),
);

export const DEFAULT_MESSAGE = 'We are performing scheduled maintenance. Please try again shortly.';
export const DEFAULT_RETRY_AFTER_SECONDS = 300;
export const MAX_MESSAGE_LENGTH = 2000;
export const MAX_RETRY_AFTER_SECONDS = 7 * 24 * 3600;
/** The largest page template, in bytes: a page, not a site. */
export const MAX_PAGE_HTML_BYTES = 64 * 1024;
/** What a page template may ask for, each filled in escaped: `{{message}}` it must. */
export const PAGE_PLACEHOLDERS = ['message', 'retryAfterSeconds', 'until'] as const;

/** The raw key/value payload of one ConfigMap version, as mounted or as read from the API. */
export type RawConfig = Readonly<Record<string, string>>;

export function sameConfig(a: RawConfig, b: RawConfig): boolean {
  const aKeys = Object.keys(a);
  return aKeys.length === Object.keys(b).length && aKeys.every((key) => key in b && a[key] === b[key]);
}

export interface MaintenanceConfig {
  /** `MAINTENANCE_MODE: "true"`: maintenance on, whatever the window says. */
  enabled: boolean;
  /**
   * `MAINTENANCE_MODE: "read-only"`: reads reach the app, writes get the 503 page; with a
   * window, only inside it. Never true with `enabled`.
   */
  readOnly: boolean;
  message: string;
  retryAfterSeconds: number;
  /** Epoch milliseconds, or null for an open bound. */
  windowStart: number | null;
  windowEnd: number | null;
  allowPaths: readonly string[];
  /** Your own 503 page (MAINTENANCE_PAGE_HTML), with its placeholders; null for the default page. */
  pageHtml: string | null;
  /** Where read-only mode parses GraphQL to tell a query from a mutation (MAINTENANCE_GRAPHQL_PATHS). */
  graphqlPaths: readonly string[];
}

const blankAsAbsent = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const rfc3339 = z.preprocess(
  (value) => (typeof value === 'string' ? value.trim() : value),
  z.iso
    .datetime({ offset: true, error: 'must be an RFC 3339 timestamp with a time zone, such as 2026-11-27T22:00:00Z' })
    .transform((text) => Date.parse(text)),
);

const pageTemplate = z
  .string()
  .refine((html) => Buffer.byteLength(html, 'utf8') <= MAX_PAGE_HTML_BYTES, `must be at most ${MAX_PAGE_HTML_BYTES / 1024} KiB`)
  .refine((html) => html.includes('{{message}}'), 'must contain the placeholder {{message}}')
  .superRefine((html, context) => {
    const unknown = [...html.matchAll(/\{\{\s*([^{}]*?)\s*\}\}/g)]
      .map((match) => match[1]!)
      .filter((name) => !(PAGE_PLACEHOLDERS as readonly string[]).includes(name));
    if (unknown.length > 0)
      context.addIssue({
        code: 'custom',
        message: `has an unknown placeholder {{${unknown[0]!.slice(0, 40)}}}: use ${PAGE_PLACEHOLDERS.map((name) => `{{${name}}}`).join(', ')}`,
      });
  });

const pathPrefixes = commaList.pipe(z.array(z.string().startsWith('/', 'each path prefix must start with "/"'))).default([]);

const schema = z
  .object({
    [CONFIG_KEYS.mode]: z.preprocess(
      blankAsAbsent,
      z
        .string()
        .transform((text) => text.trim().toLowerCase())
        .pipe(z.enum(['true', 'false', 'read-only'], { error: 'must be "true", "false" or "read-only"' }))
        .default('false'),
    ),
    [CONFIG_KEYS.message]: z.preprocess(
      blankAsAbsent,
      z
        .string()
        .transform((text) => text.trim())
        .pipe(z.string().max(MAX_MESSAGE_LENGTH, `must be at most ${MAX_MESSAGE_LENGTH} characters`))
        .default(DEFAULT_MESSAGE),
    ),
    [CONFIG_KEYS.retryAfter]: z.preprocess(
      blankAsAbsent,
      z
        .string()
        .trim()
        .regex(/^\d+$/, 'must be a whole number of seconds')
        .transform(Number)
        .pipe(z.number().min(1, 'must be at least 1').max(MAX_RETRY_AFTER_SECONDS, `must be at most ${MAX_RETRY_AFTER_SECONDS} (7 days)`))
        .default(DEFAULT_RETRY_AFTER_SECONDS),
    ),
    [CONFIG_KEYS.start]: z.preprocess(blankAsAbsent, rfc3339.optional()),
    [CONFIG_KEYS.end]: z.preprocess(blankAsAbsent, rfc3339.optional()),
    [CONFIG_KEYS.allowPaths]: z.preprocess(blankAsAbsent, pathPrefixes),
    [CONFIG_KEYS.pageHtml]: z.preprocess(blankAsAbsent, pageTemplate.optional()),
    [CONFIG_KEYS.graphqlPaths]: z.preprocess(blankAsAbsent, pathPrefixes),
  })
  .refine(
    (config) => {
      const start = config[CONFIG_KEYS.start];
      const end = config[CONFIG_KEYS.end];
      return start === undefined || end === undefined || end > start;
    },
    {
      message: `must be after ${CONFIG_KEYS.start}`,
      path: [CONFIG_KEYS.end],
      // Only between two valid times: a bound that is not a time has that problem alone.
      when: (payload) => payload.issues.length === 0,
    },
  );

export interface ConfigIssue {
  key: string;
  message: string;
}

export type ParseResult =
  | { ok: true; config: MaintenanceConfig }
  | {
      ok: false;
      /** What is wrong, by key, without the rejected values: safe to show on /status. */
      error: string;
      /** The same with the start of each rejected value, for the log. */
      detail: string;
      issues: ConfigIssue[];
    };

/**
 * Validates one whole snapshot. Either every key is valid and a complete config comes back,
 * or nothing does: a snapshot is never half-applied.
 */
export function parseConfig(raw: RawConfig): ParseResult {
  const result = schema.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => ({ key: String(issue.path[0] ?? 'config'), message: issue.message }));
    const describe = (withValues: boolean) =>
      issues
        .map(({ key, message }) => {
          const got = withValues && typeof raw[key] === 'string' ? ` (got ${JSON.stringify(truncate(raw[key]))})` : '';
          return `${key}: ${message}${got}`;
        })
        .join('; ');
    return { ok: false, error: describe(false), detail: describe(true), issues };
  }
  const data = result.data;
  return {
    ok: true,
    config: {
      enabled: data[CONFIG_KEYS.mode] === 'true',
      readOnly: data[CONFIG_KEYS.mode] === 'read-only',
      message: data[CONFIG_KEYS.message],
      retryAfterSeconds: data[CONFIG_KEYS.retryAfter],
      windowStart: data[CONFIG_KEYS.start] ?? null,
      windowEnd: data[CONFIG_KEYS.end] ?? null,
      allowPaths: data[CONFIG_KEYS.allowPaths],
      pageHtml: data[CONFIG_KEYS.pageHtml] ?? null,
      graphqlPaths: data[CONFIG_KEYS.graphqlPaths],
    },
  };
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The config as people read it: timestamps as RFC 3339, named as the API names them. */
export function describeConfig(config: MaintenanceConfig) {
  return {
    enabled: config.enabled,
    mode: switchMode(config),
    message: config.message,
    retryAfterSeconds: config.retryAfterSeconds,
    start: isoOrNull(config.windowStart),
    end: isoOrNull(config.windowEnd),
    allowPaths: config.allowPaths,
    graphqlPaths: config.graphqlPaths,
    // Whether your own page is served, and which (a fingerprint, not the page: /status is public).
    page: config.pageHtml === null ? 'default' : `custom ${createHash('sha256').update(config.pageHtml).digest('hex').slice(0, 12)}`,
  };
}

/** What the switch says, as one word: `MAINTENANCE_MODE` read, not the decision (a window may add to it). */
export type SwitchMode = 'off' | 'on' | 'read-only';

export function switchMode(config: Pick<MaintenanceConfig, 'enabled' | 'readOnly'>): SwitchMode {
  return config.enabled ? 'on' : config.readOnly ? 'read-only' : 'off';
}

export function isoOrNull(epochMs: number | null): string | null {
  return epochMs === null ? null : new Date(epochMs).toISOString();
}
