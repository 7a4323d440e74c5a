import { describe, expect, it } from 'vitest';
import { describeDifference } from '../../src/config/writer.ts';

describe('describeDifference', () => {
  it('names what changed, not what stayed', () => {
    const before = { MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'Back soon' };
    expect(describeDifference(before, { ...before, MAINTENANCE_MESSAGE: 'Back at noon' })).toBe('message set');
    expect(describeDifference(before, { ...before, MAINTENANCE_MODE: 'false' })).toBe('switch off');
    expect(describeDifference(before, { MAINTENANCE_MODE: 'true' })).toBe('message cleared');
    expect(describeDifference(before, { ...before, MAINTENANCE_START: '2031-01-01T00:00:00Z', MAINTENANCE_RETRY_AFTER: '600' })).toBe(
      'Retry-After 600 s, window 2031-01-01T00:00:00Z → open',
    );
    expect(
      describeDifference(before, { ...before, MAINTENANCE_PAGE_HTML: '<p>{{message}}</p>', MAINTENANCE_ALLOW_PATHS: '/healthz' }),
    ).toBe('allowed paths set, page set');
    expect(describeDifference(before, before)).toBe('nothing');
  });

  it('names the switch first when nothing was recorded before', () => {
    expect(describeDifference(null, { MAINTENANCE_MODE: ' TRUE ' })).toBe('switch on');
    expect(describeDifference(null, {})).toBe('switch off');
  });
});
