import type { V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import { apiStatus, KubernetesApiError, type Informer, type KubeClients } from './client.ts';
import { mergePatchConfigMap, readConfigMap, type ConfigMapRef } from './configmaps.ts';

/** The hold's record shown on the autoscaler itself, for people and `kubectl maintenance status`; never read back to act on. */
export const HOLD_ANNOTATION = 'maintenance-switch.dev/autoscaling-hold';
/** KEDA's own pause: it keeps the target at this many replicas while the annotation is there. */
export const PAUSED_REPLICAS_ANNOTATION = 'autoscaling.keda.sh/paused-replicas';
const FIELD_MANAGER = 'maintenance-switch-hold';
const KEDA = { group: 'keda.sh', version: 'v1alpha1', plural: 'scaledobjects' } as const;

export type AutoscalerKind = 'HorizontalPodAutoscaler' | 'ScaledObject';

/** What the hold needs of an HPA or a KEDA ScaledObject. */
export interface Autoscaler {
  kind: AutoscalerKind;
  name: string;
  resourceVersion: string;
  annotations: Readonly<Record<string, string>>;
  /** The Deployment it scales; null when it scales something else. */
  deployment: string | null;
  /** An HPA's `spec.behavior` as stored; null when it has none (and for a ScaledObject). */
  behavior: object | null;
  /** An HPA that KEDA made for a ScaledObject: KEDA rewrites it, so the ScaledObject is held instead. */
  madeByKeda: boolean;
}

export interface AutoscalerClient {
  /** The namespace's HPAs and ScaledObjects; `keda` is false when the ScaledObject CRD is absent. */
  list(): Promise<{ autoscalers: Autoscaler[]; keda: boolean }>;
  /** A Deployment's pod template labels and replicas; null when there is no such Deployment. */
  deployment(name: string): Promise<{ templateLabels: Readonly<Record<string, string>>; replicas: number } | null>;
  /**
   * A JSON merge patch, made only if the object is still at `resourceVersion` (409 otherwise).
   * Throws a KubernetesApiError that names the object.
   */
  patch(autoscaler: Autoscaler, body: { metadata?: { annotations?: Record<string, string | null> }; spec?: object }): Promise<void>;
  /**
   * A server-side dry run of a patch the cluster part's hold policy must refuse (a label):
   * resolves with what the API server said. Nothing is written either way.
   */
  probeGuard(autoscaler: Autoscaler): Promise<{ accepted: true } | { accepted: false; status: number | undefined; message: string }>;
}

/**
 * The hold's own records: what it changed on each autoscaler, and so what it will put back.
 * They live in a ConfigMap of the install (`<app>-maintenance-hold`) that only its admin (and
 * who may already change the install) may write, never on the autoscaler alone, where anyone
 * who may edit an HPA could plant what the admin would later write into it.
 */
export interface HoldLedger {
  /** Where the records are, for messages: "ConfigMap shop/shop-maintenance-hold". */
  readonly target: string;
  /** The records by autoscaler (`HorizontalPodAutoscaler.web`), and the version they were read at. */
  read(): Promise<{ records: Record<string, string>; version: string }>;
  /** Sets (a string) or removes (null) records, only if still at `version` (409 otherwise); the new version. */
  write(changes: Record<string, string | null>, version: string): Promise<string>;
}

/** `get` and `patch` on one ConfigMap. */
export function holdLedgerClient(clients: KubeClients, ref: ConfigMapRef): HoldLedger {
  return {
    target: `ConfigMap ${ref.namespace}/${ref.name}`,
    async read() {
      const configMap = await readConfigMap(clients, ref);
      return { records: configMap.data ?? {}, version: configMap.metadata?.resourceVersion ?? '' };
    },
    async write(changes, version) {
      const patched = await mergePatchConfigMap(clients, ref, { metadata: { resourceVersion: version }, data: changes }, FIELD_MANAGER);
      return patched.metadata?.resourceVersion ?? '';
    },
  };
}

interface ScaledObjectLike {
  metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: { scaleTargetRef?: { name?: string; kind?: string; apiVersion?: string } };
}

function fromHpa(hpa: V2HorizontalPodAutoscaler): Autoscaler {
  const target = hpa.spec?.scaleTargetRef;
  return {
    kind: 'HorizontalPodAutoscaler',
    name: hpa.metadata?.name ?? '',
    resourceVersion: hpa.metadata?.resourceVersion ?? '',
    annotations: hpa.metadata?.annotations ?? {},
    deployment: target?.kind === 'Deployment' && target.apiVersion?.startsWith('apps/') !== false ? target.name : null,
    behavior: hpa.spec?.behavior ?? null,
    madeByKeda: (hpa.metadata?.ownerReferences ?? []).some((owner) => owner.kind === 'ScaledObject'),
  };
}

function fromScaledObject(object: ScaledObjectLike): Autoscaler {
  const target = object.spec?.scaleTargetRef;
  // KEDA's default target is a Deployment.
  const isDeployment = (target?.kind ?? 'Deployment') === 'Deployment' && (target?.apiVersion ?? 'apps/v1').startsWith('apps/');
  return {
    kind: 'ScaledObject',
    name: object.metadata?.name ?? '',
    resourceVersion: object.metadata?.resourceVersion ?? '',
    annotations: object.metadata?.annotations ?? {},
    deployment: isDeployment && target?.name ? target.name : null,
    behavior: null,
    madeByKeda: false,
  };
}

/**
 * `get`, `list` and `patch` on horizontalpodautoscalers and scaledobjects.keda.sh, and `get` on
 * deployments, in one namespace. Patches carry their own field manager, so `kubectl apply`
 * and GitOps tools see who changed the object.
 */
export function autoscalerClient({ autoscaling, apps, custom, lib }: KubeClients, namespace: string): AutoscalerClient {
  const mergePatch = lib.setHeaderOptions('Content-Type', lib.PatchStrategy.MergePatch);
  const write = async ({ kind, name }: Autoscaler, body: object, dryRun?: 'All') => {
    const request = { namespace, name, body, fieldManager: FIELD_MANAGER, ...(dryRun ? { dryRun } : {}) };
    if (kind === 'HorizontalPodAutoscaler') await autoscaling.patchNamespacedHorizontalPodAutoscaler(request, mergePatch);
    else await custom.patchNamespacedCustomObject({ ...KEDA, ...request }, mergePatch);
  };
  return {
    async list() {
      const hpas = await autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace }).catch((error: unknown) => {
        throw new KubernetesApiError(`listing the HorizontalPodAutoscalers in ${namespace}`, error);
      });
      const autoscalers = hpas.items.map(fromHpa);
      try {
        const scaled = (await custom.listNamespacedCustomObject({ ...KEDA, namespace })) as { items?: ScaledObjectLike[] };
        autoscalers.push(...(scaled.items ?? []).map(fromScaledObject));
        return { autoscalers, keda: true };
      } catch (error) {
        // No ScaledObject CRD: KEDA is not installed, and there is nothing of it to hold.
        if (apiStatus(error) === 404) return { autoscalers, keda: false };
        throw new KubernetesApiError(`listing the ScaledObjects in ${namespace}`, error);
      }
    },
    async deployment(name) {
      try {
        const deployment = await apps.readNamespacedDeployment({ name, namespace });
        return {
          templateLabels: deployment.spec?.template.metadata?.labels ?? {},
          replicas: deployment.spec?.replicas ?? deployment.status?.replicas ?? 0,
        };
      } catch (error) {
        if (apiStatus(error) === 404) return null;
        throw new KubernetesApiError(`reading Deployment ${namespace}/${name}`, error);
      }
    },
    async patch(autoscaler, body) {
      try {
        await write(autoscaler, { ...body, metadata: { ...body.metadata, resourceVersion: autoscaler.resourceVersion } });
      } catch (error) {
        throw new KubernetesApiError(`patching ${autoscaler.kind} ${namespace}/${autoscaler.name}`, error);
      }
    },
    async probeGuard(autoscaler) {
      try {
        await write(autoscaler, { metadata: { labels: { 'maintenance-switch.dev/guard-probe': 'must-be-refused' } } }, 'All');
        return { accepted: true };
      } catch (error) {
        const failure = new KubernetesApiError(`probing the hold policy on ${autoscaler.kind} ${namespace}/${autoscaler.name}`, error);
        return { accepted: false, status: failure.status, message: failure.message };
      }
    },
  };
}

/** List and watch the namespace's HPAs: any change (a re-apply) makes the hold look again. */
export function autoscalerInformer({ autoscaling, watch, lib }: KubeClients, namespace: string): Informer<V2HorizontalPodAutoscaler> {
  return new lib.ListWatch<V2HorizontalPodAutoscaler>(
    `/apis/autoscaling/v2/namespaces/${namespace}/horizontalpodautoscalers`,
    watch,
    () => autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace }),
    false,
  );
}
