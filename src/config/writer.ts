import { readFile, readlink, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from './errno.ts';
import { DATA_DIR_NAME, readVolume, writeVolumeAtomically } from './kubelet-volume.ts';
import { CONFIG_KEYS, parseConfig, type ConfigIssue, type MaintenanceConfig, type RawConfig } from './parse.ts';

/** Who changed the config last, when and why; kept as annotations on the ConfigMap. */
export interface Audit {
  changedBy: string | null;
  changedAt: string | null;
  reason: string | null;
  /**
   * Set when the maintenance keys were changed by something other than the panel, the API and
   * the plugin (kubectl edit, kubectl patch, a GitOps tool): who/why above are then out of date.
   * The field manager and time come from managedFields; the person is in the cluster's audit log.
   */
  outside?: { manager: string | null; time: string | null } | null;
}

export interface StoredConfig {
  data: RawConfig;
  /** The ConfigMap's resourceVersion; for a directory, the name of the payload `..data` points at. */
  version: string;
  audit: Audit;
  /**
   * Why read-only mode cannot be set here (its pods would not enforce it), or null: only an install
   * whose every request passes through a gate or the user role can refuse writes.
   */
  readOnlyRefused: string | null;
}

export interface ConfigChange {
  /** Keys to set; null removes a key. */
  data: Record<string, string | null>;
  /** When given, the write only happens if the stored version still equals it. */
  expectedVersion?: string;
  actor: string;
  reason: string;
}

/** A change as updateConfig() hands it to a writer: checked against one version, with the whole data it makes. */
export interface ConfigWrite extends ConfigChange {
  expectedVersion: string;
  /** The whole data after the change, validated, for the fingerprint the writer records. */
  result: RawConfig;
  /** The whole data the change was made on, to say what it changed. */
  before: RawConfig;
}

export class VersionConflictError extends Error {
  override readonly name = 'VersionConflictError';
}

export class ConfigNotFoundError extends Error {
  override readonly name = 'ConfigNotFoundError';
}

/** The change would leave a config that does not parse; nothing was written. */
export class InvalidConfigChangeError extends Error {
  override readonly name = 'InvalidConfigChangeError';
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(`the resulting config would be invalid: ${issues.map(({ key, message }) => `${key}: ${message}`).join('; ')}`);
    this.issues = issues;
  }
}

/** The change sets read-only mode where nothing would enforce it; nothing was written. */
export class ReadOnlyNotEnforcedError extends Error {
  override readonly name = 'ReadOnlyNotEnforcedError';
}

/** The expected version is not one this writer could ever have issued. */
export class MalformedVersionError extends Error {
  override readonly name = 'MalformedVersionError';
}

/** One change in the history: who, when, why, and what it changed. */
export interface HistoryEntry {
  at: string;
  by: string;
  reason: string | null;
  what: string;
  /** Made outside the panel, the API and the plugin (kubectl edit, a GitOps tool): `by` is its field manager. */
  outside: boolean;
}

/** How many changes the history keeps and shows. */
export const HISTORY_LENGTH = 20;

/** What a change sets, in words: "switch on, message, window 2030-01-01T22:00:00Z → 2030-01-01T23:00:00Z". */
export function describeChange(data: Record<string, string | null>): string {
  const parts: string[] = [];
  const mode = data[CONFIG_KEYS.mode];
  const word = mode?.trim().toLowerCase();
  if (mode !== undefined) parts.push(`switch ${word === 'true' ? 'on' : word === 'read-only' ? 'read-only' : 'off'}`);
  if (CONFIG_KEYS.message in data) parts.push(data[CONFIG_KEYS.message] === null ? 'message cleared' : 'message set');
  if (CONFIG_KEYS.retryAfter in data)
    parts.push(data[CONFIG_KEYS.retryAfter] === null ? 'Retry-After cleared' : `Retry-After ${data[CONFIG_KEYS.retryAfter]} s`);
  if (CONFIG_KEYS.start in data || CONFIG_KEYS.end in data) {
    const start = data[CONFIG_KEYS.start];
    const end = data[CONFIG_KEYS.end];
    parts.push(start === null && end === null ? 'window cleared' : `window ${start ?? 'open'} → ${end ?? 'open'}`);
  }
  if (CONFIG_KEYS.allowPaths in data) parts.push(data[CONFIG_KEYS.allowPaths] === null ? 'allowed paths cleared' : 'allowed paths set');
  if (CONFIG_KEYS.pageHtml in data) parts.push(data[CONFIG_KEYS.pageHtml] === null ? 'page cleared' : 'page set');
  if (CONFIG_KEYS.graphqlPaths in data) parts.push(data[CONFIG_KEYS.graphqlPaths] === null ? 'GraphQL paths cleared' : 'GraphQL paths set');
  return parts.join(', ');
}

/**
 * What a change set, in words, from the data before and after: only what differs (the switch
 * too when nothing was recorded before), both ends of a window when either moved.
 */
export function describeDifference(before: RawConfig | null, after: RawConfig): string {
  const value = (data: RawConfig | null, key: string) => data?.[key] ?? null;
  const changed = (Object.values(CONFIG_KEYS) as string[]).filter((key) => value(before, key) !== value(after, key));
  if (before === null && !changed.includes(CONFIG_KEYS.mode)) changed.push(CONFIG_KEYS.mode);
  if (changed.includes(CONFIG_KEYS.start) || changed.includes(CONFIG_KEYS.end)) changed.push(CONFIG_KEYS.start, CONFIG_KEYS.end);
  return describeChange(Object.fromEntries(changed.map((key) => [key, value(after, key)]))) || 'nothing';
}

/** Where the admin role writes: the ConfigMap through the API, or a local directory. */
export interface ConfigWriter {
  /** A short description for logs and /status, such as "configmap sample-app/app-config". */
  readonly target: string;
  isWellFormedVersion(version: string): boolean;
  read(): Promise<StoredConfig>;
  /** Writes only if the stored version still equals `expectedVersion`. */
  write(change: ConfigWrite): Promise<StoredConfig>;
  /** Records something done about the config that is not a write (a bypass link issued): an Event, where there are Events. */
  audit?(entry: { action: string; reason: string; note: string; actor?: string }): Promise<void>;
  /** The latest changes, newest first, at most HISTORY_LENGTH. */
  history(): Promise<HistoryEntry[]>;
  /** Records the change seen now in a history that outlives this process, where there is one; never throws. */
  recordChange?(): Promise<void>;
}

/** Internal retries of a change that named no version, when someone else wrote in between. */
const MAX_ATTEMPTS = 5;

/**
 * Reads, merges, validates and writes as one step: the write carries the version that was
 * read, so if anyone wrote in between it fails with a conflict instead of storing a merge that
 * was never validated. A change that named its own expected version gets that conflict; one
 * that did not is merged again onto the newer config and validated again.
 */
export async function updateConfig(writer: ConfigWriter, change: ConfigChange): Promise<StoredConfig> {
  const expected = change.expectedVersion;
  if (expected !== undefined && !writer.isWellFormedVersion(expected)) {
    throw new MalformedVersionError(`${JSON.stringify(expected.slice(0, 40))} is not a version ${writer.target} could have`);
  }
  for (let attempt = 1; ; attempt++) {
    const current = await writer.read();
    if (expected !== undefined && expected !== current.version) {
      throw new VersionConflictError(`version ${expected} is stale, the current one is ${current.version}`);
    }
    const merged = applyChange(current.data, change.data);
    const parsed = parseConfig(merged);
    if (!parsed.ok) throw new InvalidConfigChangeError(parsed.issues);
    const windowProblem = windowEndsReadOnly(current.data, parsed.config, change.data);
    if (windowProblem !== null) throw new InvalidConfigChangeError([windowProblem]);
    // Only a change that asks for read-only is refused: one that leaves it as `kubectl edit` set it is not.
    if (parsed.config.readOnly && change.data[CONFIG_KEYS.mode] !== undefined && current.readOnlyRefused !== null)
      throw new ReadOnlyNotEnforcedError(current.readOnlyRefused);
    try {
      return await writer.write({ ...change, expectedVersion: current.version, result: merged, before: current.data });
    } catch (error) {
      if (!(error instanceof VersionConflictError) || expected !== undefined || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}

/**
 * A read-only switch with no window means read-only now; with a window, read-only inside it. So
 * a window added to it without setting the switch again would end read-only now: refused, in
 * every tool, rather than done by surprise.
 */
function windowEndsReadOnly(before: RawConfig, after: MaintenanceConfig, change: Record<string, string | null>): ConfigIssue | null {
  const previous = parseConfig(before);
  if (!previous.ok || !previous.config.readOnly || previous.config.windowStart !== null || previous.config.windowEnd !== null) return null;
  if (change[CONFIG_KEYS.mode] !== undefined || !after.readOnly || (after.windowStart === null && after.windowEnd === null)) return null;
  return {
    key: after.windowStart !== null ? CONFIG_KEYS.start : CONFIG_KEYS.end,
    message:
      'would make the read-only switch, which holds read-only now, hold it only inside the window: turn the switch off first, then schedule the window (read-only again keeps the window read-only)',
  };
}

/** The data after a change: keys set, and keys with null removed. */
export function applyChange(data: RawConfig, change: Record<string, string | null>): Record<string, string> {
  const next: Record<string, string> = { ...data };
  for (const [key, value] of Object.entries(change)) {
    if (value === null) delete next[key];
    else next[key] = value;
  }
  return next;
}

/**
 * Writes a local directory with the kubelet's own swap sequence, so local mode behaves as a
 * cluster does. The audit record lives beside the directory, as annotations live beside a
 * ConfigMap's data. Writes are serialised, so the version check and the write are one step.
 */
export class DirectoryWriter implements ConfigWriter {
  readonly target: string;
  readonly #dir: string;
  readonly #auditFile: string;
  readonly #historyFile: string;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(dir: string) {
    this.#dir = dir;
    this.#auditFile = `${dir.replace(/\/+$/, '')}.audit.json`;
    this.#historyFile = `${dir.replace(/\/+$/, '')}.history.json`;
    this.target = `directory ${dir}`;
  }

  isWellFormedVersion(version: string): boolean {
    return version === 'plain' || /^\.\.\d{4}(_\d{2}){5}\.\d+$/.test(version);
  }

  async read(): Promise<StoredConfig> {
    // What the instances follow, `..data`: a file written by hand over a link is not part of it,
    // and the next write puts the link back (the instances refuse the directory until then).
    const volume = await readVolume(this.#dir, { handWritten: 'ignore' });
    if (volume.kind !== 'snapshot') throw new ConfigNotFoundError(`${this.#dir} holds no config (${volume.kind})`);
    // Local mode's user instance answers every request itself, so it enforces read-only.
    return { data: volume.data, version: await this.#version(), audit: await this.#readAudit(), readOnlyRefused: null };
  }

  write(change: ConfigWrite): Promise<StoredConfig> {
    const result = this.#queue.then(async () => {
      const current = await this.read();
      if (change.expectedVersion !== current.version) {
        throw new VersionConflictError(
          `the config has been modified: version ${change.expectedVersion} is stale, the current one is ${current.version}`,
        );
      }
      // Merged again with what is there now: a plain directory (no `..data`) has no version to compare.
      await writeVolumeAtomically(this.#dir, applyChange(current.data, change.data));
      const audit: Audit = { changedBy: change.actor, changedAt: new Date().toISOString(), reason: change.reason };
      await writeFile(`${this.#auditFile}.tmp`, `${JSON.stringify(audit, null, 2)}\n`);
      await rename(`${this.#auditFile}.tmp`, this.#auditFile);
      const entry: HistoryEntry = {
        at: audit.changedAt!,
        by: change.actor,
        reason: change.reason,
        what: describeDifference(change.before, change.result),
        outside: false,
      };
      const history = [entry, ...(await this.history())].slice(0, HISTORY_LENGTH);
      await writeFile(`${this.#historyFile}.tmp`, `${JSON.stringify(history, null, 2)}\n`);
      await rename(`${this.#historyFile}.tmp`, this.#historyFile);
      return this.read();
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Local mode's history, kept beside the directory as the audit record is. */
  async history(): Promise<HistoryEntry[]> {
    try {
      const parsed = JSON.parse(await readFile(this.#historyFile, 'utf8')) as unknown;
      return Array.isArray(parsed) ? (parsed as HistoryEntry[]).slice(0, HISTORY_LENGTH) : [];
    } catch (error) {
      if (isErrno(error, 'ENOENT') || error instanceof SyntaxError) return [];
      throw error;
    }
  }

  async #version(): Promise<string> {
    try {
      return await readlink(join(this.#dir, DATA_DIR_NAME));
    } catch (error) {
      if (isErrno(error, 'ENOENT') || isErrno(error, 'EINVAL')) return 'plain';
      throw error;
    }
  }

  async #readAudit(): Promise<Audit> {
    try {
      const parsed = JSON.parse(await readFile(this.#auditFile, 'utf8')) as Partial<Audit>;
      return { changedBy: parsed.changedBy ?? null, changedAt: parsed.changedAt ?? null, reason: parsed.reason ?? null };
    } catch (error) {
      if (isErrno(error, 'ENOENT') || error instanceof SyntaxError) return { changedBy: null, changedAt: null, reason: null };
      throw error;
    }
  }
}
