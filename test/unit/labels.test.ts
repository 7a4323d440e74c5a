import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LABELS } from '../../src/k8s/labels.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('LABELS', () => {
  it('are the labels the install writes: the switch by tier, the pods by app, the gated Deployments by gate', () => {
    expect(read('kustomize/base/switch.yaml')).toContain(`${LABELS.tier}: switch`);
    expect(read('kustomize/components/nudge/kustomization.yaml')).toContain(`labelSelector: ${LABELS.app}=APP`);
    for (const component of ['gate', 'readiness-gate']) {
      expect(read(`kustomize/components/${component}/kustomization.yaml`)).toContain(`labelSelector: ${LABELS.gate}=true`);
    }
  });
});
