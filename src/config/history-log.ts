import { randomBytes } from 'node:crypto';
import { KubernetesApiError, type KubeClients } from '../k8s/client.ts';
import { mergePatchConfigMap, readConfigMap, type ConfigMapRef } from '../k8s/configmaps.ts';
import { CONFIG_KEYS, dataHash, type RawConfig } from './parse.ts';
import { describeDifference, type HistoryEntry, type StoredConfig } from './writer.ts';

/** How many changes the history ConfigMap keeps: the oldest go first. */
export const HISTORY_KEPT = 100;
const FIELD_MANAGER = 'maintenance-switch-history';
/** The key that holds the switch's data as last recorded, to tell what the next change changed. */
const LAST_KEY = 'last';

interface Recorded {
  entries: { key: string; entry: HistoryEntry }[];
  last: { version: string; hash: string; data: RawConfig } | null;
}

/** The longest `by` and `reason` an entry keeps: annotations anyone who may patch the switch writes. */
const MAX_BY = 256;
const MAX_REASON = 500;
const cut = (text: string | null, max: number) => (text === null || text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** Sorts as time does: `20261207T052330123Z.<suffix>`, from an ISO time. */
function entryKey(at: string, suffix: string): string {
  const compact = (Number.isNaN(Date.parse(at)) ? new Date(0) : new Date(at)).toISOString().replace(/[-:.]/g, '');
  return `${compact}.${suffix.replace(/[^-._a-zA-Z0-9]/g, '-')}`;
}

/**
 * The install's history, kept in its own ConfigMap (`<app>-maintenance-history`), which outlives
 * Events and restarts: one key per change, at most HISTORY_KEPT. The admin records every change
 * of the switch it sees, whoever made it (the panel and API, the plugin, `kubectl edit`), so
 * only the admin (and who may already change the install) writes here.
 */
export class HistoryLog {
  readonly #clients: KubeClients;
  readonly #ref: ConfigMapRef;
  /** The data this process last found recorded: the same again needs no read of the history. */
  #lastHash: string | null = null;

  constructor(clients: KubeClients, ref: ConfigMapRef) {
    this.#clients = clients;
    this.#ref = ref;
  }

  get target(): string {
    return `ConfigMap ${this.#ref.namespace}/${this.#ref.name}`;
  }

  /** The recorded changes, newest first; null when the ConfigMap does not exist (an older install). */
  async entries(): Promise<HistoryEntry[] | null> {
    const recorded = await this.#read();
    return recorded === null ? null : recorded.entries.map(({ entry }) => entry);
  }

  /**
   * Records the switch as `stored` now, if its data changed since the last record: who and why
   * from its annotations, or the field manager for a change made outside the tools. The same
   * version recorded twice (two admin replicas) writes the same key with the same value.
   */
  async recordSwitch(stored: StoredConfig): Promise<boolean> {
    const hash = dataHash(stored.data);
    if (this.#lastHash === hash) return false;
    const recorded = await this.#read();
    if (recorded === null) return false;
    if (recorded.last?.hash === hash) {
      this.#lastHash = hash;
      return false;
    }
    const outside = stored.audit.outside;
    const entry: HistoryEntry = outside
      ? {
          at: outside.time ?? new Date().toISOString(),
          by: cut(outside.manager, MAX_BY) ?? 'someone outside the tools',
          reason: null,
          what: describeDifference(recorded.last?.data ?? null, stored.data),
          outside: true,
        }
      : {
          at: Number.isNaN(Date.parse(stored.audit.changedAt ?? '')) ? new Date().toISOString() : stored.audit.changedAt!,
          by: cut(stored.audit.changedBy, MAX_BY) ?? 'unknown',
          reason: cut(stored.audit.reason, MAX_REASON),
          what: describeDifference(recorded.last?.data ?? null, stored.data),
          outside: false,
        };
    const kept = Object.fromEntries(Object.entries(stored.data).filter(([key]) => (Object.values(CONFIG_KEYS) as string[]).includes(key)));
    // A change made outside has a whole-second time (managedFields'): it is still the latest.
    const newest = recorded.entries[0]?.entry.at;
    const keyTime =
      outside && newest !== undefined && Date.parse(newest) >= Date.parse(entry.at)
        ? new Date(Date.parse(newest) + 1).toISOString()
        : entry.at;
    await this.#write(
      recorded,
      { [entryKey(keyTime, stored.version)]: JSON.stringify(entry) },
      {
        [LAST_KEY]: JSON.stringify({ version: stored.version, hash, data: kept }),
      },
    );
    this.#lastHash = hash;
    return true;
  }

  /** Records something done about the switch that is not a change of it (a bypass link issued). */
  async record(entry: HistoryEntry): Promise<void> {
    const recorded = await this.#read();
    if (recorded === null) return;
    await this.#write(recorded, { [entryKey(entry.at, randomBytes(4).toString('hex'))]: JSON.stringify(entry) }, {});
  }

  async #read(): Promise<Recorded | null> {
    let data: Record<string, string>;
    try {
      data = (await readConfigMap(this.#clients, this.#ref)).data ?? {};
    } catch (error) {
      if (error instanceof KubernetesApiError && error.status === 404) return null;
      throw error;
    }
    const entries = Object.entries(data)
      .filter(([key]) => key !== LAST_KEY)
      .flatMap(([key, value]) => {
        try {
          return [{ key, entry: JSON.parse(value) as HistoryEntry }];
        } catch {
          return [];
        }
      })
      .sort((a, b) => b.key.localeCompare(a.key));
    let last: Recorded['last'] = null;
    try {
      last = data[LAST_KEY] ? (JSON.parse(data[LAST_KEY]) as Recorded['last']) : null;
    } catch {
      last = null;
    }
    return { entries, last };
  }

  /** Adds entries (and other keys), and drops the oldest past HISTORY_KEPT, in one merge patch. */
  async #write(recorded: Recorded, added: Record<string, string>, other: Record<string, string>): Promise<void> {
    const keys = [...new Set([...Object.keys(added), ...recorded.entries.map(({ key }) => key)])].sort().reverse();
    const dropped = Object.fromEntries(keys.slice(HISTORY_KEPT).map((key) => [key, null]));
    await mergePatchConfigMap(this.#clients, this.#ref, { data: { ...dropped, ...added, ...other } }, FIELD_MANAGER);
  }
}
