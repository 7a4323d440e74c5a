import type { KubeClients } from './client.ts';
import { KubernetesApiError } from './client.ts';

export const NUDGE_ANNOTATION = 'maintenance-switch.dev/nudge';
const FIELD_MANAGER = 'maintenance-switch-nudge';

/** The one write the admin makes to pods: the nudge annotation, as a JSON merge patch. */
export interface PodPatcher {
  /** Sets the nudge annotation to `value` (a number). */
  nudge(name: string, value: string): Promise<void>;
  /**
   * A server-side dry run of a patch the nudge policy must refuse (a label): resolves with what
   * the API server said. Nothing is written either way.
   */
  probeGuard(name: string): Promise<{ accepted: true } | { accepted: false; status: number | undefined; message: string }>;
}

export function podPatcher({ core, lib }: KubeClients, namespace: string): PodPatcher {
  const patch = (name: string, body: object, dryRun?: 'All') =>
    core.patchNamespacedPod(
      { name, namespace, body, fieldManager: FIELD_MANAGER, ...(dryRun ? { dryRun } : {}) },
      lib.setHeaderOptions('Content-Type', lib.PatchStrategy.MergePatch),
    );
  return {
    async nudge(name, value) {
      try {
        await patch(name, { metadata: { annotations: { [NUDGE_ANNOTATION]: value } } });
      } catch (error) {
        throw new KubernetesApiError(`nudging pod ${namespace}/${name}`, error);
      }
    },
    async probeGuard(name) {
      try {
        await patch(name, { metadata: { labels: { 'maintenance-switch.dev/guard-probe': 'must-be-refused' } } }, 'All');
        return { accepted: true };
      } catch (error) {
        const failure = new KubernetesApiError(`probing the nudge policy on pod ${namespace}/${name}`, error);
        return { accepted: false, status: failure.status, message: failure.message };
      }
    },
  };
}
