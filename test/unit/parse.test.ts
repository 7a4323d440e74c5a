import { describe, expect, it } from 'vitest';
import { DEFAULT_MESSAGE, DEFAULT_RETRY_AFTER_SECONDS, parseConfig, type ParseResult } from '../../src/config/parse.ts';

function ok(result: ParseResult) {
  if (!result.ok) throw new Error(`expected a valid config, got: ${result.error}`);
  return result.config;
}
function error(result: ParseResult) {
  if (result.ok) throw new Error('expected the snapshot to be rejected');
  return result.error;
}

describe('parseConfig', () => {
  it('treats an empty ConfigMap as maintenance off with defaults', () => {
    expect(ok(parseConfig({}))).toEqual({
      enabled: false,
      readOnly: false,
      message: DEFAULT_MESSAGE,
      retryAfterSeconds: DEFAULT_RETRY_AFTER_SECONDS,
      windowStart: null,
      windowEnd: null,
      allowPaths: [],
      pageHtml: null,
      graphqlPaths: [],
    });
  });

  it('takes your own page with its placeholders, and refuses one too large, without {{message}}, or with a placeholder it does not know', () => {
    const page = '<!doctype html><title>Shop</title><h1>Back soon</h1><p>{{message}}</p><p>{{ until }} · {{retryAfterSeconds}} s</p>';
    expect(ok(parseConfig({ MAINTENANCE_PAGE_HTML: page })).pageHtml).toBe(page);
    expect(ok(parseConfig({ MAINTENANCE_PAGE_HTML: '  \n' })).pageHtml).toBeNull();
    const refused = (html: string) => {
      const result = parseConfig({ MAINTENANCE_MODE: 'true', MAINTENANCE_PAGE_HTML: html });
      return result.ok ? null : result.error;
    };
    expect(refused('<p>We are away</p>')).toBe('MAINTENANCE_PAGE_HTML: must contain the placeholder {{message}}');
    expect(refused(`<p>{{message}}</p>${'x'.repeat(64 * 1024)}`)).toBe('MAINTENANCE_PAGE_HTML: must be at most 64 KiB');
    expect(refused('<p>{{message}}</p><p>{{name}}</p>')).toBe(
      'MAINTENANCE_PAGE_HTML: has an unknown placeholder {{name}}: use {{message}}, {{retryAfterSeconds}}, {{until}}',
    );
    // 64 KiB counts bytes: a page of multi-byte characters is as large as its UTF-8.
    expect(refused(`{{message}}${'é'.repeat(32 * 1024)}`)).toBe('MAINTENANCE_PAGE_HTML: must be at most 64 KiB');
  });

  it.each([
    ['true', true],
    [' TRUE\n', true],
    ['True', true],
    ['false', false],
    ['FALSE ', false],
    ['', false],
  ])('reads MAINTENANCE_MODE=%j as %s', (value, expected) => {
    expect(ok(parseConfig({ MAINTENANCE_MODE: value })).enabled).toBe(expected);
    expect(ok(parseConfig({ MAINTENANCE_MODE: value })).readOnly).toBe(false);
  });

  it.each(['read-only', ' Read-Only\n', 'READ-ONLY'])('reads MAINTENANCE_MODE=%j as read-only, never as on', (value) => {
    expect(ok(parseConfig({ MAINTENANCE_MODE: value }))).toMatchObject({ enabled: false, readOnly: true });
  });

  it('reads MAINTENANCE_GRAPHQL_PATHS as path prefixes, and refuses one without a leading slash', () => {
    expect(ok(parseConfig({ MAINTENANCE_GRAPHQL_PATHS: '/graphql, /api/graphql' })).graphqlPaths).toEqual(['/graphql', '/api/graphql']);
    expect(ok(parseConfig({})).graphqlPaths).toEqual([]);
    expect(error(parseConfig({ MAINTENANCE_GRAPHQL_PATHS: 'graphql' }))).toBe(
      'MAINTENANCE_GRAPHQL_PATHS: each path prefix must start with "/"',
    );
  });

  it.each(['maybe', 'yes', '1', 'on', 'readonly'])(
    'rejects MAINTENANCE_MODE=%j, naming the key for /status and the value only for the log',
    (value) => {
      const result = parseConfig({ MAINTENANCE_MODE: value });
      expect(error(result)).toBe('MAINTENANCE_MODE: must be "true", "false" or "read-only"');
      expect(result.ok === false && result.detail).toBe(
        `MAINTENANCE_MODE: must be "true", "false" or "read-only" (got ${JSON.stringify(value)})`,
      );
    },
  );

  it('keeps the message, trimmed, up to 2000 characters', () => {
    expect(ok(parseConfig({ MAINTENANCE_MESSAGE: '  Back at 10:00 UTC\n' })).message).toBe('Back at 10:00 UTC');
    expect(ok(parseConfig({ MAINTENANCE_MESSAGE: 'x'.repeat(2000) })).message).toHaveLength(2000);
    expect(error(parseConfig({ MAINTENANCE_MESSAGE: 'x'.repeat(2001) }))).toMatch(/MAINTENANCE_MESSAGE: must be at most 2000/);
  });

  it('parses Retry-After seconds and rejects anything but a positive whole number', () => {
    expect(ok(parseConfig({ MAINTENANCE_RETRY_AFTER: ' 120 ' })).retryAfterSeconds).toBe(120);
    for (const bad of ['-5', '1.5', 'soon', '0', '999999999']) {
      expect(error(parseConfig({ MAINTENANCE_RETRY_AFTER: bad }))).toContain('MAINTENANCE_RETRY_AFTER');
    }
  });

  it('parses an RFC 3339 window with offsets', () => {
    const config = ok(parseConfig({ MAINTENANCE_START: '2026-11-27T22:00:00+01:00', MAINTENANCE_END: '2026-11-27T23:30:00Z' }));
    expect(config.windowStart).toBe(Date.parse('2026-11-27T21:00:00Z'));
    expect(config.windowEnd).toBe(Date.parse('2026-11-27T23:30:00Z'));
  });

  it.each(['tomorrow', '2026-11-27', '2026-11-27T22:00:00', '2026-13-01T00:00:00Z'])('rejects the date %j', (value) => {
    expect(error(parseConfig({ MAINTENANCE_START: value }))).toContain('MAINTENANCE_START: must be an RFC 3339 timestamp');
  });

  it('rejects an end that is not after the start', () => {
    const message = error(parseConfig({ MAINTENANCE_START: '2026-11-27T22:00:00Z', MAINTENANCE_END: '2026-11-27T21:00:00Z' }));
    expect(message).toContain('MAINTENANCE_END: must be after MAINTENANCE_START');
    expect(error(parseConfig({ MAINTENANCE_START: '2026-11-27T22:00:00Z', MAINTENANCE_END: '2026-11-27T22:00:00Z' }))).toContain(
      'MAINTENANCE_END',
    );
  });

  it('names only the real problem of an end that is not a time: not also "must be after" the start', () => {
    const result = parseConfig({ MAINTENANCE_START: '2026-11-27T22:00:00Z', MAINTENANCE_END: 'next tuesday' });
    expect(result.ok ? [] : result.issues).toEqual([
      { key: 'MAINTENANCE_END', message: 'must be an RFC 3339 timestamp with a time zone, such as 2026-11-27T22:00:00Z' },
    ]);
  });

  it('splits allowed path prefixes and rejects ones without a leading slash', () => {
    expect(ok(parseConfig({ MAINTENANCE_ALLOW_PATHS: ' /api/health, /static/ ,,' })).allowPaths).toEqual(['/api/health', '/static/']);
    expect(error(parseConfig({ MAINTENANCE_ALLOW_PATHS: '/ok,static' }))).toContain('MAINTENANCE_ALLOW_PATHS');
  });

  it('rejects the whole snapshot and reports every bad key', () => {
    const message = error(parseConfig({ MAINTENANCE_MODE: 'true', MAINTENANCE_RETRY_AFTER: 'x', MAINTENANCE_END: 'never' }));
    expect(message).toContain('MAINTENANCE_RETRY_AFTER');
    expect(message).toContain('MAINTENANCE_END');
  });

  it('ignores keys it does not own', () => {
    expect(ok(parseConfig({ DATABASE_URL: 'postgres://x', MAINTENANCE_MODE: 'true' })).enabled).toBe(true);
  });
});
