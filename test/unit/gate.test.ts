import { describe, expect, it } from 'vitest';
import { isCanonicalPath } from '../../src/http/gate.ts';

const _key = Buffer.from('k'.repeat(32));
const _otherKey = Buffer.from('o'.repeat(32));
const _NOW = Date.parse('2026-11-28T10:00:00Z');
const _HOUR = 3600_000;

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
