import { randomInt } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, rename, rm, stat, symlink, unlink, writeFile, chmod } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { isErrno } from './errno.ts';
import { sameConfig, type RawConfig } from './parse.ts';

/**
 * The on-disk layout of a ConfigMap volume, as the kubelet's AtomicWriter
 * (kubernetes/kubernetes pkg/volume/util/atomic_writer.go) lays it out:
 *
 *   ..2026_11_27_10_00_00.123456789/KEY   the real files
 *   ..data -> ..2026_11_27_10_00_00.123456789
 *   KEY -> ..data/KEY                      one visible symlink per key
 */
export const DATA_DIR_NAME = '..data';
const DATA_DIR_TMP_NAME = '..data_tmp';
const DEFAULT_FILE_MODE = 0o644;

export type VolumeRead = { kind: 'missing' } | { kind: 'empty' } | { kind: 'snapshot'; data: RawConfig; layout: 'kubelet' | 'plain' };

/**
 * Reads the whole payload in one go. With a kubelet layout the keys are read
 * from the directory `..data` points at, so a swap in progress can never yield a
 * mix of old and new keys. A directory without `..data` is read as plain files,
 * which is how local and development setups write it.
 */
export async function readVolume(dir: string, options: { handWritten?: 'refuse' | 'ignore' } = {}): Promise<VolumeRead> {
  // The kubelet removes the old timestamped directory right after the swap; a read
  // that raced it fails with ENOENT and simply looks again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await readVolumeOnce(dir, options.handWritten ?? 'refuse');
    } catch (error) {
      if (!isErrno(error, 'ENOENT') || attempt >= 5) throw error;
    }
  }
}

async function readVolumeOnce(dir: string, handWritten: 'refuse' | 'ignore'): Promise<VolumeRead> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) return { kind: 'missing' };
    throw error;
  }
  if (entries.includes(DATA_DIR_NAME)) {
    if (handWritten === 'refuse') await refuseReplacedKeys(dir, entries);
    const payloadDir = join(dir, await readlink(join(dir, DATA_DIR_NAME)));
    return { kind: 'snapshot', data: await readKeyFiles(payloadDir), layout: 'kubelet' };
  }
  const data = await readKeyFiles(dir);
  return Object.keys(data).length === 0 ? { kind: 'empty' } : { kind: 'snapshot', data, layout: 'plain' };
}

/**
 * Beside `..data`, every key is the kubelet's link into it. A key that is a file of its own was
 * written by hand over its link (`sed -i`, an editor that saves by rename): what it says is not
 * in `..data`, which is all that is followed, so the directory is refused, saying how to change it.
 */
async function refuseReplacedKeys(dir: string, entries: readonly string[]): Promise<void> {
  for (const name of entries) {
    if (name.startsWith('.')) continue;
    // Gone since the listing: a swap removed it, which is no hand edit.
    const entry = await lstat(join(dir, name)).catch((error: unknown) => {
      if (isErrno(error, 'ENOENT')) return null;
      throw error;
    });
    if (entry !== null && !entry.isSymbolicLink())
      throw new VolumeContentError(
        `${name} is a file written over the link into ${DATA_DIR_NAME}, which is all that is followed: change the config with the tools (npm run maintenance, the panel, kubectl), which write a new ${DATA_DIR_NAME}`,
      );
  }
}

/**
 * A ConfigMap holds at most 1 MiB in all, keys and values: a volume holding more is not one the
 * kubelet wrote, and is refused before it is read whole.
 */
const MAX_VOLUME_BYTES = 1024 * 1024;

export class VolumeContentError extends Error {
  override readonly name = 'VolumeContentError';
}

/** Every key, one after the other, within MAX_VOLUME_BYTES in all. */
async function readKeyFiles(dir: string): Promise<Record<string, string>> {
  const names = (await readdir(dir)).filter((name) => !name.startsWith('.')).sort();
  const data: Record<string, string> = {};
  let left = MAX_VOLUME_BYTES;
  for (const name of names) {
    left -= Buffer.byteLength(name);
    const value = await readKeyBytes(dir, name, Math.max(0, left));
    left -= value.length;
    data[name] = value.toString('utf8');
  }
  return data;
}

/**
 * One key's bytes exactly as the kubelet wrote them (a Secret's key may be binary), through
 * its visible symlink; the file is one write of the kubelet, so it is never half-swapped. It
 * must be a regular file of at most `maxBytes`: it is opened non-blocking and checked on the
 * open handle, so a FIFO or a device can never stall the reader, and nothing can be swapped
 * in between the check and the read.
 */
export async function readKeyBytes(dir: string, name: string, maxBytes = MAX_VOLUME_BYTES): Promise<Buffer> {
  const handle = await open(join(dir, name), constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new VolumeContentError(`key ${name} is not a regular file (${describeKind(info)})`);
    if (info.size > maxBytes)
      throw new VolumeContentError(
        `the keys add up to more than 1 MiB at key ${name} (${info.size} bytes), more than a ConfigMap can hold`,
      );
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

function describeKind(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'not a file';
}

export type WriteStep =
  | 'create-timestamped-dir'
  | 'write-files'
  | 'symlink-data-tmp'
  | 'rename-data'
  | 'update-visible-symlinks'
  | 'remove-old-dir';

export interface AtomicWriteOptions {
  /** Called after each step of the sequence; tests use it to observe the intermediate states. */
  afterStep?: (step: WriteStep) => void | Promise<void>;
  now?: () => Date;
}

/**
 * Writes a payload exactly as the kubelet's AtomicWriter does, step by step.
 * Returns false when the payload is unchanged, in which case nothing is rewritten.
 */
export async function writeVolumeAtomically(dir: string, payload: RawConfig, options: AtomicWriteOptions = {}): Promise<boolean> {
  const afterStep = options.afterStep ?? (() => {});
  await makeDirectory(dir);

  // Content that cannot be read (a volume no kubelet would write) is replaced all the same.
  const current = await readVolume(dir).catch((error: unknown) => {
    if (error instanceof VolumeContentError) return null;
    throw error;
  });
  const oldDataTarget = (await readdir(dir)).includes(DATA_DIR_NAME) ? await readlink(join(dir, DATA_DIR_NAME)) : null;
  const oldKeys = oldDataTarget === null ? [] : (await readdir(join(dir, oldDataTarget))).filter((name) => !name.startsWith('.'));
  if (current?.kind === 'snapshot' && current.layout === 'kubelet' && sameConfig(current.data, payload)) return false;

  const timestampedName = await makeTimestampedDir(dir, (options.now ?? (() => new Date()))());
  await afterStep('create-timestamped-dir');

  const keys = Object.keys(payload);
  for (const key of keys) {
    await writeFile(join(dir, timestampedName, key), payload[key] ?? '');
  }
  for (const key of keys) {
    await chmod(join(dir, timestampedName, key), DEFAULT_FILE_MODE);
  }
  await afterStep('write-files');

  await symlink(timestampedName, join(dir, DATA_DIR_TMP_NAME));
  await afterStep('symlink-data-tmp');
  await rename(join(dir, DATA_DIR_TMP_NAME), join(dir, DATA_DIR_NAME));
  await afterStep('rename-data');

  // Files written by hand over or beside the links (refused on read) go: the new `..data` is what counts.
  if (current === null && oldDataTarget !== null) {
    for (const name of await readdir(dir)) {
      if (!name.startsWith('.') && !(await lstat(join(dir, name))).isSymbolicLink())
        await rm(join(dir, name), { recursive: true, force: true });
    }
  }
  for (const key of keys) {
    if (!oldKeys.includes(key) || current === null) await symlinkIfMissing(join(DATA_DIR_NAME, key), join(dir, key));
  }
  for (const key of oldKeys) {
    if (!(key in payload)) await unlink(join(dir, key)).catch(ignoreMissing);
  }
  await afterStep('update-visible-symlinks');

  if (oldDataTarget !== null) await rm(join(dir, oldDataTarget), { recursive: true, force: true });
  await afterStep('remove-old-dir');
  return true;
}

/** `os.MkdirTemp(dir, "..2006_01_02_15_04_05.")`: the UTC timestamp plus a random suffix. */
async function makeTimestampedDir(dir: string, now: Date): Promise<string> {
  const pad = (value: number) => String(value).padStart(2, '0');
  const stamp = `..${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}_${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}.`;
  for (;;) {
    const name = `${stamp}${randomInt(1_000_000_000)}`;
    try {
      await mkdir(join(dir, name), { mode: 0o755 });
      return name;
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) throw error;
    }
  }
}

function ignoreMissing(error: unknown): void {
  if (!isErrno(error, 'ENOENT')) throw error;
}

async function symlinkIfMissing(target: string, path: string): Promise<void> {
  await symlink(target, path).catch((error: unknown) => {
    if (!isErrno(error, 'EEXIST')) throw error;
  });
}

/**
 * `mkdir -p`, one level at a time, so each refusal is one error naming its path: Node's
 * recursive mkdir spins forever where a parent refuses with ENOENT (under /proc).
 */
async function makeDirectory(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let path = resolve(dir); ; path = dirname(path)) {
    const found = await stat(path).catch((error: unknown) => {
      if (isErrno(error, 'ENOENT')) return null;
      throw error;
    });
    if (found !== null) {
      if (!found.isDirectory()) throw Object.assign(new Error(`${path} is not a directory`), { code: 'ENOTDIR' });
      break;
    }
    missing.unshift(path);
    if (dirname(path) === path) break;
  }
  for (const path of missing) {
    await mkdir(path).catch((error: unknown) => {
      if (!isErrno(error, 'EEXIST')) throw error;
    });
  }
}
