import { describe, expect, it } from 'vitest';
import { appPodFrom } from '../../src/fleet/app-pods.ts';

describe('appPodFrom', () => {
  it('reads the readiness gate, the serving condition, Ready, the page tier and a deletion', () => {
    expect(
      appPodFrom({
        metadata: { name: 'web-1', resourceVersion: '42', labels: { 'maintenance-switch.dev/app': 'shop' } },
        spec: { readinessGates: [{ conditionType: 'maintenance-switch.dev/serving' }] },
        status: {
          conditions: [
            { type: 'Ready', status: 'False' },
            { type: 'maintenance-switch.dev/serving', status: 'False' },
          ],
        },
      }),
    ).toEqual({ name: 'web-1', resourceVersion: '42', gated: true, tier: null, serving: 'False', ready: false, terminating: false });
    expect(
      appPodFrom({
        metadata: { name: 'shop-maintenance-page-1', labels: { 'maintenance-switch.dev/tier': 'page' }, deletionTimestamp: new Date() },
        spec: { readinessGates: [{ conditionType: 'example.com/other' }] },
        status: { conditions: [{ type: 'Ready', status: 'True' }] },
      }),
    ).toMatchObject({ gated: false, tier: 'page', serving: null, ready: true, terminating: true });
  });

  it('takes a condition other than True or False as none', () => {
    expect(
      appPodFrom({
        metadata: { name: 'web-1' },
        spec: { readinessGates: [{ conditionType: 'maintenance-switch.dev/serving' }] },
        status: { conditions: [{ type: 'maintenance-switch.dev/serving', status: 'Unknown' }] },
      }).serving,
    ).toBeNull();
  });
});
