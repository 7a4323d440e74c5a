import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Informer } from '../k8s/client.ts';
import { LABELS } from '../k8s/labels.ts';
import { SERVING_CONDITION } from '../k8s/pods.ts';
import { WatchedObjects } from '../k8s/watched-objects.ts';

/** The parts of a Pod that matter here (structurally a V1Pod). */
export interface PodLike {
  metadata?: { name?: string; resourceVersion?: string; labels?: Record<string, string>; deletionTimestamp?: unknown };
  spec?: { readinessGates?: { conditionType: string }[] | null };
  status?: { conditions?: { type: string; status: string }[] | null };
}

/** One pod labelled with the app, as the admin sees it. */
export interface AppPod {
  name: string;
  resourceVersion: string;
  /** It carries the serving readiness gate: it is Ready only while the admin says it serves. */
  gated: boolean;
  /** One of this install's own tiers (`page`, `admin`), from its label; null for a pod of the app. */
  tier: string | null;
  /** The serving condition; null while it has none (the pod is then not Ready). */
  serving: 'True' | 'False' | null;
  ready: boolean;
  terminating: boolean;
}

export function appPodFrom(pod: PodLike): AppPod {
  const conditions = pod.status?.conditions ?? [];
  const condition = (type: string) => conditions.find((entry) => entry.type === type)?.status;
  const serving = condition(SERVING_CONDITION);
  return {
    name: pod.metadata?.name ?? '',
    resourceVersion: pod.metadata?.resourceVersion ?? '',
    gated: (pod.spec?.readinessGates ?? []).some((gate) => gate.conditionType === SERVING_CONDITION),
    tier: pod.metadata?.labels?.[LABELS.tier] ?? null,
    serving: serving === 'True' || serving === 'False' ? serving : null,
    ready: condition('Ready') === 'True',
    terminating: pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null,
  };
}

/**
 * Follows the pods labelled with the app (the gated pods of the sidecar-free mode, and the page
 * and admin tiers'), through a supervised watch, and tells its listeners after every change.
 */
export class AppPods extends WatchedObjects<PodLike, AppPod> {
  constructor(options: { what: string; informer: Informer<PodLike>; clock: Clock }, log: Logger) {
    super(options, appPodFrom, log.child({ pods: true }));
  }

  get pods(): readonly AppPod[] {
    return this.objects;
  }
}
