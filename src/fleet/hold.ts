import type { Logger } from 'pino';
import { repeatEvery, type Clock } from '../clock.ts';
import {
  HOLD_ANNOTATION,
  PAUSED_REPLICAS_ANNOTATION,
  type Autoscaler,
  type AutoscalerClient,
  type HoldLedger,
} from '../k8s/autoscalers.ts';
import { CLUSTER_PART, guardFromProbe, type GuardState } from './guard.ts';
import { OnePassAtATime } from '../one-pass-at-a-time.ts';
import { LABELS } from '../k8s/labels.ts';

/** The install's own tiers: their autoscalers, if anyone made one, are not the app's. */
const OWN_TIERS = new Set(['admin', 'page']);
/** A look even with no event: a ScaledObject has no watch, and a missed event must not last. */
const HOLD_RESYNC_MS = 30_000;
/** How often the hold policy is checked again, as the nudge's is. */
const GUARD_INTERVAL_MS = 5 * 60_000;

/** What the hold changed on one autoscaler: kept in the HoldLedger, and shown on it in HOLD_ANNOTATION. */
export interface HoldRecord {
  /** The install's app, so `kubectl maintenance status` shows each install its own holds. */
  app?: string;
  since: string;
  /** The Deployment's replicas when the hold began. */
  replicas: number;
  /** An HPA's `spec.behavior` before the hold; null when it had none. */
  behavior?: object | null;
  /** A ScaledObject's paused-replicas annotation before the hold; null when it had none. */
  pausedReplicas?: string | null;
  /** When maintenance ended: the hold stays until the autoscaler has seen live traffic for its window. */
  endedAt?: string;
}

export interface HeldAutoscaler {
  kind: Autoscaler['kind'];
  name: string;
  deployment: string;
  replicas: number;
  since: string;
  /** After maintenance ended: when the hold is released. */
  releasesAt: string | null;
}

export interface HoldStatus {
  /** off: AUTOSCALING_HOLD=off; held: something is held (during maintenance, or just after it); released: nothing is. */
  state: 'off' | 'released' | 'held';
  held: HeldAutoscaler[];
  /** Autoscalers the hold could not hold or release, and why; a listing that failed has no name. */
  problems: { kind?: Autoscaler['kind']; name?: string; problem: string }[];
  /** Holds found removed (a re-apply of the autoscaler) and put back, since start. */
  reasserted: number;
  keda: boolean;
  /** Whether the cluster part's hold policy confines the admin's autoscaler patches; the hold acts either way. */
  guard: GuardState;
  checkedAt: string | null;
}

export function parseHoldRecord(value: string | undefined): HoldRecord | null {
  if (value === undefined) return null;
  try {
    const record = JSON.parse(value) as Partial<HoldRecord>;
    return typeof record.since === 'string' && typeof record.replicas === 'number' ? (record as HoldRecord) : null;
  } catch {
    return null;
  }
}

/** Whether the autoscaler is held as `record` says: scale-down disabled, or KEDA paused at the count. */
function isHeld(autoscaler: Autoscaler, record: HoldRecord): boolean {
  if (autoscaler.kind === 'ScaledObject') return autoscaler.annotations[PAUSED_REPLICAS_ANNOTATION] === String(record.replicas);
  const scaleDown = (autoscaler.behavior as { scaleDown?: { selectPolicy?: string } } | null)?.scaleDown;
  return scaleDown?.selectPolicy === 'Disabled';
}

function holdPatch(autoscaler: Autoscaler, record: HoldRecord) {
  const annotations = { [HOLD_ANNOTATION]: JSON.stringify(record) };
  if (autoscaler.kind === 'ScaledObject')
    return { metadata: { annotations: { ...annotations, [PAUSED_REPLICAS_ANNOTATION]: String(record.replicas) } } };
  // Scale-up stays as it was: a burst during maintenance may still add pods.
  return { metadata: { annotations }, spec: { behavior: { scaleDown: { selectPolicy: 'Disabled' } } } };
}

/** Puts back exactly what the record says was there: the behavior (or none), the pause (or none). */
function releasePatch(autoscaler: Autoscaler, record: HoldRecord) {
  const annotations: Record<string, string | null> = { [HOLD_ANNOTATION]: null };
  if (autoscaler.kind === 'ScaledObject')
    return { metadata: { annotations: { ...annotations, [PAUSED_REPLICAS_ANNOTATION]: record.pausedReplicas ?? null } } };
  // A merge patch merges objects: the old behavior is written whole over the held one, whose
  // only change was scaleDown.selectPolicy; no behavior at all is null.
  return { metadata: { annotations }, spec: { behavior: record.behavior ?? null } };
}

/**
 * How long an HPA stays held after maintenance ends: its scale-down stabilisation window, 300 s
 * when it sets none (kube-controller-manager's default). Released at once, an HPA would scale
 * down on the spot, since every recommendation in its window dates from the idle maintenance;
 * held that long, the window holds only recommendations from the traffic that came back.
 * KEDA takes its ScaledObjects out of pause afresh, so they are released at once.
 */
export function holdAfterMs(autoscaler: Autoscaler, record: HoldRecord): number {
  if (autoscaler.kind === 'ScaledObject') return 0;
  const window = (record.behavior as { scaleDown?: { stabilizationWindowSeconds?: number } } | null | undefined)?.scaleDown
    ?.stabilizationWindowSeconds;
  return (window ?? 300) * 1000;
}

/** Where the ledger keeps one autoscaler's record. */
const ledgerKey = (autoscaler: Autoscaler) => `${autoscaler.kind}.${autoscaler.name}`;

/**
 * Keeps the app's autoscalers from shrinking an idle fleet while maintenance is on: each HPA
 * that scales a Deployment of this install's app gets scale-down disabled (scale-up untouched),
 * each KEDA ScaledObject is paused at the current replicas, and what was there before is
 * recorded in the ledger (and shown on the object). When maintenance ends (or at start, after
 * it ended while no admin ran), the ledger's record is put back exactly and removed. A record
 * found only on an object, which anyone who may edit it could have written, is reported and
 * never acted on. Level-triggered: every look compares what is with what should be, so a
 * re-apply that dropped the hold during maintenance is undone.
 */
export class AutoscalingHold {
  readonly #client: AutoscalerClient;
  readonly #ledger: HoldLedger;
  readonly #app: string;
  readonly #enabled: boolean;
  readonly #active: () => boolean | null;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #listeners = new Set<() => void>();
  readonly #holdAfterMs: ((autoscaler: Autoscaler, record: HoldRecord) => number) | null;
  #status: HoldStatus;
  #cancelNextLook: (() => void) | null = null;
  readonly #looks = new OnePassAtATime(() => this.#look());

  constructor(deps: {
    client: AutoscalerClient;
    ledger: HoldLedger;
    /** The app's name: Deployments whose pods carry maintenance-switch.dev/app with it are the app's. */
    app: string;
    enabled: boolean;
    /** How long after maintenance an autoscaler stays held (AUTOSCALING_HOLD_AFTER_SECONDS); unset: holdAfterMs. */
    holdAfterMs?: number;
    /** Whether maintenance is in effect now (switch or window); null until the switch was read. */
    active: () => boolean | null;
    clock: Clock;
    log: Logger;
  }) {
    this.#client = deps.client;
    this.#ledger = deps.ledger;
    this.#app = deps.app;
    this.#enabled = deps.enabled;
    const after = deps.holdAfterMs;
    this.#holdAfterMs = after === undefined ? null : () => after;
    this.#active = deps.active;
    this.#clock = deps.clock;
    this.#log = deps.log.child({ hold: true });
    this.#status = {
      state: deps.enabled ? 'released' : 'off',
      held: [],
      problems: [],
      reasserted: 0,
      keda: false,
      guard: deps.enabled
        ? { state: 'unknown', problem: 'no autoscaler of this app to check the hold policy on yet', checkedAt: null }
        : { state: 'off', problem: 'AUTOSCALING_HOLD=off', checkedAt: null },
      checkedAt: null,
    };
  }

  status(): HoldStatus {
    return this.#status;
  }

  stop(): void {
    this.#cancelNextLook?.();
    this.#cancelNextLook = null;
  }

  /** Called after each look that changed what the status says. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Looks now, whenever maintenance starts or ends (`onActiveChange`) and every `resyncMs`; with
   * the hold off, once (to release what an earlier admin held). `firstLook` settles when the
   * first look is done; `stop` ends it all.
   */
  follow(
    triggers: { onActiveChange(listener: () => void): () => void },
    resyncMs = HOLD_RESYNC_MS,
  ): { firstLook: Promise<void>; stop: () => void } {
    const look = () => this.reconcile();
    if (!this.#enabled) return { firstLook: look(), stop: () => this.stop() };
    const stops = [triggers.onActiveChange(() => void look()), repeatEvery(this.#clock, resyncMs, look)];
    return {
      firstLook: this.#looks.running ?? Promise.resolve(),
      stop: () => {
        for (const stop of stops) stop();
        this.stop();
      },
    };
  }

  /** Looks once, holding or releasing what needs it; a call during a look makes one more look after it. */
  reconcile(): Promise<void> {
    return this.#looks.run();
  }

  async #look(): Promise<void> {
    const active = this.#active();
    // Before the switch is known, releasing could drop the hold of a maintenance still on.
    if (active === null) return;
    const hold = this.#enabled && active;
    const checkedAt = new Date(this.#clock.now()).toISOString();
    const held: HeldAutoscaler[] = [];
    const problems: HoldStatus['problems'] = [];
    let { reasserted, guard } = this.#status;
    let listing: Awaited<ReturnType<AutoscalerClient['list']>>;
    let ledger: Awaited<ReturnType<HoldLedger['read']>>;
    try {
      listing = await this.#client.list();
      ledger = await this.#ledger.read();
    } catch (error) {
      // With the hold off, its RBAC may be gone too: nothing to report.
      if (!this.#enabled) this.#log.info({ err: (error as Error).message }, 'AUTOSCALING_HOLD=off: no autoscaler to release');
      else this.#publish({ ...this.#status, problems: [{ problem: (error as Error).message }], checkedAt });
      return;
    }
    const deployments = new Map<string, Awaited<ReturnType<AutoscalerClient['deployment']>>>();
    const now = this.#clock.now();
    let nextRelease: number | null = null;
    // The record first, then the object: a record may outlive its change (and is put back as a
    // no-op), but no change of the hold's is ever left without its record.
    const writeRecord = async (key: string, value: HoldRecord | null) => {
      const text = value === null ? null : JSON.stringify(value);
      if ((ledger.records[key] ?? null) === text) return;
      ledger.version = await this.#ledger.write({ [key]: text }, ledger.version);
      if (text === null) delete ledger.records[key];
      else ledger.records[key] = text;
    };
    for (const autoscaler of listing.autoscalers) {
      if (autoscaler.madeByKeda || autoscaler.deployment === null) continue;
      const { kind, name, deployment } = autoscaler;
      try {
        if (!deployments.has(deployment)) deployments.set(deployment, await this.#client.deployment(deployment));
        const target = deployments.get(deployment);
        const labels = target?.templateLabels ?? {};
        if (!target || labels[LABELS.app] !== this.#app || OWN_TIERS.has(labels[LABELS.tier] ?? '')) continue;
        if (this.#enabled && (guard.checkedAt === null || now - Date.parse(guard.checkedAt) >= GUARD_INTERVAL_MS))
          guard = await this.#checkGuard(autoscaler, checkedAt);
        const trusted = parseHoldRecord(ledger.records[ledgerKey(autoscaler)]);
        const shown = autoscaler.annotations[HOLD_ANNOTATION];
        if (hold) {
          // Maintenance back on before the release: held again as it was, with no end.
          const { endedAt: _, ...kept } = trusted ?? {};
          const next = trusted ? (kept as HoldRecord) : this.#newRecord(autoscaler, target.replicas);
          if (trusted === null || trusted.endedAt !== undefined || !isHeld(autoscaler, trusted) || shown !== JSON.stringify(next)) {
            await writeRecord(ledgerKey(autoscaler), next);
            await this.#client.patch(autoscaler, holdPatch(autoscaler, next));
            if (trusted !== null) {
              reasserted++;
              this.#log.warn({ kind, name }, 'the autoscaler lost its hold during maintenance (a re-apply?): held again');
            } else this.#log.info({ kind, name, replicas: next.replicas }, 'holding the autoscaler: no scale-down during maintenance');
          }
          held.push({ kind, name, deployment, replicas: next.replicas, since: next.since, releasesAt: null });
        } else if (trusted !== null) {
          const afterMs = this.#enabled ? (this.#holdAfterMs ?? holdAfterMs)(autoscaler, trusted) : 0;
          const endedAt = trusted.endedAt === undefined ? now : Date.parse(trusted.endedAt);
          const releaseAt = endedAt + afterMs;
          if (now >= releaseAt) {
            await this.#client.patch(autoscaler, releasePatch(autoscaler, trusted));
            await writeRecord(ledgerKey(autoscaler), null);
            this.#log.info({ kind, name }, 'released the autoscaler: it is as it was before maintenance');
          } else {
            // The end is recorded, so a restarted admin keeps the same release time.
            if (trusted.endedAt === undefined) {
              const ended = { ...trusted, endedAt: new Date(now).toISOString() };
              await writeRecord(ledgerKey(autoscaler), ended);
              await this.#client.patch(autoscaler, { metadata: { annotations: { [HOLD_ANNOTATION]: JSON.stringify(ended) } } });
            }
            held.push({
              kind,
              name,
              deployment,
              replicas: trusted.replicas,
              since: trusted.since,
              releasesAt: new Date(releaseAt).toISOString(),
            });
            nextRelease = Math.min(nextRelease ?? releaseAt, releaseAt);
          }
        } else if (shown !== undefined) {
          problems.push({
            kind,
            name,
            problem: `it carries a hold record (${HOLD_ANNOTATION}) that is not in ${this.#ledger.target}, where this admin keeps what it changed: not acted on; if nothing holds it, remove the annotation`,
          });
        }
      } catch (error) {
        // Changed since the listing (a re-apply, another admin replica): look again, not a problem.
        if ((error as { status?: number }).status === 409) this.#looks.again();
        else problems.push({ kind, name, problem: (error as Error).message });
      }
    }
    // The record of an autoscaler deleted since: nothing is left to put back.
    const listed = new Set(listing.autoscalers.map(ledgerKey));
    for (const key of Object.keys(ledger.records).filter((key) => !listed.has(key))) {
      try {
        await writeRecord(key, null);
      } catch (error) {
        if ((error as { status?: number }).status === 409) this.#looks.again();
        else problems.push({ problem: (error as Error).message });
      }
    }
    if (problems.length > 0) this.#log.warn({ problems }, 'the autoscaling hold could not do all it should');
    this.#cancelNextLook?.();
    this.#cancelNextLook =
      nextRelease === null
        ? null
        : this.#clock.setTimer(
            () => {
              this.#cancelNextLook = null;
              void this.reconcile();
            },
            Math.max(0, nextRelease - now),
          );
    this.#publish({
      state: this.#enabled ? (held.length > 0 ? 'held' : 'released') : 'off',
      held,
      problems,
      reasserted,
      keda: listing.keda,
      guard,
      checkedAt,
    });
  }

  /** A server-side dry run of a label change that the cluster part's hold policy must refuse. */
  async #checkGuard(autoscaler: Autoscaler, checkedAt: string): Promise<GuardState> {
    const guard = guardFromProbe(await this.#client.probeGuard(autoscaler), checkedAt, {
      unguarded: `the API server accepted a dry-run label change on ${autoscaler.kind} ${autoscaler.name}: the hold policy (ValidatingAdmissionPolicy maintenance-switch-hold) is missing, so nothing but RBAC confines what the admin may change on the namespace's autoscalers. The hold still works. A cluster admin installs the policy once per cluster: ${CLUSTER_PART}`,
      forbidden: 'RBAC refuses the admin `patch` on the autoscalers, so it cannot hold them',
      rbacRefusal: /cannot patch resource/,
    });
    if (guard.state !== this.#status.guard.state) {
      if (guard.state === 'guarded') this.#log.info('the hold policy confines the admin’s autoscaler patches');
      else this.#log.warn({ problem: 'problem' in guard ? guard.problem : undefined }, `the hold policy: ${guard.state}`);
    }
    return guard;
  }

  #newRecord(autoscaler: Autoscaler, replicas: number): HoldRecord {
    const since = new Date(this.#clock.now()).toISOString();
    const app = this.#app;
    return autoscaler.kind === 'ScaledObject'
      ? { app, since, replicas, pausedReplicas: autoscaler.annotations[PAUSED_REPLICAS_ANNOTATION] ?? null }
      : { app, since, replicas, behavior: autoscaler.behavior };
  }

  #publish(status: HoldStatus): void {
    const comparable = (of: HoldStatus) => JSON.stringify({ ...of, checkedAt: null, guard: { ...of.guard, checkedAt: null } });
    const changed = comparable(status) !== comparable(this.#status);
    this.#status = status;
    if (changed) for (const listener of this.#listeners) listener();
  }
}
