import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { COMMANDS, HELP } from '../../src/cli/args.ts';
import { envSchema } from '../../src/env.ts';

// The README and docs/ must match the code: every file they name exists, every npm script and
// every command of the plugin and the local CLI that they show is one that exists.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((name) => `docs/${name}`)];
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const texts = DOCS.map((path) => ({ path, text: read(path) }));

/** Paths inside the repository, as the docs write them in backticks: `kustomize/base`, `src/env.ts`. */
const REPO_PATH = /`((?:\.\/)?(?:src|test|scripts|bin|kustomize|k8s|examples|docs|bench|assets|\.ci|\.github)\/[^`\s]*)`/g;
const PLUGIN_COMMANDS: readonly string[] = COMMANDS;
const LOCAL_COMMANDS: readonly string[] = COMMANDS.filter((command) => command !== 'bypass-link');
/** Read outside src/env.ts: by the local mode, the CLI and the test harness. */
const EXTRA_VARIABLES = ['LOCAL_CONFIG_DIR', 'LOCAL_USER_PORT', 'LOCAL_ADMIN_PORT', 'NODE_OPTIONS', 'KUBECONFIG'];

// One program: the plugin and the local CLI share their help.
const pluginHelp = HELP;
const localHelp = HELP;
const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts);

function* matches(pattern: RegExp) {
  for (const { path, text } of texts) for (const match of text.matchAll(pattern)) yield { path, match };
}

describe('the README and docs/', () => {
  it('name only files and folders that exist', () => {
    const missing: string[] = [];
    for (const { path, match } of matches(REPO_PATH)) {
      const named = match[1]!.replace(/[.,:;)]+$/, '').replace(/:\d+(-\d+)?$/, '');
      if (/[<>*{}]|\.\.\./.test(named)) continue; // a pattern, not a path
      if (!existsSync(join(ROOT, named))) missing.push(`${path}: ${named}`);
    }
    expect(missing).toEqual([]);
  });

  it('name only components and overlays that exist, when they shorten kustomize/', () => {
    const missing = [...matches(/`((?:components|overlays)\/[a-z-]+)`/g)]
      .map(({ path, match }) => [path, match[1]!] as const)
      .filter(([, named]) => !existsSync(join(ROOT, 'kustomize', named)));
    expect(missing).toEqual([]);
  });

  it('document every environment variable, and only those', () => {
    const environment = read('docs/configuration.md').split('## ConfigMap keys')[0]!;
    const table = [...environment.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((match) => match[1]!);
    const known = Object.keys(envSchema.shape);
    expect(
      known.filter((name) => !table.includes(name)),
      'missing from docs/configuration.md',
    ).toEqual([]);
    expect(
      table.filter((name) => !known.includes(name) && !EXTRA_VARIABLES.includes(name)),
      'documented, but unknown',
    ).toEqual([]);
  });

  it('link only to files that exist', () => {
    const missing: string[] = [];
    for (const { path, match } of matches(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!;
      if (/^(https?:|mailto:|#)/.test(target)) continue;
      const file = join(ROOT, dirname(path), target.split('#')[0]!);
      if (!existsSync(file)) missing.push(`${path}: ${target} (${relative(ROOT, file)})`);
    }
    expect(missing).toEqual([]);
  });

  it('show only npm scripts that exist', () => {
    const unknown = [...matches(/npm run ([a-z][\w:-]*)/g)]
      .map(({ path, match }) => [path, match[1]!] as const)
      .filter(([, script]) => !scripts.includes(script));
    expect(unknown).toEqual([]);
  });

  it('show only commands and options of kubectl maintenance that it has', () => {
    const wrong: string[] = [];
    for (const { path, match } of matches(/kubectl maintenance ([a-z-]+)([^\n`|]*)/g)) {
      const [, command, rest] = match;
      if (!PLUGIN_COMMANDS.includes(command!)) wrong.push(`${path}: kubectl maintenance ${command}`);
      for (const option of rest!.matchAll(/(?:^|\s)(--[a-z-]+)/g))
        if (!new RegExp(`\\s${option[1]}[\\s=|)]`).test(pluginHelp)) wrong.push(`${path}: kubectl maintenance ${command} ${option[1]}`);
    }
    expect(wrong).toEqual([]);
  });

  it('show only commands and options of the local CLI that it has', () => {
    const wrong: string[] = [];
    for (const { path, match } of matches(/npm run maintenance -- ([a-z|-]+)([^\n`]*)/g)) {
      for (const command of match[1]!.split('|'))
        if (command !== '' && !LOCAL_COMMANDS.includes(command)) wrong.push(`${path}: npm run maintenance -- ${command}`);
      for (const option of match[2]!.matchAll(/(?:^|\s)(--[a-z-]+)/g))
        if (!localHelp.includes(`  ${option[1]} `)) wrong.push(`${path}: npm run maintenance -- ${option[1]}`);
    }
    expect(wrong).toEqual([]);
  });

  it('keep the README short', () => {
    expect(read('README.md').length).toBeLessThan(14_000);
  });

  it("give the install's admin exactly the rights its Roles hold, in the README's table", () => {
    // Each rule of the admin's Roles (the base, and the components'), as the row says it: a
    // component's rules in a clause that names the component.
    const rules = [
      { path: 'kustomize/base/rbac.yaml', component: null },
      { path: 'kustomize/components/nudge/rbac.yaml', component: 'components/nudge' },
      { path: 'kustomize/components/readiness-gate/rbac.yaml', component: 'components/readiness-gate' },
    ].flatMap(({ path, component }) =>
      read(path)
        .split(/^---$/m)
        .filter((document) => /^kind: Role$/m.test(document) && /name: APP-maintenance-(admin|nudge|serving)$/m.test(document))
        .flatMap((role) =>
          [...role.matchAll(/resources: \["([a-z/]+)"\](?:\s+resourceNames: \["([^"]+)"\])?\s+verbs: \[([^\]]+)\]/g)].map((match) => ({
            resource: match[2] ?? match[1]!,
            component,
            verbs: match[3]!.split(',').map((verb) => verb.trim().replaceAll('"', '')),
          })),
        ),
    );
    expect(rules.length).toBeGreaterThanOrEqual(11);
    const WORDS: Record<string, string> = {
      'APP-maintenance': 'its switch',
      'APP-maintenance-hold': '`<app>-maintenance-hold`',
      'APP-maintenance-history': '`<app>-maintenance-history`',
      events: 'Events',
      endpointslices: 'EndpointSlices',
      deployments: 'Deployments',
      horizontalpodautoscalers: 'HPAs',
      scaledobjects: 'ScaledObjects',
      pods: 'pods',
      'pods/status': 'pods/status',
    };
    const row = /^\| the install's admin \| ([^|]+) \|/m.exec(read('README.md'))?.[1] ?? '';
    // "read" is get, list and watch; "get and patch X and Y" gives both the same verbs.
    const clauses = row.split(/; | and (?=get)/);
    const wrong = rules.flatMap(({ resource, component, verbs }) => {
      const word = WORDS[resource];
      const clause =
        word === undefined
          ? undefined
          : clauses.find(
              (candidate) =>
                candidate.includes(word) && (component === null ? !candidate.includes('components/') : candidate.includes(component)),
            );
      if (clause === undefined) return [`${resource}: not in the row`];
      const said = clause
        .replace(/\bread\b/, 'get, list, watch')
        .split(/,\s*|\s+and\s+|\s+/)
        .filter((verb) => /^(get|list|watch|patch|create)$/.test(verb));
      return [...new Set(said)].sort().join(',') === [...verbs].sort().join(',')
        ? []
        : [`${resource}: the row says ${said.join(',')}, the Role ${verbs}`];
    });
    expect(wrong).toEqual([]);
  });
});
