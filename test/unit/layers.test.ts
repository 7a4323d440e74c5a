import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layering rule, read from the code itself (as knative's nodep_test.go does): data flows
 * one way, from where the state comes from to the HTTP surface, and no module reaches back up.
 * A file may import its own layer or a lower one; two layers of the same rank never import
 * each other; and no chain of imports comes back to where it started.
 */
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** The layer of a file under src/, and its rank: lower ranks never import higher ones. */
const LAYERS: { layer: string; rank: number; owns: (path: string) => boolean }[] = [
  {
    layer: 'leaf',
    rank: 0,
    owns: (path) => !path.includes('/') && ['clock.ts', 'role-names.ts', 'cidr.ts', 'one-pass-at-a-time.ts'].includes(path),
  },
  { layer: 'k8s', rank: 1, owns: (path) => path.startsWith('k8s/') },
  { layer: 'config', rank: 2, owns: (path) => path.startsWith('config/') },
  { layer: 'maintenance', rank: 3, owns: (path) => path.startsWith('maintenance/') },
  { layer: 'fleet', rank: 3, owns: (path) => path.startsWith('fleet/') },
  { layer: 'http', rank: 4, owns: (path) => path.startsWith('http/') },
  {
    layer: 'wiring',
    rank: 5,
    owns: (path) => path.startsWith('cli/') || path.startsWith('roles/') || ['main.ts', 'server.ts', 'env.ts'].includes(path),
  },
];

function layerOf(path: string) {
  const found = LAYERS.find((candidate) => candidate.owns(path));
  if (!found) throw new Error(`src/${path} belongs to no layer: add it to LAYERS in this test, or move it`);
  return found;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import of a file (static, type-only and dynamic), as paths under src/. */
export function importsOf(file: string, text = readFileSync(file, 'utf8')): string[] {
  const specifiers = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm)].map((match) => match[1]!);
  return specifiers.map((specifier) => relative(SRC, resolve(dirname(file), specifier)));
}

const graph = new Map(sources(SRC).map((file) => [relative(SRC, file), importsOf(file)]));

/** The layering violations of a graph: imports that run up, or across layers of one rank. */
export function violations(edges: ReadonlyMap<string, readonly string[]>): string[] {
  const found: string[] = [];
  for (const [from, targets] of edges) {
    const source = layerOf(from);
    for (const to of targets) {
      const target = layerOf(to);
      if (target.layer === source.layer) continue;
      if (target.rank >= source.rank)
        found.push(`src/${from} (${source.layer}) imports src/${to} (${target.layer}), which is not below it`);
    }
  }
  return found;
}

/** Files beside config/ and maintenance/state.ts that import the store (roles/core.ts only builds it). */
export function storeReaders(edges: ReadonlyMap<string, readonly string[]>): string[] {
  const allowed = (file: string) => file.startsWith('config/') || file === 'maintenance/state.ts' || file === 'roles/core.ts';
  return [...edges].filter(([from, targets]) => !allowed(from) && targets.includes('config/store.ts')).map(([from]) => `src/${from}`);
}

/** Lines that decide rather than wire: a `let`, or a filter. */
function decisionsOf(name: string, text: string): string[] {
  return text
    .split('\n')
    .map((line, index) => ({ line: line.trim(), number: index + 1 }))
    .filter(({ line }) => /^let\s|\slet\s|\.filter\(/.test(line) && !line.startsWith('//') && !line.startsWith('*'))
    .map(({ line, number }) => `${name}:${number}: ${line}`);
}

function decisionsIn(dir: string): string[] {
  return sources(dir).flatMap((file) => decisionsOf(relative(SRC, file), readFileSync(file, 'utf8')));
}

/** Every import cycle, as the chain of files that closes it. */
export function cycles(edges: ReadonlyMap<string, readonly string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      found.push([...path.slice(path.indexOf(file)), file].join(' -> '));
      return;
    }
    state.set(file, 'open');
    for (const next of edges.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of edges.keys()) visit(file, []);
  return found;
}

describe('the layers of src/', () => {
  it('reads the imports of every source file', () => {
    expect(graph.size).toBeGreaterThan(40);
    expect(graph.get('roles/gate.ts')).toContain('http/gate.ts');
    for (const [file, targets] of graph)
      for (const target of targets) expect(graph.has(target), `src/${file} imports a missing src/${target}`).toBe(true);
  });

  it('has no import that runs up the layers or across layers of one rank', () => {
    expect(violations(graph)).toEqual([]);
  });

  it('has no import cycle', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('keeps tooling (scripts/, bench/) and src/ from importing anything under test/', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const offenders = ['scripts', 'bench', 'src'].flatMap((dir) =>
      sources(join(root, dir)).flatMap((file) =>
        importsOf(file)
          .map((target) => relative(root, resolve(SRC, target)))
          .filter((target) => target.startsWith('test/'))
          .map((target) => `${relative(root, file)} imports ${target}`),
      ),
    );
    expect(offenders).toEqual([]);
  });

  it('reads the store only in config/ and maintenance/state.ts (roles/core.ts builds it): everything else reads the state', () => {
    expect(storeReaders(graph)).toEqual([]);
    expect(storeReaders(new Map([['http/app.ts', ['config/store.ts']]]))).toEqual(['src/http/app.ts']);
  });

  it('keeps src/roles/ to wiring: no `let`, no filtering (decisions live in the layers below)', () => {
    expect(decisionsIn(join(SRC, 'roles'))).toEqual([]);
    expect(decisionsOf('x.ts', 'let first = true;\nconst pods = all.filter((pod) => pod.ready);')).toEqual([
      'x.ts:1: let first = true;',
      'x.ts:2: const pods = all.filter((pod) => pod.ready);',
    ]);
  });

  it('catches a violation and a cycle when there is one (the rule can fail)', () => {
    const broken = new Map<string, string[]>([
      ['config/store.ts', ['http/app.ts']],
      ['http/app.ts', ['config/store.ts']],
      ['maintenance/state.ts', ['fleet/fleet.ts']],
      ['fleet/fleet.ts', []],
    ]);
    expect(violations(broken)).toEqual([
      'src/config/store.ts (config) imports src/http/app.ts (http), which is not below it',
      'src/maintenance/state.ts (maintenance) imports src/fleet/fleet.ts (fleet), which is not below it',
    ]);
    expect(cycles(broken)).toEqual(['config/store.ts -> http/app.ts -> config/store.ts']);
    expect(importsOf(join(SRC, 'x/y.ts'), "import type { A } from '../config/parse.ts';\nconst m = await import('./z.ts');")).toEqual([
      'config/parse.ts',
      'x/z.ts',
    ]);
  });
});
