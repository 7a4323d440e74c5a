import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { SERVING_CONDITION, SERVING_POLICY, type ServingWriter } from '../k8s/pods.ts';
import type { AppPod } from './app-pods.ts';
import { CLUSTER_PART, guardFromProbe, type GuardState } from './guard.ts';
import { OnePassAtATime } from '../one-pass-at-a-time.ts';
import { TokenBucket } from './token-bucket.ts';

export type ServingLevel = 'True' | 'False';

/** What the switch asks of the pods now: null until the switch is known. */
export interface ServingTarget {
  level: ServingLevel;
  /** Read-only, which this mode cannot enforce (no proxy): held as maintenance. */
  failedClosed: boolean;
}

/**
 * The level the switch asks for: True while users are served; False in maintenance, and in
 * read-only, which needs a proxy that this mode does not have; null until the switch is known.
 */
export function servingTarget(view: { config: unknown; active: boolean; readOnly: boolean }): ServingTarget | null {
  if (view.config === null) return null;
  return { level: view.active || view.readOnly ? 'False' : 'True', failedClosed: view.readOnly };
}

export interface ServingRound {
  at: string;
  /** From the first write to the last answer: the round's pace at NUDGE_QPS and NUDGE_CONCURRENCY. */
  durationMs: number | null;
  written: number;
  /** The pod changed since it was read: written again from the newer version. */
  conflicts: number;
  failed: number;
}

/** The `serving` object of /status and the admin API. */
export interface ServingStatus {
  guard: GuardState;
  /** The condition every gated pod should carry; null until the switch is known. */
  level: ServingLevel | null;
  failedClosed: boolean;
  /** Gated pods, less those terminating, and how many carry the level. */
  pods: number;
  atLevel: number;
  /** Gated pods with no condition yet: not Ready until the admin writes it. */
  waiting: string[];
  /** Page pods Ready now; when maintenance starts, the pods leave only once one is. */
  pageReady: number;
  /** Since when the pods wait for the page tier to be Ready before they leave; null when they do not. */
  pageWaitSince: string | null;
  lastRound: ServingRound | null;
  /** The latest failure to write, or to wait for the page tier; null after a clean round. */
  problem: string | null;
}

export interface ServingSettings {
  /** Requests in flight at once. */
  concurrency: number;
  /** Requests per second, at most, after a burst of as many. */
  qps: number;
  /** How long the pods wait for the page tier before they leave anyway. */
  pageWaitMs: number;
  /** After a round that failed, when to try again; the last delay repeats. */
  retryDelaysMs: readonly number[];
  /** How long a pod another admin pod writes may stay behind before this one writes it. */
  handoffMs: number;
  /** How often the guard is checked again. */
  guardIntervalMs: number;
}

export const DEFAULT_SERVING_RETRY_DELAYS_MS = [500, 1_000, 2_000, 5_000, 10_000, 30_000] as const;
/** Unguarded or refused, the guard is asked again this often at most (a new pod must not wait for the periodic check). */
const GUARD_RECHECK_MS = 10_000;
export const DEFAULT_PAGE_WAIT_MS = 10_000;
/** A pod another admin pod should write, still behind after this long, is written here. */
export const DEFAULT_HANDOFF_MS = 1_000;

export interface ServingEvents {
  written?(): void;
  conflict?(): void;
  /** The API server refused it (403 or 422): RBAC or the policy. */
  refused?(): void;
  failed?(): void;
}

/** What makes it look again, injected: the switch, and the app's pods. */
export interface ServingTriggers {
  onTargetChange(listener: () => void): () => void;
  onPodsChange(listener: () => void): () => void;
}

/**
 * The sidecar-free mode: every pod of the app that carries the readiness gate
 * maintenance-switch.dev/serving is Ready only while its condition is True, and this sets it,
 * level-triggered: True while users are served, False in maintenance (switch or window), on every
 * pod, also those created later. When maintenance starts, pods that serve leave only once a page
 * pod is Ready (or after `pageWaitMs`), so the public Service is never empty; when it ends they
 * come back at once, and the page tier leaves after them. It writes only while the cluster
 * part's policy is seen to confine it to that one condition.
 */
export class ServingConditions {
  readonly #writer: ServingWriter;
  readonly #self: string;
  readonly #pods: () => readonly AppPod[];
  readonly #target: () => ServingTarget | null;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #settings: ServingSettings;
  readonly #events: ServingEvents;
  readonly #bucket: TokenBucket;
  readonly #cancels = new Set<() => void>();
  #guard: GuardState = { state: 'unknown', problem: 'not checked yet', checkedAt: null };
  #guardCheckedAt: number | null = null;
  /** The looks scheduled for later, one of each kind at most. */
  readonly #later = new Map<'retry' | 'handoff' | 'guard' | 'page', () => void>();
  #lastRound: ServingRound | null = null;
  #problem: string | null = null;
  #pageWaitSince: number | null = null;
  /** Writes whose echo has not come back: the pod's version when written, and the level. */
  readonly #written = new Map<string, { resourceVersion: string; level: ServingLevel }>();
  /** Pods another admin pod writes, seen behind at a level since: this one writes them once the handoff is due. */
  readonly #othersBehind = new Map<string, { level: ServingLevel; since: number }>();
  readonly #passes = new OnePassAtATime(() => (this.#stopped ? Promise.resolve() : this.#pass()));
  #failures = 0;
  #stopped = false;

  constructor(deps: {
    writer: ServingWriter;
    /** This admin's own pod: the Ready admin pods share the writes by name. */
    self: string;
    pods: () => readonly AppPod[];
    target: () => ServingTarget | null;
    clock: Clock;
    log: Logger;
    settings: ServingSettings;
    events?: ServingEvents;
  }) {
    this.#writer = deps.writer;
    this.#self = deps.self;
    this.#pods = deps.pods;
    this.#target = deps.target;
    this.#clock = deps.clock;
    this.#log = deps.log.child({ serving: true });
    this.#settings = deps.settings;
    this.#events = deps.events ?? {};
    this.#bucket = new TokenBucket(deps.clock, deps.settings.qps);
  }

  status(): ServingStatus {
    const target = this.#target();
    const gated = this.#gated();
    return {
      guard: this.#guard,
      level: target?.level ?? null,
      failedClosed: target?.failedClosed ?? false,
      pods: gated.length,
      atLevel: gated.filter((pod) => pod.serving === target?.level).length,
      waiting: gated.filter((pod) => pod.serving === null).map((pod) => pod.name),
      pageReady: this.#pageReady(),
      pageWaitSince: this.#pageWaitSince === null ? null : new Date(this.#pageWaitSince).toISOString(),
      lastRound: this.#lastRound,
      problem: this.#problem,
    };
  }

  /** Looks whenever the switch or the pods change, checks the guard now and then, and makes a first pass. */
  async start(triggers: ServingTriggers): Promise<void> {
    this.#stopped = false;
    const look = () => void this.reconcile();
    this.#cancels.add(triggers.onTargetChange(look));
    this.#cancels.add(triggers.onPodsChange(look));
    await this.checkGuard();
    const again = () => {
      const cancel = this.#clock.setTimer(() => {
        this.#cancels.delete(cancel);
        void this.checkGuard()
          .then(() => this.reconcile())
          .finally(again);
      }, this.#settings.guardIntervalMs);
      this.#cancels.add(cancel);
    };
    again();
    await this.reconcile();
  }

  stop(): void {
    this.#stopped = true;
    for (const cancel of [...this.#cancels, ...this.#later.values()]) cancel();
    this.#cancels.clear();
    this.#later.clear();
  }

  /** A server-side dry run of a status patch that the policy must refuse, on one gated pod. */
  async checkGuard(): Promise<GuardState> {
    const pod = this.#gated()[0];
    const checkedAt = new Date(this.#clock.now()).toISOString();
    if (pod !== undefined) this.#guardCheckedAt = this.#clock.now();
    if (pod === undefined) {
      if (this.#guard.state !== 'guarded')
        this.#setGuard({ state: 'unknown', problem: 'no gated pod to check the serving policy on yet', checkedAt });
      return this.#guard;
    }
    this.#setGuard(
      guardFromProbe(await this.#writer.probeGuard(pod.name), checkedAt, {
        unguarded: `the API server accepted a dry-run change of another pod condition: the serving policy (ValidatingAdmissionPolicy ${SERVING_POLICY} and its binding) is missing, so the admin sets no ${SERVING_CONDITION} condition, and pods that carry the readiness gate stay out of their Services. A cluster admin installs it once per cluster: ${CLUSTER_PART}`,
        forbidden: `RBAC refuses the admin \`patch\` on pods/status, so it sets no ${SERVING_CONDITION} condition: list kustomize/components/readiness-gate in the install`,
        rbacRefusal: /cannot patch resource "pods\/status"/,
        policy: SERVING_POLICY,
      }),
    );
    return this.#guard;
  }

  /** Brings every gated pod to the level; one pass at a time, and one more if asked meanwhile. */
  reconcile(): Promise<void> {
    return this.#passes.run();
  }

  async #pass(): Promise<void> {
    const target = this.#target();
    if (target === null || this.#stopped) return;
    if (!(await this.#guarded())) return;
    const { level } = target;
    const gated = this.#gated();
    const behind = gated.filter((pod) => pod.serving !== level && !this.#echoPending(pod, level));
    const names = new Set(gated.map((pod) => pod.name));
    for (const name of this.#written.keys()) if (!names.has(name)) this.#written.delete(name);
    if (level === 'True') this.#pageWaitSince = null;
    const toWrite = this.#ours(level === 'False' ? this.#afterPageTier(behind) : behind, level);
    if (toWrite.length === 0) return;
    const began = this.#clock.now();
    const round: ServingRound = { at: new Date(began).toISOString(), durationMs: null, written: 0, conflicts: 0, failed: 0 };
    this.#lastRound = round;
    let lastError: string | null = null;
    const message =
      level === 'True'
        ? 'users are served'
        : target.failedClosed
          ? 'read-only, held as maintenance: this mode has no proxy to refuse writes'
          : 'in maintenance';
    const queue = [...toWrite];
    const worker = async () => {
      for (let pod = queue.shift(); pod !== undefined; pod = queue.shift()) {
        if (this.#stopped || this.#target()?.level !== level) return;
        await this.#bucket.take();
        try {
          await this.#writer.setServing(pod.name, pod.resourceVersion, level, message);
          this.#written.set(pod.name, { resourceVersion: pod.resourceVersion, level });
          round.written++;
          this.#events.written?.();
        } catch (error) {
          const status = (error as { status?: number }).status;
          if (status === 409) {
            round.conflicts++;
            this.#events.conflict?.();
            continue;
          }
          // Gone since it was read: its deletion is on its way to the watch.
          if (status === 404) continue;
          round.failed++;
          lastError = (error as Error).message;
          if (status === 403 || status === 422) this.#events.refused?.();
          else this.#events.failed?.();
          this.#log.warn({ pod: pod.name, status, err: lastError }, `could not set ${SERVING_CONDITION}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(this.#settings.concurrency, queue.length)) }, worker));
    round.durationMs = this.#clock.now() - began;
    this.#log.info({ level, written: round.written, conflicts: round.conflicts, failed: round.failed }, `set ${SERVING_CONDITION}`);
    if (round.failed > 0) {
      this.#problem = lastError;
      this.#retryLater();
    } else {
      if (this.#pageWaitSince === null) this.#problem = null;
      this.#failures = 0;
      // A conflict is answered by the newer version's own event; a look later covers a lost one.
      if (round.conflicts > 0) this.#retryLater();
    }
  }

  /**
   * The Ready admin pods share the writes, so each pod is written once, not once by each: this
   * one writes its share at once, and another's only when it is still behind `handoffMs` later
   * (that admin is slow, stopping, or has lost its watch). With no other Ready admin pod, or
   * while this one is not Ready itself (starting), every pod is its share.
   */
  #ours(pods: AppPod[], level: ServingLevel): AppPod[] {
    const admins = this.#pods()
      .filter((pod) => pod.tier === 'admin' && pod.ready && !pod.terminating)
      .map((pod) => pod.name)
      .sort();
    const index = admins.indexOf(this.#self);
    const behind = new Set(pods.map((pod) => pod.name));
    for (const [name, seen] of this.#othersBehind) if (!behind.has(name) || seen.level !== level) this.#othersBehind.delete(name);
    if (index < 0 || admins.length < 2) return pods;
    const now = this.#clock.now();
    let nextDue: number | null = null;
    const ours = pods.filter((pod) => {
      if (shareOf(pod.name, admins.length) === index) return true;
      const since = this.#othersBehind.get(pod.name)?.since ?? now;
      this.#othersBehind.set(pod.name, { level, since });
      if (now - since >= this.#settings.handoffMs) return true;
      nextDue = Math.min(nextDue ?? Number.POSITIVE_INFINITY, since + this.#settings.handoffMs);
      return false;
    });
    if (nextDue !== null) this.#lookLater('handoff', nextDue - now);
    return ours;
  }

  /**
   * Whether the policy is seen guarding the writes: asked again when never asked on a pod, or
   * at most every GUARD_RECHECK_MS while it is not (every pod event would otherwise ask), with a
   * look scheduled for then, so pods that wait are written once the cluster part is installed.
   */
  async #guarded(): Promise<boolean> {
    if (this.#guard.state === 'guarded') return true;
    const due = this.#guardCheckedAt === null || this.#clock.now() - this.#guardCheckedAt >= GUARD_RECHECK_MS;
    if (due && (await this.checkGuard()).state === 'guarded') return true;
    this.#lookLater('guard', GUARD_RECHECK_MS);
    return false;
  }

  /**
   * Maintenance starts: pods with no condition get False at once (they serve no one yet), but
   * those that serve leave only once a page pod is Ready, or once the wait is over.
   */
  #afterPageTier(behind: AppPod[]): AppPod[] {
    const leaving = behind.filter((pod) => pod.serving === 'True');
    if (leaving.length === 0) return behind;
    if (this.#pageReady() > 0) {
      if (this.#pageWaitSince !== null)
        this.#log.info({ waitedMs: this.#clock.now() - this.#pageWaitSince }, 'the page tier is Ready: the pods leave');
      this.#pageWaitSince = null;
      return behind;
    }
    const now = this.#clock.now();
    if (this.#pageWaitSince === null) {
      this.#pageWaitSince = now;
      this.#log.info({ pods: leaving.length }, 'maintenance starts: the pods leave once the page tier is Ready');
    }
    const waited = now - this.#pageWaitSince;
    if (waited < this.#settings.pageWaitMs) {
      // Asked on every pass that waits: a look left from an earlier wait may fire before this one ends.
      this.#lookLater('page', this.#settings.pageWaitMs - waited);
      return behind.filter((pod) => pod.serving === null);
    }
    this.#problem = `no page pod was Ready ${this.#settings.pageWaitMs / 1000} s after maintenance started: the pods left anyway, and users may meet an empty Service until one is`;
    this.#log.warn(this.#problem);
    return behind;
  }

  #retryLater(): void {
    if (this.#later.has('retry')) return;
    const delays = this.#settings.retryDelaysMs;
    this.#lookLater('retry', delays[Math.min(this.#failures, delays.length - 1)] ?? 1_000);
    this.#failures++;
  }

  /** One more look in `ms`, unless one of this kind is already due. */
  #lookLater(kind: 'retry' | 'handoff' | 'guard' | 'page', ms: number): void {
    if (this.#later.has(kind) || this.#stopped) return;
    this.#later.set(
      kind,
      this.#clock.setTimer(() => {
        this.#later.delete(kind);
        void this.reconcile();
      }, ms),
    );
  }

  /** Written at this version and level, and the watch has not brought the pod back since. */
  #echoPending(pod: AppPod, level: ServingLevel): boolean {
    const written = this.#written.get(pod.name);
    return written !== undefined && written.level === level && written.resourceVersion === pod.resourceVersion;
  }

  #gated(): AppPod[] {
    return this.#pods().filter((pod) => pod.gated && !pod.terminating);
  }

  #pageReady(): number {
    return this.#pods().filter((pod) => pod.tier === 'page' && pod.ready && !pod.terminating).length;
  }

  #setGuard(next: GuardState): void {
    if (next.state !== this.#guard.state) {
      if (next.state === 'guarded')
        this.#log.info(`the serving policy confines the admin’s pod status writes: setting ${SERVING_CONDITION}`);
      else this.#log.warn({ problem: 'problem' in next ? next.problem : undefined }, `not setting ${SERVING_CONDITION}: ${next.state}`);
    }
    this.#guard = next;
  }
}

/** Which of `count` admin pods writes a pod: FNV-1a of its name, so every admin pod agrees without talking. */
export function shareOf(name: string, count: number): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < name.length; index++) hash = Math.imul(hash ^ name.charCodeAt(index), 0x01000193);
  return (hash >>> 0) % count;
}
