import { describe, expect, it } from 'vitest';
import { parseCommandLine, UsageError, type Request } from '../../src/cli/args.ts';
import { checkValues, describeIssues, keptValues, planChange, usersGet } from '../../src/cli/changes.ts';
import { parseConfig, type MaintenanceConfig } from '../../src/config/parse.ts';

const NOW = Date.parse('2030-01-01T12:00:00Z');
const request = (...argv: string[]): Request => {
  const parsed = parseCommandLine(['--local', ...argv]);
  if (parsed.help) throw new Error('help');
  return parsed.request;
};
const config = (data: Record<string, string>): MaintenanceConfig => {
  const parsed = parseConfig(data);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.config;
};
const inWindow = { MAINTENANCE_START: '2030-01-01T11:00:00Z', MAINTENANCE_END: '2030-01-01T13:00:00Z' };

describe('planChange', () => {
  it('on sets the switch, and only what was given besides', () => {
    expect(planChange(request('on', '--message', 'hi'), { MAINTENANCE_MODE: 'false' }, NOW)).toEqual({
      write: true,
      data: { MAINTENANCE_MESSAGE: 'hi', MAINTENANCE_MODE: 'true' },
      endsWindow: false,
    });
    expect(planChange(request('on'), { MAINTENANCE_MODE: 'true' }, NOW)).toEqual({ write: false, said: 'maintenance is already on' });
  });

  it('off turns the switch off and clears a window that holds maintenance now, never a later one', () => {
    expect(planChange(request('off'), { MAINTENANCE_MODE: 'false', ...inWindow }, NOW)).toEqual({
      write: true,
      data: { MAINTENANCE_MODE: 'false', MAINTENANCE_START: null, MAINTENANCE_END: null },
      endsWindow: true,
    });
    const later = { MAINTENANCE_START: '2030-02-01T00:00:00Z' };
    expect(planChange(request('off'), { MAINTENANCE_MODE: 'true', ...later }, NOW)).toEqual({
      write: true,
      data: { MAINTENANCE_MODE: 'false' },
      endsWindow: false,
    });
    expect(planChange(request('off'), { MAINTENANCE_MODE: 'false', ...later }, NOW)).toEqual({
      write: false,
      said: 'maintenance is already off',
    });
  });

  it('schedule sets the window and never touches the switch', () => {
    expect(planChange(request('schedule', '--start', '2030-02-01T00:00:00Z', '--end', 'none'), { MAINTENANCE_MODE: 'true' }, NOW)).toEqual({
      write: true,
      data: { MAINTENANCE_START: '2030-02-01T00:00:00Z', MAINTENANCE_END: null },
      endsWindow: false,
    });
  });

  it('repair drops the rejected keys (both bounds of a backwards window), and nothing when all is valid', () => {
    expect(planChange(request('repair'), { MAINTENANCE_MODE: 'true', MAINTENANCE_RETRY_AFTER: 'soon' }, NOW)).toEqual({
      write: true,
      data: { MAINTENANCE_RETRY_AFTER: null },
      endsWindow: false,
    });
    const backwards = { MAINTENANCE_START: '2030-01-02T00:00:00Z', MAINTENANCE_END: '2030-01-01T00:00:00Z' };
    expect(planChange(request('repair'), backwards, NOW)).toMatchObject({ data: { MAINTENANCE_START: null, MAINTENANCE_END: null } });
    expect(planChange(request('repair'), { MAINTENANCE_MODE: 'true' }, NOW)).toEqual({
      write: false,
      said: 'the stored config is valid; nothing to repair',
    });
  });
});

describe('planChange with read-only mode', () => {
  it('read-only sets the switch to read-only, and says so when it already is', () => {
    expect(planChange(request('read-only', '--message', 'Migrating'), { MAINTENANCE_MODE: 'true' }, NOW)).toEqual({
      write: true,
      data: { MAINTENANCE_MESSAGE: 'Migrating', MAINTENANCE_MODE: 'read-only' },
      endsWindow: false,
    });
    expect(planChange(request('read-only'), { MAINTENANCE_MODE: 'read-only' }, NOW)).toEqual({
      write: false,
      said: 'the switch is already read-only',
    });
  });

  it('off ends read-only too, and a read-only window that holds now with its switch, never leaving a read-only switch without its window', () => {
    expect(planChange(request('off'), { MAINTENANCE_MODE: 'read-only' }, NOW)).toEqual({
      write: true,
      data: { MAINTENANCE_MODE: 'false' },
      endsWindow: false,
    });
    expect(planChange(request('off'), { MAINTENANCE_MODE: 'read-only', ...inWindow }, NOW)).toEqual({
      write: true,
      data: { MAINTENANCE_MODE: 'false', MAINTENANCE_START: null, MAINTENANCE_END: null },
      endsWindow: true,
    });
    // A read-only window later: nothing is on now, and the window keeps its kind.
    expect(planChange(request('off'), { MAINTENANCE_MODE: 'read-only', MAINTENANCE_START: '2030-02-01T00:00:00Z' }, NOW)).toEqual({
      write: false,
      said: 'maintenance is already off',
    });
  });

  it('usersGet says what read-only means, now and in a window ahead', () => {
    expect(usersGet(config({ MAINTENANCE_MODE: 'read-only', MAINTENANCE_MESSAGE: 'm' }), NOW)).toBe(
      'read-only: reads reach the application, writes get the maintenance page ("m", Retry-After 300 s) now, until the switch is turned off',
    );
    expect(
      usersGet(config({ MAINTENANCE_MODE: 'read-only', MAINTENANCE_MESSAGE: 'm', MAINTENANCE_START: '2030-02-01T00:00:00Z' }), NOW),
    ).toMatch(/^the application now; read-only \("m", Retry-After 300 s\) from 2030-02-01T00:00:00Z$/);
  });
});

describe('checkValues and describeIssues', () => {
  it('refuses a value by the pods rules before anything is contacted, naming the option', () => {
    expect(() => checkValues(request('on', '--retry-after', '0'))).toThrow(new UsageError('--retry-after must be at least 1'));
    expect(() => checkValues(request('schedule', '--start', '2030-01-02T00:00:00Z', '--end', '2030-01-01T00:00:00Z'))).toThrow(
      new UsageError('--end must be after MAINTENANCE_START (2030-01-02T00:00:00Z)'),
    );
    expect(() => checkValues(request('schedule', '--start', 'none'))).not.toThrow();
  });

  it('blames a stored value the command did not set on the stored key, not on an option', () => {
    const issues = [{ key: 'MAINTENANCE_END', message: 'must be an RFC 3339 timestamp with a time zone, such as 2026-11-27T22:00:00Z' }];
    expect(describeIssues(issues, { MAINTENANCE_END: 'soon' }, new Set(['MAINTENANCE_MODE']))).toBe(
      'the stored MAINTENANCE_END must be an RFC 3339 timestamp with a time zone, such as 2026-11-27T22:00:00Z: fix it, or drop it with the command repair',
    );
  });
});

describe('usersGet and keptValues', () => {
  it('says the Retry-After the pods send: the time to the window end inside a window', () => {
    expect(usersGet(config({ ...inWindow, MAINTENANCE_RETRY_AFTER: '300' }), NOW)).toBe(
      'the maintenance page ("We are performing scheduled maintenance. Please try again shortly.", Retry-After 3600 s) now, until 2030-01-01T13:00:00Z',
    );
    expect(usersGet(config({ MAINTENANCE_MODE: 'true', MAINTENANCE_RETRY_AFTER: '300', MAINTENANCE_MESSAGE: 'm' }), NOW)).toBe(
      'the maintenance page ("m", Retry-After 300 s) now, until the switch is turned off',
    );
    expect(usersGet(config({}), NOW)).toBe('the application now; nothing is scheduled');
  });

  it('names the stored values a change kept', () => {
    const written = { MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'm', ...inWindow };
    expect(keptValues(request('on'), written, config(written))).toEqual(['message', 'window']);
    expect(keptValues(request('on', '--message', 'x'), written, config(written))).toEqual(['window']);
  });
});
