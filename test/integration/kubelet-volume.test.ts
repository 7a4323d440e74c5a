import { lstat, mkdir, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readVolume, writeVolumeAtomically, type VolumeRead, type WriteStep } from '../../src/config/kubelet-volume.ts';
import { makeTempDir } from '../helpers/test-server.ts';

const TIMESTAMPED = /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/;

describe('the kubelet AtomicWriter sequence', () => {
  it('lays out a first write as the kubelet does', async () => {
    const dir = join(await makeTempDir(), 'vol');
    expect(await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'hi' })).toBe(true);

    const entries = (await readdir(dir)).sort();
    const timestamped = entries.filter((name) => TIMESTAMPED.test(name));
    expect(timestamped).toHaveLength(1);
    expect(entries).toEqual(['..data', ...timestamped, 'MAINTENANCE_MESSAGE', 'MAINTENANCE_MODE'].sort());
    expect(await readlink(join(dir, '..data'))).toBe(timestamped[0]);
    expect(await readlink(join(dir, 'MAINTENANCE_MODE'))).toBe(join('..data', 'MAINTENANCE_MODE'));
    expect((await lstat(join(dir, 'MAINTENANCE_MODE'))).isSymbolicLink()).toBe(true);
    expect((await stat(join(dir, timestamped[0]!))).mode & 0o777).toBe(0o755);
    expect((await stat(join(dir, 'MAINTENANCE_MODE'))).mode & 0o777).toBe(0o644);
  });

  it('swaps in the documented order, and a reader never sees a mix of payloads', async () => {
    const dir = join(await makeTempDir(), 'vol');
    const before = { MAINTENANCE_MODE: 'false', OLD_KEY: 'old' };
    const after = { MAINTENANCE_MODE: 'true', NEW_KEY: 'new' };
    await writeVolumeAtomically(dir, before);
    const oldTarget = await readlink(join(dir, '..data'));

    const seen: { step: WriteStep; entries: string[]; dataTarget: string; read: VolumeRead }[] = [];
    await writeVolumeAtomically(dir, after, {
      afterStep: async (step) => {
        seen.push({
          step,
          entries: (await readdir(dir)).sort(),
          dataTarget: await readlink(join(dir, '..data')),
          read: await readVolume(dir),
        });
      },
    });

    expect(seen.map((s) => s.step)).toEqual([
      'create-timestamped-dir',
      'write-files',
      'symlink-data-tmp',
      'rename-data',
      'update-visible-symlinks',
      'remove-old-dir',
    ]);
    const byStep = Object.fromEntries(seen.map((s) => [s.step, s]));
    const newTarget = await readlink(join(dir, '..data'));
    expect(newTarget).not.toBe(oldTarget);

    expect(byStep['symlink-data-tmp']!.entries).toContain('..data_tmp');
    expect(byStep['symlink-data-tmp']!.dataTarget).toBe(oldTarget);
    expect(byStep['rename-data']!.entries).not.toContain('..data_tmp');
    expect(byStep['rename-data']!.dataTarget).toBe(newTarget);
    // New keys' symlinks come after the switch, removed keys' symlinks go then too.
    expect(byStep['rename-data']!.entries).toContain('OLD_KEY');
    expect(byStep['rename-data']!.entries).not.toContain('NEW_KEY');
    expect(byStep['rename-data']!.entries).toContain(oldTarget);
    expect(byStep['update-visible-symlinks']!.entries).toContain('NEW_KEY');
    expect(byStep['update-visible-symlinks']!.entries).not.toContain('OLD_KEY');
    expect(byStep['remove-old-dir']!.entries).not.toContain(oldTarget);

    for (const { step, read } of seen) {
      const expected = step === 'rename-data' || step === 'update-visible-symlinks' || step === 'remove-old-dir' ? after : before;
      expect(read, `read after ${step}`).toEqual({ kind: 'snapshot', layout: 'kubelet', data: expected });
    }
  });

  it('rewrites nothing when the payload is unchanged', async () => {
    const dir = join(await makeTempDir(), 'vol');
    await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'true' });
    const target = await readlink(join(dir, '..data'));
    expect(await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'true' })).toBe(false);
    expect(await readlink(join(dir, '..data'))).toBe(target);
  });
});

describe('readVolume', () => {
  it('tells a missing directory from an empty one', async () => {
    const root = await makeTempDir();
    expect(await readVolume(join(root, 'nope'))).toEqual({ kind: 'missing' });
    await mkdir(join(root, 'empty'));
    expect(await readVolume(join(root, 'empty'))).toEqual({ kind: 'empty' });
  });

  it('reads plain files, ignoring dot-files', async () => {
    const dir = await makeTempDir();
    await writeFile(join(dir, 'MAINTENANCE_MODE'), 'true');
    await writeFile(join(dir, '.swp'), 'junk');
    expect(await readVolume(dir)).toEqual({ kind: 'snapshot', layout: 'plain', data: { MAINTENANCE_MODE: 'true' } });
  });

  it('reads a ConfigMap with no keys as an empty snapshot, not as no snapshot', async () => {
    const dir = join(await makeTempDir(), 'vol');
    await writeVolumeAtomically(dir, {});
    expect(await readVolume(dir)).toEqual({ kind: 'snapshot', layout: 'kubelet', data: {} });
  });
});
