import { describe, expect, it } from 'vitest';
import type { FleetEndpoint } from '../../src/fleet/fleet.ts';
import { FleetTracker } from '../../src/fleet/tracker.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const pods = (...states: [string, FleetEndpoint['state']][]): FleetEndpoint[] =>
  states.map(([pod, state]) => ({ pod, address: '', port: null, state, servicePod: true }));

describe('FleetTracker', () => {
  const make = () => {
    const clock = new FakeClock('2026-11-28T12:00:00Z');
    const observed: number[] = [];
    const tracker = new FleetTracker({
      clock,
      status: () => ({ service: 'sample-app-user', connection: 'watching', lastError: null }),
      synced: () => true,
      onConverged: (seconds) => observed.push(seconds),
    });
    return { clock, tracker, observed };
  };

  it('measures each flip once, from the change to every endpoint matching it, and keeps since per pod', () => {
    const { clock, tracker, observed } = make();
    tracker.setActive(false);
    tracker.setEndpoints(pods(['a', 'serving'], ['b', 'serving']));
    expect(tracker.view).toMatchObject({ converged: true, changedAt: null, convergenceSeconds: null, serving: 2 });

    clock.advanceTo('2026-11-28T12:01:00Z');
    tracker.setActive(true);
    expect(tracker.view).toMatchObject({ converged: false, lagging: ['a', 'b'], changedAt: '2026-11-28T12:01:00.000Z', convergedAt: null });

    clock.advanceTo('2026-11-28T12:01:01.400Z');
    tracker.setEndpoints(pods(['a', 'not_serving'], ['b', 'serving']));
    expect(tracker.view.lagging).toEqual(['b']);
    clock.advanceTo('2026-11-28T12:01:02.000Z');
    tracker.setEndpoints(pods(['a', 'not_serving'], ['b', 'not_serving']));
    expect(tracker.view).toMatchObject({ converged: true, convergedAt: '2026-11-28T12:01:02.000Z', convergenceSeconds: 2, notServing: 2 });
    expect(tracker.view.pods).toEqual([
      { name: 'a', state: 'not_serving', since: '2026-11-28T12:01:01.400Z' },
      { name: 'b', state: 'not_serving', since: '2026-11-28T12:01:02.000Z' },
    ]);
    // A later change of the endpoints alone is not another convergence.
    tracker.setEndpoints(pods(['a', 'not_serving'], ['b', 'not_serving'], ['c', 'not_serving']));
    expect(observed).toEqual([2]);
  });

  it('says not converged until the EndpointSlices were listed', () => {
    const clock = new FakeClock(0);
    const tracker = new FleetTracker({
      clock,
      status: () => ({ service: 's', connection: 'connecting', lastError: null }),
      synced: () => false,
      onConverged: () => {},
    });
    tracker.setActive(true);
    expect(tracker.view).toMatchObject({ synced: false, converged: false });
  });

  it('names the pods of the fleet that carry no gate, once the pods that mount the switch are known', () => {
    const { tracker } = make();
    tracker.setActive(false);
    tracker.setEndpoints(pods(['web-1', 'serving'], ['legacy-1', 'serving']));
    expect(tracker.view).toMatchObject({ ungated: [], gateProblem: null });
    tracker.setGated(pods(['web-1', 'serving'], ['shop-maintenance-page-x', 'not_serving']));
    expect(tracker.view.ungated).toEqual(['legacy-1']);
    expect(tracker.view.gateProblem).toMatch(/^1 of the 2 pods behind Service sample-app-user carry no gate .*\(legacy-1\)/);
    tracker.setGated([]);
    expect(tracker.view.gateProblem).toMatch(/^no Deployment of this app carries the gate: none of the 2 pods/);
  });
});
