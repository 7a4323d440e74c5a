import { describe, expect, it } from 'vitest';
import { ConfigStore } from '../../src/config/store.ts';
import { MaintenanceState, type MaintenanceView } from '../../src/maintenance/state.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

function setup(start: string) {
  const clock = new FakeClock(start);
  const store = new ConfigStore(() => new Date(clock.now()));
  const state = new MaintenanceState(store, clock);
  const changes: Pick<MaintenanceView, 'active' | 'cause'>[] = [];
  state.onChange((view) => changes.push({ active: view.active, cause: view.cause }));
  return { clock, store, state, changes };
}

describe('MaintenanceState', () => {
  it('has no decision before the first snapshot', () => {
    const { state } = setup('2026-11-27T20:00:00Z');
    expect(state.current).toMatchObject({ config: null, active: false });
  });

  it('is read-only where it can enforce it, and holds read-only as maintenance on where it cannot (fail closed)', () => {
    const { store, state } = setup('2026-11-27T20:00:00Z');
    store.apply({ MAINTENANCE_MODE: 'read-only' });
    expect(state.current).toMatchObject({ active: false, readOnly: true, cause: 'switch', failedClosed: false });
    const clock = new FakeClock('2026-11-27T20:00:00Z');
    const gateStore = new ConfigStore(() => new Date(clock.now()));
    const gate = new MaintenanceState(gateStore, clock, 'fail-closed');
    const seen: boolean[] = [];
    gate.onChange((view) => seen.push(view.active));
    gateStore.apply({ MAINTENANCE_MODE: 'read-only' });
    expect(gate.current).toMatchObject({ active: true, readOnly: false, cause: 'switch', failedClosed: true });
    gateStore.apply({ MAINTENANCE_MODE: 'false' });
    expect(gate.current).toMatchObject({ active: false, readOnly: false, failedClosed: false });
    expect(seen).toEqual([true, false]);
  });

  it('follows the switch as snapshots are applied', () => {
    const { store, state } = setup('2026-11-27T20:00:00Z');
    store.apply({ MAINTENANCE_MODE: 'true' });
    expect(state.current.active).toBe(true);
    store.apply({ MAINTENANCE_MODE: 'false' });
    expect(state.current.active).toBe(false);
  });

  it('knows since when maintenance is on, when it started while running, not when it was on at start-up', () => {
    const { clock, store, state } = setup('2026-11-27T20:00:00Z');
    store.apply({ MAINTENANCE_MODE: 'true' });
    expect(state.activeSince).toBeNull();
    store.apply({ MAINTENANCE_MODE: 'false' });
    expect(state.activeSince).toBeNull();
    clock.advanceTo('2026-11-27T20:05:00Z');
    store.apply({ MAINTENANCE_MODE: 'true' });
    expect(state.activeSince).toBe(Date.parse('2026-11-27T20:05:00Z'));
    clock.advanceTo('2026-11-27T20:06:00Z');
    store.apply({ MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'still on' });
    expect(state.activeSince).toBe(Date.parse('2026-11-27T20:05:00Z'));
  });

  it('opens and closes a window from its timer, without anyone asking', () => {
    const { clock, store, state, changes } = setup('2026-11-27T20:00:00Z');
    store.apply({ MAINTENANCE_START: '2026-11-27T22:00:00Z', MAINTENANCE_END: '2026-11-27T23:00:00Z' });
    expect(state.current.active).toBe(false);
    expect(clock.requestedDelays).toEqual([2 * 3600_000]);

    clock.advanceTo('2026-11-27T22:00:00Z');
    expect(state.current).toMatchObject({ active: true, cause: 'window' });
    clock.advanceTo('2026-11-27T23:00:00Z');
    expect(state.current).toMatchObject({ active: false, cause: null });
    expect(clock.pendingTimers).toBe(0);
    expect(changes.slice(1)).toEqual([
      { active: true, cause: 'window' },
      { active: false, cause: null },
    ]);
  });

  it('waits in steps for a window further away than a timer can reach', () => {
    const { clock, store, state } = setup('2026-01-01T00:00:00Z');
    store.apply({ MAINTENANCE_START: '2026-03-01T00:00:00Z' });
    expect(clock.requestedDelays[0]).toBe(2 ** 31 - 1);
    clock.advanceTo('2026-02-28T23:59:59Z');
    expect(state.current.active).toBe(false);
    clock.advanceTo('2026-03-01T00:00:00Z');
    expect(state.current.active).toBe(true);
  });

  it('drops the old timer when a new config arrives', () => {
    const { clock, store, state } = setup('2026-11-27T20:00:00Z');
    store.apply({ MAINTENANCE_START: '2026-11-27T21:00:00Z' });
    store.apply({ MAINTENANCE_MODE: 'false' });
    expect(clock.pendingTimers).toBe(0);
    clock.advanceTo('2026-11-27T21:30:00Z');
    expect(state.current.active).toBe(false);
  });

  it('keeps the last good decision when a snapshot is rejected', () => {
    const { store, state } = setup('2026-11-27T20:00:00Z');
    store.apply({ MAINTENANCE_MODE: 'true' });
    store.apply({ MAINTENANCE_MODE: 'maybe' });
    expect(state.current.active).toBe(true);
    expect(store.snapshot.lastError).toContain('MAINTENANCE_MODE');
  });
});
