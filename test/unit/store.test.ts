import { describe, expect, it } from 'vitest';
import { ConfigStore } from '../../src/config/store.ts';

describe('ConfigStore', () => {
  it('skips identical snapshots and clears the error on the next good one', () => {
    const store = new ConfigStore();
    const events: string[] = [];
    store.subscribe((event) => events.push(event.type));
    expect(store.apply({ MAINTENANCE_MODE: 'true' })).toBe('applied');
    expect(store.apply({ MAINTENANCE_MODE: 'true' })).toBe('unchanged');
    expect(store.apply({ MAINTENANCE_MODE: 'nope' })).toBe('rejected');
    expect(store.config?.enabled).toBe(true);
    expect(store.apply({ MAINTENANCE_MODE: 'true' })).toBe('applied');
    expect(store.snapshot.lastError).toBeNull();
    expect(events).toEqual(['applied', 'rejected', 'applied']);
  });

  it('keeps the config when the source reports a problem', () => {
    const store = new ConfigStore();
    store.apply({ MAINTENANCE_MODE: 'true' });
    store.reportError('ConfigMap deleted');
    expect(store.config?.enabled).toBe(true);
    expect(store.snapshot.lastError).toBe('ConfigMap deleted');
    expect(store.apply({ MAINTENANCE_MODE: 'true' })).toBe('applied');
    expect(store.snapshot.lastError).toBeNull();
  });
});
