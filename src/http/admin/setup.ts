import type { Hono } from 'hono';
import type { Logger } from 'pino';
import type { Env } from '../../env.ts';
import { DirectoryWriter, type ConfigWriter } from '../../config/writer.ts';
import { ConfigMapWriter } from '../../k8s/configmap-writer.ts';
import { createAdminApp } from './app.ts';
import { kubernetesAuth, noAuth, tokenFileAuth, type AdminAuth } from './auth.ts';

/** The admin panel as the environment configures it: who may use it, and where it writes. */
export function createAdmin(env: Env, log: Logger): Hono {
  return createAdminApp({ auth: adminAuth(env), writer: configWriter(env, log), log });
}

function adminAuth(env: Env): AdminAuth {
  switch (env.ADMIN_AUTH) {
    case 'kubernetes':
      return kubernetesAuth(env.POD_NAMESPACE, env.CONFIGMAP_NAME);
    case 'token':
      return tokenFileAuth(env.ADMIN_TOKEN_FILE!);
    case 'none':
      return noAuth();
  }
}

function configWriter(env: Env, log: Logger): ConfigWriter {
  return env.CONFIG_WRITER === 'directory'
    ? new DirectoryWriter(env.CONFIG_DIR)
    : new ConfigMapWriter({ namespace: env.POD_NAMESPACE, name: env.CONFIGMAP_NAME, reportingInstance: env.POD_NAME }, log);
}
