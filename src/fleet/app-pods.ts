import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Informer } from '../k8s/client.ts';
import { SERVING_CONDITION } from '../k8s/pods.ts';
import { SupervisedWatch, type WatchStatus } from '../k8s/supervised-watch.ts';

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

const TIER_LABEL = 'maintenance-switch.dev/tier';

export function appPodFrom(pod: PodLike): AppPod {
  const conditions = pod.status?.conditions ?? [];
  const condition = (type: string) => conditions.find((entry) => entry.type === type)?.status;
  const serving = condition(SERVING_CONDITION);
  return {
    name: pod.metadata?.name ?? '',
    resourceVersion: pod.metadata?.resourceVersion ?? '',
    gated: (pod.spec?.readinessGates ?? []).some((gate) => gate.conditionType === SERVING_CONDITION),
    tier: pod.metadata?.labels?.[TIER_LABEL] ?? null,
    serving: serving === 'True' || serving === 'False' ? serving : null,
    ready: condition('Ready') === 'True',
    terminating: pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null,
  };
}

/**
 * Follows the pods labelled with the app (the gated pods of the sidecar-free mode, and the page
 * and admin tiers'), through a supervised watch, and tells its listeners after every change.
 */
export class AppPods {
  readonly #pods = new Map<string, AppPod>();
  readonly #listeners = new Set<() => void>();
  readonly #watch: SupervisedWatch<PodLike>;

  constructor(options: { what: string; informer: Informer<PodLike>; clock: Clock }, log: Logger) {
    const put = (pod: PodLike) => {
      const next = appPodFrom(pod);
      this.#pods.set(next.name, next);
      this.#publish();
    };
    this.#watch = new SupervisedWatch<PodLike>(
      options,
      {
        add: put,
        update: put,
        delete: (pod) => {
          this.#pods.delete(pod.metadata?.name ?? '');
          this.#publish();
        },
        listed: () => this.#publish(),
      },
      log.child({ pods: true }),
    );
  }

  get pods(): readonly AppPod[] {
    return [...this.#pods.values()];
  }

  get synced(): boolean {
    return this.#watch.synced;
  }

  get status(): WatchStatus {
    return this.#watch.status;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): Promise<void> {
    return this.#watch.start();
  }

  stop(): Promise<void> {
    return this.#watch.stop();
  }

  #publish(): void {
    if (!this.#watch.synced) return;
    for (const listener of this.#listeners) listener();
  }
}
