import { resolve } from 'node:path';

/** Where local mode keeps its ConfigMap directory, laid out as the kubelet lays it out. */
export function localConfigDir(): string {
  return resolve(process.env.LOCAL_CONFIG_DIR ?? '.local/app-config');
}

export const LOCAL_USER_PORT = Number(process.env.LOCAL_USER_PORT ?? 8080);
export const LOCAL_ADMIN_PORT = Number(process.env.LOCAL_ADMIN_PORT ?? 8081);
