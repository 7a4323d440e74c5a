// Builds `kubectl maintenance` into one native executable that needs no Node.js on the machine
// (Node's single executable applications): the CLI bundled into one CommonJS file, then
// injected into a copy of a Node.js 24 binary.
//   node scripts/plugin/build.ts                      this machine: dist/plugin/kubectl-maintenance
//   node scripts/plugin/build.ts --platform darwin-arm64 --node PATH
//                                                     another: dist/plugin/darwin-arm64/kubectl-maintenance,
//                                                     from that platform's node binary at PATH
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const ROOT = new URL('../../', import.meta.url).pathname;
const OUT = join(ROOT, 'dist/plugin');
const PLATFORMS = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'darwin-x64', 'win-x64'] as const;
type Platform = (typeof PLATFORMS)[number];
const HOST = `${process.platform === 'win32' ? 'win' : process.platform}-${process.arch}` as Platform;
// The fuse Node looks for to know it carries an application (the one its docs give).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const { values } = parseArgs({ options: { platform: { type: 'string' }, node: { type: 'string' } } });
const platform = (values.platform ?? HOST) as Platform;
if (!PLATFORMS.includes(platform)) throw new Error(`--platform must be one of ${PLATFORMS.join(', ')}, not ${platform}`);
if (platform !== HOST && values.node === undefined)
  throw new Error(`--platform ${platform} needs --node: that platform's Node.js 24 binary`);
const nodeBinary = values.node ?? process.execPath;
const dir = platform === HOST && values.platform === undefined ? OUT : join(OUT, platform);
const executable = join(dir, platform.startsWith('win') ? 'kubectl-maintenance.exe' : 'kubectl-maintenance');
mkdirSync(dir, { recursive: true });

const bundle = join(OUT, 'maintenance.cjs');
await build({
  entryPoints: [join(ROOT, 'src/cli/maintenance.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  legalComments: 'eof',
  minify: true,
  logLevel: 'warning',
});
const blob = join(OUT, 'maintenance.blob');
const seaConfig = join(OUT, 'sea-config.json');
// No code cache or snapshot: those tie the blob to the building machine's platform.
writeFileSync(seaConfig, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true }));
execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });

copyFileSync(nodeBinary, executable);
chmodSync(executable, 0o755);
const darwin = platform.startsWith('darwin');
if (darwin && process.platform === 'darwin') execFileSync('codesign', ['--remove-signature', executable]);
execFileSync(
  join(ROOT, 'node_modules/.bin/postject'),
  [executable, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE, ...(darwin ? ['--macho-segment-name', 'NODE_SEA'] : [])],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
if (darwin && process.platform === 'darwin') execFileSync('codesign', ['--sign', '-', executable]);
console.log(`${executable} (${(statSync(executable).size / 2 ** 20).toFixed(1)} MiB, ${platform})`);
