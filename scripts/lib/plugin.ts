import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** Where `npm run plugin` puts the executable for this machine: kubectl finds it there as a plugin, once on PATH. */
export const PLUGIN_DIR = fileURLToPath(new URL('../../dist/plugin', import.meta.url));

/** Builds the single executable from the sources as they are now, so no test runs a stale one. */
export async function buildPlugin(): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(new URL('../plugin/build.ts', import.meta.url))], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout.trim().split('\n').at(-1)!;
}
