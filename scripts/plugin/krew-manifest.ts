// Writes the krew plugin manifest for a release: one platform entry per archive the release
// workflow attached, each with its download URL and sha256.
//   node scripts/plugin/krew-manifest.ts --version 0.1.0 --base-url URL DIR > kubectl-maintenance.yaml
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { version: { type: 'string' }, 'base-url': { type: 'string' } },
  allowPositionals: true,
});
const [dir] = positionals;
if (!values.version || !values['base-url'] || dir === undefined) throw new Error('usage: krew-manifest.ts --version V --base-url URL DIR');

/** Archive name → krew's os/arch, as the release workflow names the archives. */
const SELECTORS: Record<string, { os: string; arch: string; bin: string }> = {
  'linux-x64': { os: 'linux', arch: 'amd64', bin: 'kubectl-maintenance' },
  'linux-arm64': { os: 'linux', arch: 'arm64', bin: 'kubectl-maintenance' },
  'darwin-arm64': { os: 'darwin', arch: 'arm64', bin: 'kubectl-maintenance' },
  'win-x64': { os: 'windows', arch: 'amd64', bin: 'kubectl-maintenance.exe' },
};

const platforms = readdirSync(dir)
  .map((file) => ({ file, platform: /^kubectl-maintenance-(.+)\.(?:tar\.gz|zip)$/.exec(file)?.[1] }))
  .filter((entry): entry is { file: string; platform: string } => entry.platform !== undefined && entry.platform in SELECTORS)
  .sort((a, b) => a.platform.localeCompare(b.platform))
  .map(({ file, platform }) => {
    const { os, arch, bin } = SELECTORS[platform]!;
    const sha256 = createHash('sha256')
      .update(readFileSync(join(dir, file)))
      .digest('hex');
    return `  - selector:
      matchLabels:
        os: ${os}
        arch: ${arch}
    uri: ${values['base-url']!.replace(/\/+$/, '')}/${file}
    sha256: ${sha256}
    bin: ${bin}`;
  });
if (platforms.length === 0) throw new Error(`no kubectl-maintenance-<platform> archive in ${dir}`);

process.stdout.write(`apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: maintenance
spec:
  version: v${values.version}
  homepage: https://github.com/${process.env.GITHUB_REPOSITORY ?? 'OWNER/maintenance-switch'}
  shortDescription: Turn an app's maintenance mode on and off
  description: |
    Turns maintenance on or off for an app installed with maintenance-switch, schedules a
    window, shows what users get and whether every pod has followed, lists the history, and
    makes bypass links. Every change is made against the version it read and recorded with
    your name and reason.
  platforms:
${platforms.join('\n')}
`);
