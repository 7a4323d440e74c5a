import { describe, expect, it } from 'vitest';
import { parseConfig, type MaintenanceConfig, type RawConfig } from '../../src/config/parse.ts';
import { admit, decide, isCanonicalPath, isPathAllowed, retryAfterSeconds } from '../../src/maintenance/policy.ts';

function config(raw: RawConfig): MaintenanceConfig {
  const result = parseConfig(raw);
  if (!result.ok) throw new Error(result.error);
  return result.config;
}

const START = '2026-11-27T22:00:00Z';
const END = '2026-11-27T23:00:00Z';
const at = (iso: string) => Date.parse(iso);

describe('decide', () => {
  it('follows the switch when there is no window', () => {
    expect(decide(config({ MAINTENANCE_MODE: 'true' }), 0)).toEqual({ active: true, readOnly: false, cause: 'switch', nextChangeAt: null });
    expect(decide(config({ MAINTENANCE_MODE: 'false' }), 0)).toEqual({ active: false, readOnly: false, cause: null, nextChangeAt: null });
  });

  it('is on inside [start, end) and off outside, with the next edge to wake up at', () => {
    const windowed = config({ MAINTENANCE_START: START, MAINTENANCE_END: END });
    expect(decide(windowed, at('2026-11-27T21:59:59.999Z'))).toEqual({
      active: false,
      readOnly: false,
      cause: null,
      nextChangeAt: at(START),
    });
    expect(decide(windowed, at(START))).toEqual({ active: true, readOnly: false, cause: 'window', nextChangeAt: at(END) });
    expect(decide(windowed, at('2026-11-27T22:59:59.999Z')).active).toBe(true);
    expect(decide(windowed, at(END))).toEqual({ active: false, readOnly: false, cause: null, nextChangeAt: null });
  });

  it('is read-only now with the switch read-only and no window, and read-only only inside a window with one', () => {
    expect(decide(config({ MAINTENANCE_MODE: 'read-only' }), 0)).toEqual({
      active: false,
      readOnly: true,
      cause: 'switch',
      nextChangeAt: null,
    });
    const windowed = config({ MAINTENANCE_MODE: 'Read-Only', MAINTENANCE_START: START, MAINTENANCE_END: END });
    expect(decide(windowed, at('2026-11-27T21:00:00Z'))).toEqual({ active: false, readOnly: false, cause: null, nextChangeAt: at(START) });
    expect(decide(windowed, at(START))).toEqual({ active: false, readOnly: true, cause: 'window', nextChangeAt: at(END) });
    expect(decide(windowed, at(END))).toEqual({ active: false, readOnly: false, cause: null, nextChangeAt: null });
  });

  it('lets the switch win over the window', () => {
    const both = config({ MAINTENANCE_MODE: 'true', MAINTENANCE_START: START, MAINTENANCE_END: END });
    expect(decide(both, at('2026-11-27T22:30:00Z')).cause).toBe('switch');
    expect(decide(both, at('2026-11-28T00:00:00Z')).active).toBe(true);
  });

  it('has no next change while the switch is on, whatever edges the window has ahead', () => {
    const both = config({ MAINTENANCE_MODE: 'true', MAINTENANCE_START: START, MAINTENANCE_END: END });
    for (const now of ['2026-11-27T21:00:00Z', '2026-11-27T22:30:00Z', '2026-11-28T00:00:00Z'])
      expect(decide(both, at(now)), now).toEqual({ active: true, readOnly: false, cause: 'switch', nextChangeAt: null });
  });

  it('treats a missing bound as open', () => {
    const fromStart = config({ MAINTENANCE_START: START });
    expect(decide(fromStart, at('2030-01-01T00:00:00Z')).active).toBe(true);
    const untilEnd = config({ MAINTENANCE_END: END });
    expect(decide(untilEnd, at('2020-01-01T00:00:00Z'))).toEqual({ active: true, readOnly: false, cause: 'window', nextChangeAt: at(END) });
  });
});

describe('retryAfterSeconds', () => {
  it('uses the configured value outside a window', () => {
    expect(retryAfterSeconds(config({ MAINTENANCE_MODE: 'true', MAINTENANCE_RETRY_AFTER: '90' }), 0)).toBe(90);
  });

  it('counts down to the end of the window, rounding up, never below 1', () => {
    const windowed = config({ MAINTENANCE_START: START, MAINTENANCE_END: END });
    expect(retryAfterSeconds(windowed, at(START))).toBe(3600);
    expect(retryAfterSeconds(windowed, at('2026-11-27T22:59:00.500Z'))).toBe(60);
    expect(retryAfterSeconds(windowed, at('2026-11-27T22:59:59.999Z'))).toBe(1);
  });

  it('uses the configured value when the switch is on but the window is over', () => {
    const both = config({ MAINTENANCE_MODE: 'true', MAINTENANCE_START: START, MAINTENANCE_END: END, MAINTENANCE_RETRY_AFTER: '42' });
    expect(retryAfterSeconds(both, at('2026-11-28T00:00:00Z'))).toBe(42);
  });
});

describe('isPathAllowed', () => {
  const allow = ['/api/health', '/static/'];
  it.each([
    ['/api/health', true],
    ['/api/health/deep', true],
    ['/api/healthz', false],
    ['/static/app.css', true],
    ['/static', false],
    ['/', false],
  ])('%s -> %s', (path, expected) => {
    expect(isPathAllowed(allow, path)).toBe(expected);
  });
});

describe('retryAfterSeconds inside a far window', () => {
  it('never exceeds the documented 7 days, however far the end', () => {
    const farEnd = config({ MAINTENANCE_START: START, MAINTENANCE_END: '9999-12-31T23:59:59Z' });
    expect(retryAfterSeconds(farEnd, at('2026-11-28T00:00:00Z'))).toBe(604800);
  });
});

describe('isCanonicalPath', () => {
  it.each([
    ['/health', true],
    ['/api/v1/items', true],
    ['/health/../admin', false],
    ['/health/%2e%2e/admin', false],
    ['/health%2F..%2Fadmin', false],
    ['/health\\..\\admin', false],
    ['/health/./x', false],
    // Tomcat's path parameters: `..;` is a dot segment to it.
    ['/api/health/..;/..;/admin/users', false],
    ['/api/health/..;/admin', false],
    ['/api/health;jsessionid=1', false],
    ['/api/health/..%3b/admin', false],
    // Double encoding, and encoded NUL or backslash.
    ['/api/health/%252e%252e/admin', false],
    ['/api/health/%2E%2E/admin', false],
    ['/api/health/%00/admin', false],
    ['/api/health/%5c..%5cadmin', false],
    ['/api/health/.', false],
    ['/api/health/..', false],
    // Empty segments: some servers collapse them, some do not.
    ['/api//health', false],
    ['//api/health', false],
    ['/api/health//x', false],
    ['/api/health/', true],
    ['/api/health/%41', true],
    ['/', true],
    ['', false],
    ['api/health', false],
  ])('%s: %s', (path, expected) => {
    expect(isCanonicalPath(path)).toBe(expected);
  });
});

describe('admit', () => {
  const on = { active: true, readOnly: false, config: config({ MAINTENANCE_MODE: 'true', MAINTENANCE_ALLOW_PATHS: '/health' }) };
  const readOnly = {
    active: false,
    readOnly: true,
    config: config({ MAINTENANCE_MODE: 'read-only', MAINTENANCE_ALLOW_PATHS: '/login', MAINTENANCE_GRAPHQL_PATHS: '/graphql' }),
  };
  const never = () => {
    throw new Error('not asked while nothing is on');
  };
  const request = (method: string, path: string, bypassed = false) => ({
    method,
    matches: (prefixes: readonly string[]) => isPathAllowed(prefixes, path),
    isBypassed: () => bypassed,
  });

  it('passes everything while nothing is on, asking nothing', () => {
    expect(admit({ active: false, readOnly: false, config: on.config }, { method: 'POST', matches: never, isBypassed: never })).toBe(
      'pass',
    );
    expect(admit({ active: true, readOnly: false, config: null }, { method: 'POST', matches: never, isBypassed: never })).toBe('pass');
  });

  it('in maintenance passes allowed paths, lets bypass holders through privately, and holds the rest, whatever the method', () => {
    expect(admit(on, request('POST', '/health'))).toBe('pass');
    expect(admit(on, request('GET', '/shop', true))).toBe('private');
    expect(admit(on, request('GET', '/shop'))).toBe('hold');
    expect(admit(on, request('GET', '/graphql'))).toBe('hold');
  });

  it('in read-only passes reads, holds writes, passes allowed paths and bypass holders, and sends GraphQL to be judged', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) expect(admit(readOnly, request(method, '/shop')), method).toBe('pass');
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'PROPFIND', 'get'])
      expect(admit(readOnly, request(method, '/shop')), method).toBe('hold');
    expect(admit(readOnly, request('POST', '/login'))).toBe('pass');
    expect(admit(readOnly, request('DELETE', '/shop/1', true))).toBe('private');
    expect(admit(readOnly, request('POST', '/graphql'))).toBe('graphql');
    expect(admit(readOnly, request('GET', '/graphql/'))).toBe('graphql');
    expect(admit(readOnly, request('OPTIONS', '/graphql'))).toBe('pass');
    expect(admit(readOnly, request('PUT', '/graphql'))).toBe('hold');
  });
});
