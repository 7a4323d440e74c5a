import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RECIPE = join(ROOT, 'examples/your-app');

/** The inputs that examples/your-app/kustomization.yaml documents, and nothing else. */
export interface RecipeInputs {
  namespace: string;
  app: string;
  service?: string;
  port?: string;
  readinessPath?: string;
  image?: { newName: string; newTag: string };
  /** The user's own files, in place of the stand-in app.yaml. */
  appYaml?: string;
  /** The sidecar-free mode: components/readiness-gate in place of components/gate, the one line the docs say to change. */
  readinessGate?: boolean;
}

function setLine(text: string, pattern: RegExp, line: string): string {
  if (!pattern.test(text)) throw new Error(`examples/your-app/kustomization.yaml no longer has ${pattern}`);
  return text.replace(pattern, line);
}

/**
 * A copy of examples/your-app with only the documented inputs changed, as a user would make it.
 * It sits two folders below the repository, like the original, so its paths to the install stay
 * as they are.
 */
export function copyRecipe(id: string, inputs: RecipeInputs): string {
  const dir = join(ROOT, '.recipes', id);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(ROOT, '.recipes'), { recursive: true });
  cpSync(RECIPE, dir, { recursive: true });
  const file = join(dir, 'kustomization.yaml');
  let text = readFileSync(file, 'utf8');
  text = setLine(text, /^namespace: .*$/m, `namespace: ${inputs.namespace}`);
  text = setLine(text, /^( {6}- app=).*$/m, `$1${inputs.app}`);
  if (inputs.service !== undefined) text = setLine(text, /^( {6}- service=).*$/m, `$1${inputs.service}`);
  if (inputs.port !== undefined) text = setLine(text, /^( {6}- port=).*$/m, `$1${inputs.port}`);
  if (inputs.readinessPath !== undefined) text = setLine(text, /^( {6}- readinessPath=).*$/m, `$1${inputs.readinessPath}`);
  if (inputs.image) {
    text = setLine(text, /^( {4}newName: ).*$/m, `$1${inputs.image.newName}`);
    text = setLine(text, /^( {4}newTag: ).*$/m, `$1${inputs.image.newTag}`);
  }
  if (inputs.readinessGate) text = setLine(text, /^( {2}- \.\.\/\.\.\/kustomize\/components\/)gate$/m, '$1readiness-gate');
  writeFileSync(file, text);
  if (inputs.appYaml !== undefined) writeFileSync(join(dir, 'app.yaml'), inputs.appYaml);
  return dir;
}

/** Removes the copies whose ids start with `prefix`: test files may run side by side. */
export function removeRecipes(prefix: string): void {
  const dir = join(ROOT, '.recipes');
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) if (name.startsWith(prefix)) rmSync(join(dir, name), { recursive: true, force: true });
}
