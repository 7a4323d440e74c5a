import type { V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { KubernetesApiError, type KubeClients } from '../k8s/client.ts';
import { HistoryLog } from './history-log.ts';
import { listConfigMapEvents, mergePatchConfigMap, readConfigMap, recordConfigMapEvent, type ConfigMapRef } from '../k8s/configmaps.ts';
import { CONFIG_KEYS, dataHash } from './parse.ts';
import {
  ConfigNotFoundError,
  HISTORY_LENGTH,
  VersionConflictError,
  describeDifference,
  type Audit,
  type ConfigWrite,
  type ConfigWriter,
  type HistoryEntry,
  type StoredConfig,
} from './writer.ts';

/** Our annotations on the ConfigMap, under a domain prefix of ours. */
const ANNOTATION_PREFIX = 'maintenance-switch.dev';
export const ANNOTATIONS = {
  changedBy: `${ANNOTATION_PREFIX}/changed-by`,
  changedAt: `${ANNOTATION_PREFIX}/changed-at`,
  reason: `${ANNOTATION_PREFIX}/reason`,
  dataHash: `${ANNOTATION_PREFIX}/data-hash`,
  /** On our Events: what the change set, in words. */
  what: `${ANNOTATION_PREFIX}/what`,
  /** `enforced` on a switch whose users pass through gates or the user role (components/gate-proxy, the demo). */
  readOnly: `${ANNOTATION_PREFIX}/read-only`,
} as const;

/** Why read-only cannot be set on a switch without the annotation: its gates would hold it as maintenance. */
export const READ_ONLY_NOT_ENFORCED =
  'read-only mode is not enforced by this install: users reach the app directly, not through its gates, which would hold read-only as maintenance on instead. Use kustomize/components/gate-proxy in the recipe in place of components/gate, so that users pass through the gates';

/** The field managers of this project's writers: the admin tier, and the kubectl plugin. */
export const FIELD_MANAGER = 'maintenance-switch';
export const PLUGIN_FIELD_MANAGER = 'kubectl-maintenance';
const OUR_MANAGERS = new Set([FIELD_MANAGER, PLUGIN_FIELD_MANAGER]);

export interface ConfigMapWriterOptions extends ConfigMapRef {
  /** Who writes, for the Events' reportingInstance: the admin's pod, or the plugin's user. */
  reportingInstance: string;
  /** The history that outlives Events (`<app>-maintenance-history`), where there is one. */
  history?: ConfigMapRef | null;
  /** The field manager, and the Events' reporting controller (under our prefix): the admin's by default. */
  manager?: typeof FIELD_MANAGER | typeof PLUGIN_FIELD_MANAGER;
  /**
   * Whether this writer records changes in the history (the admin does, for every change it sees);
   * the plugin only reads it, as an operator may not write it.
   */
  recordsHistory?: boolean;
}

/**
 * Patches the ConfigMap with this pod's own service account, using a JSON merge patch. When an
 * expected resourceVersion is given it goes into the patch, so the API server refuses a stale
 * write with 409 Conflict and nothing is written. Each write also records an Event.
 */
export class ConfigMapWriter implements ConfigWriter {
  readonly target: string;
  readonly #clients: KubeClients;
  readonly #ref: ConfigMapRef;
  readonly #reportingInstance: string;
  readonly #log: Logger;
  /** The history that outlives Events (`<app>-maintenance-history`); null: Events alone. */
  readonly #history: HistoryLog | null;
  readonly #recordsHistory: boolean;
  readonly #manager: string;

  constructor(clients: KubeClients, options: ConfigMapWriterOptions, log: Logger) {
    this.#clients = clients;
    this.#ref = { namespace: options.namespace, name: options.name };
    this.#reportingInstance = options.reportingInstance;
    this.target = `configmap ${options.namespace}/${options.name}`;
    this.#log = log;
    this.#history = options.history ? new HistoryLog(clients, options.history) : null;
    this.#recordsHistory = options.recordsHistory ?? true;
    this.#manager = options.manager ?? FIELD_MANAGER;
  }

  /**
   * Records the switch as it is now in the history, if its data changed since the last record:
   * called after each change this process sees, whoever made it. A failure is logged, never thrown.
   */
  async recordChange(current?: StoredConfig): Promise<void> {
    if (this.#history === null || !this.#recordsHistory) return;
    try {
      await this.#history.recordSwitch(current ?? (await this.read()));
    } catch (error) {
      this.#log.warn({ err: (error as Error).message }, `could not record the change in ${this.#history.target}`);
    }
  }

  /** resourceVersions are opaque to clients, but every API server issues decimal ones. */
  isWellFormedVersion(version: string): boolean {
    return /^\d{1,20}$/.test(version);
  }

  async read(): Promise<StoredConfig> {
    try {
      return storedConfig(await readConfigMap(this.#clients, this.#ref));
    } catch (error) {
      throw this.#translate(error);
    }
  }

  async write(change: ConfigWrite): Promise<StoredConfig> {
    const patch = {
      metadata: {
        resourceVersion: change.expectedVersion,
        annotations: {
          [ANNOTATIONS.changedBy]: change.actor,
          [ANNOTATIONS.changedAt]: new Date().toISOString(),
          [ANNOTATIONS.reason]: change.reason,
          [ANNOTATIONS.dataHash]: dataHash(change.result),
        },
      },
      data: change.data,
    };
    let updated: V1ConfigMap;
    try {
      updated = await mergePatchConfigMap(this.#clients, this.#ref, patch, this.#manager);
    } catch (error) {
      throw this.#translate(error);
    }
    const mode = change.data[CONFIG_KEYS.mode];
    const what = describeDifference(change.before, change.result);
    // A failure to record the Event does not undo the change.
    await recordConfigMapEvent(this.#clients, this.#ref, {
      reportingController: `${ANNOTATION_PREFIX}/${this.#manager}`,
      reportingInstance: this.#reportingInstance,
      ...(mode === undefined
        ? { action: 'Change', reason: 'MaintenanceChanged', note: `${change.actor} changed ${what}: ${change.reason}` }
        : {
            action: 'Toggle',
            reason: mode === 'true' ? 'MaintenanceEnabled' : 'MaintenanceDisabled',
            note: `${change.actor} turned maintenance ${mode === 'true' ? 'on' : 'off'}: ${change.reason}`,
          }),
      regarding: updated,
      annotations: {
        [ANNOTATIONS.changedBy]: change.actor,
        [ANNOTATIONS.reason]: change.reason,
        [ANNOTATIONS.what]: what,
      },
    }).catch((error: unknown) =>
      this.#log.warn({ err: error }, 'the change is made, but its Event was not recorded (kubectl describe will not show it)'),
    );
    const written = storedConfig(updated);
    await this.recordChange(written);
    return written;
  }

  async audit(entry: { action: string; reason: string; note: string; actor?: string }): Promise<void> {
    const { actor, ...event } = entry;
    const current = await readConfigMap(this.#clients, this.#ref);
    await recordConfigMapEvent(this.#clients, this.#ref, {
      reportingController: `${ANNOTATION_PREFIX}/${this.#manager}`,
      reportingInstance: this.#reportingInstance,
      ...event,
      regarding: current,
    });
    if (!this.#recordsHistory) return;
    await this.#history
      ?.record({ at: new Date().toISOString(), by: actor ?? this.#reportingInstance, reason: null, what: entry.note, outside: false })
      .catch((error: unknown) => this.#log.warn({ err: (error as Error).message }, 'could not record the entry in the history'));
  }

  /**
   * The changes recorded as Events on the ConfigMap by the admin tier and the plugin, newest
   * first, with a change made outside them (kubectl edit, GitOps) on top while it stands, named
   * by its field manager. Events expire (an hour by default): the history is that long at most.
   */
  async history(): Promise<HistoryEntry[]> {
    // Who may not read the history (an operator with rights on the switch alone) gets the Events.
    const readable = (error: unknown) => {
      if (error instanceof KubernetesApiError && error.status === 403) return null;
      throw error;
    };
    const [recorded, current] = await Promise.all([this.#history?.entries().catch(readable) ?? null, this.read()]);
    // An empty history (an admin that has recorded nothing yet) says less than the Events do.
    if (recorded !== null && recorded.length > 0) {
      // A change made outside that the admin has not recorded yet stands now: on top.
      const outside = current.audit.outside;
      const pending = outside && !recorded.some((entry) => entry.outside && entry.at === (outside.time ?? ''));
      return [...(pending ? [outsideEntry(outside)] : []), ...recorded].slice(0, HISTORY_LENGTH);
    }
    return this.#eventHistory(current);
  }

  /** Without the history ConfigMap (an install from before it): the Events, which expire. */
  async #eventHistory(current: StoredConfig): Promise<HistoryEntry[]> {
    const events = await listConfigMapEvents(this.#clients, this.#ref);
    const ours = events
      .filter((event) => event.reportingController?.startsWith(`${ANNOTATION_PREFIX}/`))
      .map((event): HistoryEntry => {
        const annotations = event.metadata?.annotations ?? {};
        const at = event.eventTime ?? event.metadata?.creationTimestamp;
        return {
          at: at ? new Date(at as unknown as string).toISOString() : '',
          by: annotations[ANNOTATIONS.changedBy] ?? event.reportingInstance ?? 'unknown',
          reason: annotations[ANNOTATIONS.reason] ?? null,
          what: annotations[ANNOTATIONS.what] ?? event.note ?? event.reason ?? '',
          outside: false,
        };
      });
    ours.sort((a, b) => b.at.localeCompare(a.at));
    // A change made outside stands now, so it is the newest, whatever its (whole-second) time says.
    const outside = current.audit.outside;
    return (outside ? [outsideEntry(outside), ...ours] : ours).slice(0, HISTORY_LENGTH);
  }

  #translate(error: unknown): unknown {
    if (!(error instanceof KubernetesApiError)) return error;
    if (error.status === 409) return new VersionConflictError(error.message);
    if (error.status === 404) return new ConfigNotFoundError(`ConfigMap ${this.#ref.namespace}/${this.#ref.name} not found`);
    return error;
  }
}

function outsideEntry(outside: { manager: string | null; time: string | null }): HistoryEntry {
  return {
    at: outside.time ?? '',
    by: outside.manager ?? 'someone outside the tools',
    reason: null,
    what: 'changed the maintenance keys outside the panel and plugin',
    outside: true,
  };
}

/** The field manager that last changed one of the maintenance keys, from managedFields. */
function lastMaintenanceWriter(configMap: V1ConfigMap): { manager: string | null; time: string | null } | null {
  const keys = Object.values(CONFIG_KEYS) as string[];
  let last: { manager: string | null; time: string | null } | null = null;
  for (const entry of configMap.metadata?.managedFields ?? []) {
    const data = (entry.fieldsV1 as { 'f:data'?: Record<string, unknown> } | undefined)?.['f:data'] ?? {};
    if (!keys.some((key) => `f:${key}` in data)) continue;
    const time = entry.time ? new Date(entry.time).toISOString() : null;
    // managedFields times have whole seconds: on a tie, a writer other than ours is the later one
    // (ours records a fingerprint, and the data no longer matches it).
    const later =
      last === null || (time ?? '') > (last.time ?? '') || ((time ?? '') === (last.time ?? '') && !OUR_MANAGERS.has(entry.manager ?? ''));
    if (later) last = { manager: entry.manager ?? null, time };
  }
  return last;
}

/** The switch as the writers see it: its data, version, and who changed it last (outside the tools, too). */
export function storedConfig(configMap: V1ConfigMap): StoredConfig {
  const annotations = configMap.metadata?.annotations ?? {};
  const data = configMap.data ?? {};
  // The fingerprint decides when there is one; else the last writer of a maintenance key.
  const hash = annotations[ANNOTATIONS.dataHash];
  const last = lastMaintenanceWriter(configMap);
  const outside = hash !== undefined ? hash !== dataHash(data) : last !== null && !OUR_MANAGERS.has(last.manager ?? '');
  const audit: Audit = {
    changedBy: annotations[ANNOTATIONS.changedBy] ?? null,
    changedAt: annotations[ANNOTATIONS.changedAt] ?? null,
    reason: annotations[ANNOTATIONS.reason] ?? null,
    outside: outside ? (last !== null && !OUR_MANAGERS.has(last.manager ?? '') ? last : { manager: null, time: null }) : null,
  };
  return {
    data,
    version: configMap.metadata?.resourceVersion ?? '',
    audit,
    readOnlyRefused: annotations[ANNOTATIONS.readOnly] === 'enforced' ? null : READ_ONLY_NOT_ENFORCED,
  };
}
