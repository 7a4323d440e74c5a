import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { port } from '../env.ts';

/** Local mode's settings: where its ConfigMap directory is, and the two instances' ports. */
export interface LocalSettings {
  configDir: string;
  userPort: number;
  adminPort: number;
}

const localPort = port.pipe(z.number().min(1, 'must be a port number from 1 to 65535'));
const schema = z.object({
  LOCAL_CONFIG_DIR: z.string().trim().min(1).default('.local/app-config'),
  PORT: localPort.default(8080),
  ADMIN_PORT: localPort.optional(),
});

/** `PORT` is the user instance's, as for the service itself; `ADMIN_PORT` defaults to the next one. */
export function localSettings(env: NodeJS.ProcessEnv = process.env): LocalSettings {
  const input = Object.fromEntries(Object.keys(schema.shape).map((key) => [key, env[key] || undefined]));
  const result = schema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = String(issue.path[0]);
    throw new Error(`${name}=${JSON.stringify(env[name])} ${issue.message}`);
  }
  const { LOCAL_CONFIG_DIR, PORT, ADMIN_PORT } = result.data;
  if (ADMIN_PORT === PORT)
    throw new Error(`ADMIN_PORT=${JSON.stringify(env.ADMIN_PORT)} must differ from PORT (${PORT}), the user instance's port`);
  return { configDir: resolve(LOCAL_CONFIG_DIR), userPort: PORT, adminPort: ADMIN_PORT ?? PORT + 1 };
}

/** Where `npm start` records the ports its instances listen on, beside the config directory. */
const instancesFile = (configDir: string) => `${configDir.replace(/\/+$/, '')}.instances.json`;

export interface Instances {
  userPort: number;
  adminPort: number;
  /** The supervisor's pid: a record whose process is gone is stale. */
  pid: number;
}

export function writeInstances(configDir: string, instances: Instances): void {
  writeFileSync(instancesFile(configDir), `${JSON.stringify(instances)}\n`);
}

export function removeInstances(configDir: string): void {
  rmSync(instancesFile(configDir), { force: true });
}

/** What the running `npm start` recorded, or null when none runs for this directory. */
export function readInstances(configDir: string): Instances | null {
  try {
    const recorded = JSON.parse(readFileSync(instancesFile(configDir), 'utf8')) as Instances;
    process.kill(recorded.pid, 0);
    return recorded;
  } catch {
    return null;
  }
}
