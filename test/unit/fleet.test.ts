import { describe, expect, it } from 'vitest';
import {
  endpointsFromSlices,
  isConverged,
  laggingPods,
  ungatedPods,
  ungatedProblem,
  type FleetEndpoint,
  type SliceLike,
} from '../../src/fleet/fleet.ts';

const endpoint = (pod: string, conditions: { ready?: boolean | null; terminating?: boolean }, address = `10.0.0.${pod.length}`) => ({
  addresses: [address],
  conditions,
  targetRef: { kind: 'Pod', name: pod },
});
const slice = (name: string, ...endpoints: SliceLike['endpoints'] & object): SliceLike => ({ metadata: { name }, endpoints });
const pods = (...states: [string, FleetEndpoint['state']][]): FleetEndpoint[] =>
  states.map(([pod, state]) => ({ pod, address: '', port: null, state, servicePod: true }));

describe('endpointsFromSlices', () => {
  it('reads each endpoint as serving, not serving or terminating, once per pod, across slices', () => {
    const endpoints = endpointsFromSlices([
      slice('a', endpoint('user-1', { ready: true }), endpoint('user-2', { ready: false })),
      slice(
        'b',
        endpoint('user-3', { ready: null }),
        endpoint('user-4', { ready: true, terminating: true }),
        endpoint('user-1', { ready: true }),
      ),
      slice('empty'),
    ]);
    expect(endpoints.map(({ pod, state }) => [pod, state])).toEqual([
      ['user-1', 'serving'],
      ['user-2', 'not_serving'],
      ['user-3', 'serving'], // unset ready means ready
      ['user-4', 'terminating'],
    ]);
  });

  it("marks only Pods in the EndpointSlice controller's own slices as the Service's pods", () => {
    const controller = { name: 'ours', labels: { 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } };
    const endpoints = endpointsFromSlices([
      { metadata: controller, endpoints: [endpoint('user-1', { ready: true }), { addresses: ['10.9.9.9'], conditions: { ready: true } }] },
      {
        metadata: { name: 'hand-made', labels: { 'endpointslice.kubernetes.io/managed-by': 'someone' } },
        endpoints: [endpoint('user-2', { ready: true }, '169.254.169.254')],
      },
    ]);
    expect(endpoints.map(({ pod, servicePod }) => [pod, servicePod])).toEqual([
      ['10.9.9.9', false],
      ['user-1', true],
      ['user-2', false],
    ]);
  });

  it('names an endpoint without a Pod targetRef by its address', () => {
    expect(endpointsFromSlices([{ endpoints: [{ addresses: ['192.0.2.1'], conditions: { ready: true } }] }])).toEqual([
      { pod: '192.0.2.1', address: '192.0.2.1', port: null, state: 'serving', servicePod: false },
    ]);
  });
});

describe('isConverged', () => {
  it.each([
    [true, pods(['a', 'not_serving'], ['b', 'not_serving']), true, []],
    [true, pods(['a', 'not_serving'], ['b', 'serving']), false, ['b']],
    [true, pods(['a', 'terminating']), true, []],
    [true, [], true, []],
    [false, pods(['a', 'serving'], ['b', 'serving']), true, []],
    [false, pods(['a', 'serving'], ['b', 'not_serving']), false, ['b']],
    [false, pods(['a', 'serving'], ['b', 'terminating']), true, []],
    [false, [], false, []],
  ])('maintenance %s with %j: converged %s, lagging %j', (active, endpoints, converged, lagging) => {
    expect(isConverged(active, endpoints)).toBe(converged);
    expect(laggingPods(active, endpoints)).toEqual(lagging);
  });
});

describe('ungatedPods and ungatedProblem', () => {
  const at = (pod: string, servicePod = true): FleetEndpoint => ({ pod, address: '10.0.0.1', port: 8080, state: 'serving', servicePod });
  it("names the Service's pods missing from the pods that mount the switch, and never an address someone else's slice names", () => {
    expect(ungatedPods([at('a'), at('b'), at('10.9.9.9', false)], [at('a')])).toEqual(['b']);
    expect(ungatedPods([at('a')], [at('a'), at('page-1')])).toEqual([]);
  });

  it('says what to do, naming at most five pods', () => {
    expect(ungatedProblem('web', 3, [])).toBeNull();
    expect(ungatedProblem('web', 2, ['a', 'b'])).toBe(
      'no Deployment of this app carries the gate: none of the 2 pods behind Service web follows the switch, so users reach them during maintenance; label each Deployment that goes into maintenance maintenance-switch.dev/gate: "true" and apply the install again',
    );
    expect(ungatedProblem('web', 9, ['a', 'b', 'c', 'd', 'e', 'f'])).toMatch(
      /^6 of the 9 pods behind Service web carry no gate and keep serving during maintenance \(a, b, c, d, e, …\); /,
    );
  });
});
