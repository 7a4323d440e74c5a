import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { PodPatcher } from '../k8s/pods.ts';
import type { FleetEndpoint } from './fleet.ts';
import { CLUSTER_PART, guardFromProbe, type GuardState } from './guard.ts';
import { TokenBucket } from './token-bucket.ts';

export interface NudgeRound {
  at: string;
  pods: number;
  nudged: number;
  failed: number;
  retried: number;
  /** Pods nudged again once they followed, so the kubelet probes their readiness at once. */
  reprobed: number;
}

export interface NudgeStatus {
  guard: GuardState;
  lastRound: NudgeRound | null;
  /** Pods that had not followed after every retry, and what usually causes that. */
  unfollowed: { pods: string[]; likelyCauses: string } | null;
}

export interface NudgeSettings {
  enabled: boolean;
  /** Requests in flight at once. */
  concurrency: number;
  /** Requests per second, at most, after a burst of as many. */
  qps: number;
  /** After a change, when to nudge again the pods that have not followed yet. */
  retryDelaysMs: readonly number[];
  /** After a change, when to nudge again the pods that followed and are ready, but whose endpoint is not yet. */
  reprobeDelaysMs: readonly number[];
  /** How often the guard is checked again. */
  guardIntervalMs: number;
}

/** The kubelet remounts within about a second of a nudge; these leave it that, then back off. */
export const DEFAULT_RETRY_DELAYS_MS = [1_500, 3_000, 10_000, 30_000] as const;
/**
 * The kubelet syncs a nudged pod at once, and that sync probes the readiness of a container that
 * is not ready, then waits a whole period for the next probe: it probed before the remount, so a
 * pod back from maintenance would wait for its next period (2 s). A second nudge once the pod
 * says it is ready makes the kubelet probe it again at once.
 */
export const DEFAULT_REPROBE_DELAYS_MS = [400, 800, 1_200] as const;
const LIKELY_CAUSES =
  'a kubelet with configMapAndSecretChangeDetectionStrategy: Cache (it ignores the nudge within its TTL), a subPath mount (it never updates), or a busy pod worker; the kubelet will still sync within its syncFrequency';

/** The pods to nudge: those that mount the switch, less those terminating and the admin's own. */
export function nudgeTargets(endpoints: readonly FleetEndpoint[], self: string): string[] {
  return endpoints
    .filter((endpoint) => endpoint.servicePod && endpoint.state !== 'terminating' && endpoint.pod !== self)
    .map((endpoint) => endpoint.pod);
}

/** What makes the nudger act, injected: the switch's configs, and the pods that mount it. */
export interface NudgeTriggers {
  /** Each config the switch applies; the first is the one every pod mounted at start, not a change. */
  onConfigApplied(listener: () => void): () => void;
  /** Whether a config was already applied when the nudger started (then the next one is a change). */
  configKnown(): boolean;
  /** The pods that mount the switch changed: the guard is checked once there is a pod to check it on. */
  onPodsChange(listener: () => void): () => void;
}

export interface NudgeEvents {
  sent?(): void;
  /** The API server refused it (403 or 422): RBAC or the policy. */
  refused?(): void;
  failed?(): void;
  retried?(count: number): void;
}

/**
 * Makes the kubelet remount the switch at once: after every change of the switch, one
 * annotation on every pod that mounts it (the kubelet syncs a pod whose object changed, and the
 * sync refreshes its ConfigMap volumes). Pods that have not followed a few seconds later are
 * nudged again, a bounded number of times. It nudges only while the API server is seen to
 * refuse any other change the admin might make to a pod (the install's admission policy).
 */
export class Nudger {
  readonly #patcher: PodPatcher;
  readonly #targets: () => readonly string[];
  readonly #lagging: (pods: readonly string[]) => Promise<readonly string[]>;
  readonly #unprobed: (pods: readonly string[]) => Promise<readonly string[]>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #settings: NudgeSettings;
  readonly #events: NudgeEvents;
  #guard: GuardState;
  #lastRound: NudgeRound | null = null;
  #unfollowed: NudgeStatus['unfollowed'] = null;
  #generation = 0;
  readonly #bucket: TokenBucket;
  readonly #cancels = new Set<() => void>();

  constructor(deps: {
    patcher: PodPatcher;
    /** The pods that mount the switch, less those terminating. */
    targets: () => readonly string[];
    /** Of these pods, those that have not followed the switch yet (as each says, or as its endpoint shows). */
    lagging: (pods: readonly string[]) => Promise<readonly string[]>;
    /** Of these pods, those that say they are ready while their endpoint is not: the kubelet has not probed them since. */
    unprobed?: (pods: readonly string[]) => Promise<readonly string[]>;
    clock: Clock;
    log: Logger;
    settings: NudgeSettings;
    events?: NudgeEvents;
  }) {
    this.#patcher = deps.patcher;
    this.#targets = deps.targets;
    this.#lagging = deps.lagging;
    this.#unprobed = deps.unprobed ?? (async () => []);
    this.#clock = deps.clock;
    this.#log = deps.log.child({ nudge: true });
    this.#settings = deps.settings;
    this.#events = deps.events ?? {};
    this.#bucket = new TokenBucket(deps.clock, deps.settings.qps);
    this.#guard = deps.settings.enabled
      ? { state: 'unknown', problem: 'not checked yet', checkedAt: null }
      : { state: 'off', problem: 'NUDGE=off: pods follow the switch at the kubelet’s own sync', checkedAt: null };
  }

  status(): NudgeStatus {
    return { guard: this.#guard, lastRound: this.#lastRound, unfollowed: this.#unfollowed };
  }

  /** Follows `triggers` (each applied config after the first is a change), then checks the guard and keeps checking it. */
  async start(triggers?: NudgeTriggers): Promise<void> {
    if (!this.#settings.enabled) return;
    if (triggers) {
      let first = !triggers.configKnown();
      this.#cancels.add(
        triggers.onConfigApplied(() => {
          if (first) first = false;
          else void this.changed();
        }),
      );
      this.#cancels.add(
        triggers.onPodsChange(() => {
          if (this.#guard.state === 'unknown') void this.checkGuard();
        }),
      );
    }
    await this.checkGuard();
    const again = () => {
      const cancel = this.#clock.setTimer(() => {
        this.#cancels.delete(cancel);
        void this.checkGuard().finally(again);
      }, this.#settings.guardIntervalMs);
      this.#cancels.add(cancel);
    };
    again();
  }

  stop(): void {
    for (const cancel of this.#cancels) cancel();
    this.#cancels.clear();
    this.#generation++;
  }

  /** A server-side dry run of a pod patch that the policy must refuse. */
  async checkGuard(): Promise<GuardState> {
    if (!this.#settings.enabled) return this.#guard;
    const pod = this.#targets()[0];
    const checkedAt = new Date(this.#clock.now()).toISOString();
    if (pod === undefined) {
      this.#setGuard({ state: 'unknown', problem: 'no pod to check the nudge policy on yet', checkedAt });
      return this.#guard;
    }
    this.#setGuard(
      guardFromProbe(await this.#patcher.probeGuard(pod), checkedAt, {
        unguarded: `the API server accepted a dry-run label change on a pod: the nudge policy (ValidatingAdmissionPolicy and its binding) is missing, so the admin does not nudge; pods follow at the kubelet’s own sync. A cluster admin installs it once per cluster: ${CLUSTER_PART}`,
        forbidden: 'RBAC refuses the admin `patch` on pods, so it does not nudge; pods follow at the kubelet’s own sync',
        rbacRefusal: /cannot patch resource "pods"/,
      }),
    );
    return this.#guard;
  }

  /** The switch changed: nudge every pod now, and again those that lag. */
  async changed(): Promise<void> {
    if (!this.#settings.enabled) return;
    const generation = ++this.#generation;
    this.#unfollowed = null;
    if (this.#guard.state !== 'guarded') await this.checkGuard();
    if (this.#guard.state !== 'guarded' || generation !== this.#generation) return;
    const pods = [...new Set(this.#targets())];
    const round: NudgeRound = {
      at: new Date(this.#clock.now()).toISOString(),
      pods: pods.length,
      nudged: 0,
      failed: 0,
      retried: 0,
      reprobed: 0,
    };
    this.#lastRound = round;
    await this.#nudgeAll(pods, round, generation);
    this.#log.info({ pods: round.pods, nudged: round.nudged, failed: round.failed }, 'nudged the pods that mount the switch');
    this.#scheduleRetry(0, generation, round);
    for (const delay of this.#settings.reprobeDelaysMs) this.#scheduleReprobe(delay, generation, round);
  }

  #scheduleReprobe(delay: number, generation: number, round: NudgeRound): void {
    const cancel = this.#clock.setTimer(async () => {
      this.#cancels.delete(cancel);
      if (generation !== this.#generation) return;
      const pods = await this.#unprobed([...new Set(this.#targets())]);
      if (pods.length === 0 || generation !== this.#generation) return;
      round.reprobed += pods.length;
      await this.#nudgeAll(pods, round, generation);
    }, delay);
    this.#cancels.add(cancel);
  }

  #scheduleRetry(index: number, generation: number, round: NudgeRound): void {
    const delay = this.#settings.retryDelaysMs[index];
    if (delay === undefined) return;
    const cancel = this.#clock.setTimer(async () => {
      this.#cancels.delete(cancel);
      if (generation !== this.#generation) return;
      const pods = await this.#lagging([...new Set(this.#targets())]);
      if (pods.length === 0 || generation !== this.#generation) return;
      // The last delay only looks: the pods still behind are named, not nudged again.
      if (index === this.#settings.retryDelaysMs.length - 1) {
        this.#unfollowed = { pods: [...pods], likelyCauses: LIKELY_CAUSES };
        this.#log.warn({ pods }, 'pods have not followed the switch after every nudge');
        return;
      }
      round.retried += pods.length;
      this.#events.retried?.(pods.length);
      await this.#nudgeAll(pods, round, generation);
      this.#scheduleRetry(index + 1, generation, round);
    }, delay);
    this.#cancels.add(cancel);
  }

  async #nudgeAll(pods: readonly string[], round: NudgeRound, generation: number): Promise<void> {
    const queue = [...pods];
    const value = String(this.#clock.now());
    const worker = async () => {
      for (let pod = queue.shift(); pod !== undefined; pod = queue.shift()) {
        if (generation !== this.#generation) return;
        await this.#bucket.take();
        try {
          await this.#patcher.nudge(pod, value);
          round.nudged++;
          this.#events.sent?.();
        } catch (error) {
          round.failed++;
          const status = (error as { status?: number }).status;
          if (status === 403 || status === 422) this.#events.refused?.();
          else this.#events.failed?.();
          this.#log.warn({ pod, status, err: (error as Error).message }, 'could not nudge a pod');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(this.#settings.concurrency, queue.length)) }, worker));
  }

  #setGuard(next: GuardState): void {
    if (next.state !== this.#guard.state) {
      const problem = 'problem' in next ? next.problem : undefined;
      if (next.state === 'guarded') this.#log.info('the nudge policy guards the admin’s pod patches: nudging');
      else this.#log.warn({ problem }, `nudging is off: ${next.state}`);
    }
    this.#guard = next;
  }
}
