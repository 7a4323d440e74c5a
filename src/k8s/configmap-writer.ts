import type { V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  ConfigNotFoundError,
  VersionConflictError,
  type Audit,
  type ConfigChange,
  type ConfigWriter,
  type StoredConfig,
} from '../config/writer.ts';
import { CONFIG_KEYS } from '../config/parse.ts';
import { apiMessage, apiStatus, kubernetes } from './client.ts';

/** Our annotations on the ConfigMap, under a domain prefix of ours. */
export const ANNOTATION_PREFIX = 'maintenance-switch.dev';
export const ANNOTATIONS = {
  changedBy: `${ANNOTATION_PREFIX}/changed-by`,
  changedAt: `${ANNOTATION_PREFIX}/changed-at`,
  reason: `${ANNOTATION_PREFIX}/reason`,
} as const;

export const EVENT_REPORTER = 'maintenance-switch';

/**
 * Patches the ConfigMap with this pod's own service account, using a JSON merge patch. When an
 * expected resourceVersion is given it goes into the patch, so the API server refuses a stale
 * write with 409 Conflict and nothing is written. Each write also records an Event.
 */
export class ConfigMapWriter implements ConfigWriter {
  readonly target: string;
  readonly #namespace: string;
  readonly #name: string;
  readonly #reportingInstance: string;
  readonly #log: Logger;

  constructor(options: { namespace: string; name: string; reportingInstance: string }, log: Logger) {
    this.#namespace = options.namespace;
    this.#name = options.name;
    this.#reportingInstance = options.reportingInstance;
    this.target = `configmap ${options.namespace}/${options.name}`;
    this.#log = log;
  }

  async read(): Promise<StoredConfig> {
    const { core } = await kubernetes();
    try {
      return stored(await core.readNamespacedConfigMap({ name: this.#name, namespace: this.#namespace }));
    } catch (error) {
      throw this.#translate(error);
    }
  }

  async write(change: ConfigChange): Promise<StoredConfig> {
    const { core, lib } = await kubernetes();
    const patch = {
      metadata: {
        ...(change.expectedVersion !== undefined ? { resourceVersion: change.expectedVersion } : {}),
        annotations: {
          [ANNOTATIONS.changedBy]: change.actor,
          [ANNOTATIONS.changedAt]: new Date().toISOString(),
          [ANNOTATIONS.reason]: change.reason,
        },
      },
      data: change.data,
    };
    let updated: V1ConfigMap;
    try {
      updated = await core.patchNamespacedConfigMap(
        { name: this.#name, namespace: this.#namespace, body: patch },
        lib.setHeaderOptions('Content-Type', lib.PatchStrategy.MergePatch),
      );
    } catch (error) {
      throw this.#translate(error);
    }
    const result = stored(updated);
    await this.#recordEvent(result, change);
    return result;
  }

  /** An events.k8s.io/v1 Event about the ConfigMap; a failure to record it does not undo the change. */
  async #recordEvent(config: StoredConfig, change: ConfigChange): Promise<void> {
    const { events, lib } = await kubernetes();
    const enabled = change.data[CONFIG_KEYS.mode] === 'true';
    try {
      await events.createNamespacedEvent({
        namespace: this.#namespace,
        body: {
          metadata: { generateName: `${this.#name}-`, namespace: this.#namespace },
          // MicroTime: the API server wants six fractional digits, which a plain Date lacks.
          eventTime: new lib.V1MicroTime(),
          reportingController: `${ANNOTATION_PREFIX}/${EVENT_REPORTER}`,
          reportingInstance: this.#reportingInstance,
          action: 'Toggle',
          reason: enabled ? 'MaintenanceEnabled' : 'MaintenanceDisabled',
          type: 'Normal',
          note: truncate(`${change.actor} turned maintenance ${enabled ? 'on' : 'off'}: ${change.reason}`, 1024),
          regarding: {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            name: this.#name,
            namespace: this.#namespace,
            ...(config.uid ? { uid: config.uid } : {}),
            resourceVersion: config.version,
          },
        },
      });
    } catch (error) {
      this.#log.warn({ error: apiMessage(error), status: apiStatus(error) }, 'could not record an Event for the change');
    }
  }

  #translate(error: unknown): Error {
    const status = apiStatus(error);
    if (status === 409) return new VersionConflictError(apiMessage(error));
    if (status === 404) return new ConfigNotFoundError(`ConfigMap ${this.#namespace}/${this.#name} not found`);
    return new Error(`${this.target}: ${status ? `HTTP ${status}: ` : ''}${apiMessage(error)}`, { cause: error });
  }
}

function stored(configMap: V1ConfigMap): StoredConfig {
  const annotations = configMap.metadata?.annotations ?? {};
  const audit: Audit = {
    changedBy: annotations[ANNOTATIONS.changedBy] ?? null,
    changedAt: annotations[ANNOTATIONS.changedAt] ?? null,
    reason: annotations[ANNOTATIONS.reason] ?? null,
  };
  return {
    data: configMap.data ?? {},
    version: configMap.metadata?.resourceVersion ?? '',
    audit,
    uid: configMap.metadata?.uid ?? null,
  };
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
