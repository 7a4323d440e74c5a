import type { ProbeResult } from '../k8s/pods.ts';

/** Whether the API server confines the admin's writes (to pods, to autoscalers) as the cluster part's policy says. */
export type GuardState =
  | { state: 'guarded'; checkedAt: string }
  | { state: 'unguarded' | 'forbidden' | 'unknown'; problem: string; checkedAt: string | null }
  | { state: 'off'; problem: string; checkedAt: null };

/** The cluster part, as every message that asks for it names it. */
export const CLUSTER_PART = 'kubectl apply -k kustomize/cluster';

/**
 * Reads a probe: accepted, the policy is missing (`unguarded`); refused by a
 * ValidatingAdmissionPolicy, it is there (`guarded`); refused by RBAC (`forbidden`); anything
 * else is `unknown`, with the API server's words.
 */
export function guardFromProbe(
  result: ProbeResult,
  checkedAt: string,
  says: { unguarded: string; forbidden: string; rbacRefusal: RegExp; policy?: string },
): GuardState {
  if (result.accepted) return { state: 'unguarded', problem: says.unguarded, checkedAt };
  if (result.status === 403 && says.rbacRefusal.test(result.message)) return { state: 'forbidden', problem: says.forbidden, checkedAt };
  // Named when another policy could refuse the same probe: only this one's refusal shows it is there.
  if (result.message.includes(says.policy === undefined ? 'ValidatingAdmissionPolicy' : `ValidatingAdmissionPolicy '${says.policy}'`))
    return { state: 'guarded', checkedAt };
  return { state: 'unknown', problem: result.message, checkedAt };
}

/** On the switch: which of the cluster part's policies the admin found missing, for `kubectl maintenance status`. */
export const CLUSTER_PART_ANNOTATION = 'maintenance-switch.dev/cluster-part';

const SETTLED = new Set<GuardState['state']>(['guarded', 'unguarded', 'forbidden', 'off']);

/**
 * What the switch should say of the cluster part: a line naming each missing policy and the
 * command that installs them; null when none is seen missing; undefined while a check has not
 * settled and nothing is seen missing yet (the annotation is left as it is).
 */
/** The guards of the admin's writes that the cluster part's policies confine; null where that write is not made. */
export interface ClusterPartGuards {
  nudge: GuardState | null;
  hold: GuardState | null;
  serving?: GuardState | null;
}

export function clusterPartNote(guards: ClusterPartGuards): string | null | undefined {
  const missing = [
    guards.nudge?.state === 'unguarded' ? 'the nudge policy (pods are not nudged: they follow at the kubelet’s own sync)' : null,
    guards.serving?.state === 'unguarded'
      ? 'the serving policy (no readiness condition is set: pods with the readiness gate stay out of their Services)'
      : null,
    guards.hold?.state === 'unguarded' ? 'the hold policy (the autoscaling hold is confined by RBAC alone)' : null,
  ].filter((entry) => entry !== null);
  const listed = missing.length > 1 ? `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)}` : missing[0];
  if (listed !== undefined) return `missing ${listed}; a cluster admin installs it once per cluster: ${CLUSTER_PART}`;
  const settled = [guards.nudge, guards.hold, guards.serving ?? null].every((guard) => guard === null || SETTLED.has(guard.state));
  return settled ? null : undefined;
}

/**
 * Keeps CLUSTER_PART_ANNOTATION on the switch true to the guards: written when what it should
 * say changes (and once at start), never otherwise, so the switch is not rewritten in a loop.
 */
export class ClusterPartReport {
  readonly #guards: () => ClusterPartGuards;
  readonly #write: (note: string | null) => Promise<void>;
  readonly #onError: (error: Error) => void;
  #written: string | null | undefined = undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(deps: {
    guards: () => ClusterPartGuards;
    write: (note: string | null) => Promise<void>;
    onError: (error: Error) => void;
  }) {
    this.#guards = deps.guards;
    this.#write = deps.write;
    this.#onError = deps.onError;
  }

  /** Looks at the guards now; resolves once any write this needs is done. */
  update(): Promise<void> {
    this.#writing = this.#writing.then(async () => {
      const note = clusterPartNote(this.#guards());
      if (note === undefined || note === this.#written) return;
      try {
        await this.#write(note);
        this.#written = note;
      } catch (error) {
        this.#onError(error as Error);
      }
    });
    return this.#writing;
  }
}
