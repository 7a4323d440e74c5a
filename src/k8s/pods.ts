import type { V1Pod } from '@kubernetes/client-node';
import type { Informer, KubeClients } from './client.ts';
import { KubernetesApiError } from './client.ts';
import { LABELS } from './labels.ts';

/** What the API server said to a server-side dry run of a write that a policy must refuse. */
export type ProbeResult = { accepted: true } | { accepted: false; status: number | undefined; message: string };

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
  probeGuard(name: string): Promise<ProbeResult>;
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

/** The readiness gate of the sidecar-free mode: the admin says on each pod whether it serves. */
export const SERVING_CONDITION = 'maintenance-switch.dev/serving';
const SERVING_FIELD_MANAGER = 'maintenance-switch-serving';
/** The cluster part's policy that confines the admin's writes to pods/status. */
export const SERVING_POLICY = 'maintenance-switch-serving';

/** List and watch the pods labelled with the app (`get`, `list` and `watch` on pods in the namespace). */
export function appPodInformer({ core, watch, lib }: KubeClients, namespace: string, app: string): Informer<V1Pod> {
  const labelSelector = `${LABELS.app}=${app}`;
  return new lib.ListWatch<V1Pod>(
    `/api/v1/namespaces/${namespace}/pods`,
    watch,
    () => core.listNamespacedPod({ namespace, labelSelector }),
    false,
    labelSelector,
  );
}

/** The one write the admin makes to pods' status: the serving condition, at the version it read. */
export interface ServingWriter {
  /** Sets the condition; a pod that changed since `resourceVersion` is refused (409), never overwritten. */
  setServing(name: string, resourceVersion: string, status: 'True' | 'False', message: string): Promise<void>;
  /** A server-side dry run of a status patch the serving policy must refuse (another condition). Nothing is written. */
  probeGuard(name: string): Promise<ProbeResult>;
}

export function servingWriter({ core, lib }: KubeClients, namespace: string, now: () => number): ServingWriter {
  // A strategic merge patch merges conditions by type: the kubelet's own stay as they are.
  const patch = (name: string, body: object, dryRun?: 'All') =>
    core.patchNamespacedPodStatus(
      { name, namespace, body, fieldManager: SERVING_FIELD_MANAGER, ...(dryRun ? { dryRun } : {}) },
      lib.setHeaderOptions('Content-Type', lib.PatchStrategy.StrategicMergePatch),
    );
  const condition = (type: string, status: 'True' | 'False', message: string) => ({
    type,
    status,
    reason: status === 'True' ? 'Serving' : 'InMaintenance',
    message,
    lastTransitionTime: new Date(now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  });
  return {
    async setServing(name, resourceVersion, status, message) {
      try {
        await patch(name, { metadata: { resourceVersion }, status: { conditions: [condition(SERVING_CONDITION, status, message)] } });
      } catch (error) {
        throw new KubernetesApiError(`setting ${SERVING_CONDITION}=${status} on pod ${namespace}/${name}`, error);
      }
    },
    async probeGuard(name) {
      try {
        await patch(name, { status: { conditions: [condition('maintenance-switch.dev/guard-probe', 'True', 'must be refused')] } }, 'All');
        return { accepted: true };
      } catch (error) {
        const failure = new KubernetesApiError(`probing the serving policy on pod ${namespace}/${name}`, error);
        return { accepted: false, status: failure.status, message: failure.message };
      }
    },
  };
}
