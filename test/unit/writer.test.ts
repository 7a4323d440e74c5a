import { describe, expect, it } from 'vitest';
import {
  describeDifference,
  InvalidConfigChangeError,
  ReadOnlyNotEnforcedError,
  updateConfig,
  type ConfigWrite,
  type ConfigWriter,
  type StoredConfig,
} from '../../src/config/writer.ts';

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

  it('names read-only as the switch it is', () => {
    expect(describeDifference({ MAINTENANCE_MODE: 'false' }, { MAINTENANCE_MODE: 'read-only' })).toBe('switch read-only');
    expect(
      describeDifference({ MAINTENANCE_MODE: 'read-only' }, { MAINTENANCE_MODE: 'read-only', MAINTENANCE_GRAPHQL_PATHS: '/graphql' }),
    ).toBe('GraphQL paths set');
  });

  it('names the switch first when nothing was recorded before', () => {
    expect(describeDifference(null, { MAINTENANCE_MODE: ' TRUE ' })).toBe('switch on');
    expect(describeDifference(null, {})).toBe('switch off');
  });
});

/** A switch in memory: what updateConfig reads and writes. */
class MemorySwitch implements ConfigWriter {
  readonly target = 'memory';
  writes = 0;
  data: Record<string, string>;
  readonly readOnlyRefused: string | null;
  constructor(data: Record<string, string>, readOnlyRefused: string | null = null) {
    this.data = data;
    this.readOnlyRefused = readOnlyRefused;
  }
  isWellFormedVersion = () => true;
  async read(): Promise<StoredConfig> {
    return {
      data: { ...this.data },
      version: String(this.writes),
      audit: { changedBy: null, changedAt: null, reason: null },
      readOnlyRefused: this.readOnlyRefused,
    };
  }
  async write(change: ConfigWrite): Promise<StoredConfig> {
    this.data = { ...change.result };
    this.writes++;
    return this.read();
  }
  async history() {
    return [];
  }
}

const change = (data: Record<string, string | null>) => ({ data, actor: 'ann', reason: 'test' });

describe('updateConfig and read-only mode', () => {
  it('refuses to set read-only where it is not enforced, and writes nothing; a change that leaves it set is fine', async () => {
    const unenforced = new MemorySwitch({ MAINTENANCE_MODE: 'false' }, 'not enforced here: use components/gate-proxy');
    await expect(updateConfig(unenforced, change({ MAINTENANCE_MODE: ' Read-Only' }))).rejects.toThrow(ReadOnlyNotEnforcedError);
    expect(unenforced.writes).toBe(0);
    await updateConfig(unenforced, change({ MAINTENANCE_MODE: 'true' }));
    // Set by kubectl edit: a new message is no request for read-only.
    unenforced.data = { MAINTENANCE_MODE: 'read-only' };
    await updateConfig(unenforced, change({ MAINTENANCE_MESSAGE: 'Back soon' }));
    expect(unenforced.writes).toBe(2);
    const enforced = new MemorySwitch({ MAINTENANCE_MODE: 'false' });
    await updateConfig(enforced, change({ MAINTENANCE_MODE: 'read-only' }));
    expect(enforced.data.MAINTENANCE_MODE).toBe('read-only');
  });

  it('refuses a window added to a read-only switch that holds read-only now, unless the switch is set with it', async () => {
    const readOnlyNow = new MemorySwitch({ MAINTENANCE_MODE: 'read-only' });
    const later = { MAINTENANCE_START: '2099-01-01T00:00:00Z' };
    const refusal = await updateConfig(readOnlyNow, change(later)).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(InvalidConfigChangeError);
    expect((refusal as InvalidConfigChangeError).issues).toEqual([
      { key: 'MAINTENANCE_START', message: expect.stringContaining('turn the switch off first') },
    ]);
    expect(readOnlyNow.writes).toBe(0);
    await updateConfig(readOnlyNow, change({ ...later, MAINTENANCE_MODE: 'read-only' }));
    // A read-only window already there: moving it is fine.
    await updateConfig(readOnlyNow, change({ MAINTENANCE_START: '2099-02-01T00:00:00Z' }));
    expect(readOnlyNow.writes).toBe(2);
  });
});
