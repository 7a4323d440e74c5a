import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Env } from '../env.ts';
import { hasKubernetesCredentials } from '../k8s/client.ts';
import { ApiSource } from './api-source.ts';
import { ConfigStore, type SourceName } from './store.ts';
import { VolumeSource } from './volume-source.ts';

export interface ConfigSource {
  readonly name: SourceName;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Source-specific state for /status. */
  status(): Record<string, unknown>;
}

/**
 * `auto` follows the mounted volume when CONFIG_DIR exists, and the API otherwise. With no
 * credentials either, it waits for the directory, not-ready, saying so: that is a local run
 * whose directory has not been written yet.
 */
export function chooseSource(env: Pick<Env, 'CONFIG_SOURCE' | 'CONFIG_DIR'>, credentials = hasKubernetesCredentials()): SourceName {
  if (env.CONFIG_SOURCE !== 'auto') return env.CONFIG_SOURCE;
  return existsSync(env.CONFIG_DIR) || !credentials ? 'volume' : 'api';
}

export function createSource(env: Env, store: ConfigStore, log: Logger): ConfigSource {
  return store.source === 'volume'
    ? new VolumeSource(env.CONFIG_DIR, store, log)
    : new ApiSource({ namespace: env.POD_NAMESPACE, name: env.CONFIGMAP_NAME }, store, log);
}
