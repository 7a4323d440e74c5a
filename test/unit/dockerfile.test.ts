import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// No Docker engine runs here, so the image is never built in CI; these are its invariants.
const root = new URL('../../', import.meta.url);
const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');
const instructions = dockerfile
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));
const stages = instructions
  .join('\n')
  .split(/^FROM /m)
  .slice(1)
  .map((stage) => `FROM ${stage}`);
const finalStage = stages.at(-1)!;
// Every Deployment takes its pod spec from this one file (the e2e walker checks the rendered ones).
const manifests = ['kustomize/base/pod-defaults.yaml'].map((path) => readFileSync(new URL(path, root), 'utf8'));

describe('the Dockerfile', () => {
  it('builds with the full Node 24 image and runs on a slim Node 24 image', () => {
    const bases = stages.map((stage) => /^FROM (\S+)/.exec(stage)![1]!);
    expect(bases.length).toBeGreaterThanOrEqual(2);
    for (const base of bases) expect(base).toMatch(/^node:24(\.\d+)*-/);
    expect(bases[0]).toMatch(/^node:24(\.\d+)*-bookworm$/);
    expect(bases.at(-1)).toMatch(/^node:24(\.\d+)*-bookworm-slim$/);
    expect(JSON.parse(readFileSync(new URL('package.json', root), 'utf8')).engines.node).toBe('>=24 <25');
  });

  it('installs only production dependencies into the runtime layer', () => {
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(finalStage).not.toMatch(/^RUN npm (ci|install)(?!.*--omit=dev)/m);
    expect(finalStage).toMatch(/COPY --from=runtime-deps \/app\/node_modules/);
  });

  it('runs as a numeric non-root user that matches the manifests', () => {
    const user = /^USER (\d+)(?::(\d+))?$/m.exec(finalStage);
    expect(user, 'USER must be numeric').not.toBeNull();
    expect(Number(user![1])).toBeGreaterThan(0);
    for (const manifest of manifests) {
      expect(manifest).toContain(`runAsUser: ${user![1]}`);
      expect(manifest).toContain('runAsNonRoot: true');
    }
  });

  it('starts dist/main.js with node, and exposes the port the manifests use', () => {
    expect(finalStage).toMatch(/^CMD \["node", "dist\/main\.js"\]$/m);
    expect(finalStage).not.toMatch(/^ENTRYPOINT/m);
    const exposed = /^EXPOSE (\d+)$/m.exec(finalStage)![1];
    for (const manifest of manifests) expect(manifest).toContain(`containerPort: ${exposed}`);
    expect(readFileSync(new URL('kustomize/base/admin.yaml', root), 'utf8')).toContain(`port: ${exposed}`);
  });

  it('ships what the runtime reads: dist, the panel assets and package.json (for "type": "module")', () => {
    expect(finalStage).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
    expect(finalStage).toMatch(/COPY assets \.\/assets/);
    expect(finalStage).toMatch(/COPY package\.json/);
  });

  it('has a .dockerignore that keeps local artefacts out of the context', () => {
    const ignored = readFileSync(new URL('.dockerignore', root), 'utf8').split('\n');
    for (const entry of ['node_modules', '.git', 'dist', '.local']) expect(ignored).toContain(entry);
    expect(ignored).not.toContain('assets');
    expect(ignored).not.toContain('src');
  });
});
