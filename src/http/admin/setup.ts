import type { Hono } from 'hono';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Env } from '../../env.ts';
import { ConfigMapWriter } from '../../config/configmap-writer.ts';
import { DirectoryWriter, type ConfigWriter } from '../../config/writer.ts';
import { kubernetes } from '../../k8s/client.ts';
import { TrustedProxies } from '../client-address.ts';
import { createAdminApp, type AdminEnv } from './app.ts';
import { CachedAuth, kubernetesAuth, noAuth, tokenFileAuth, type AdminAuth } from './auth.ts';

export interface Admin {
  app: Hono<AdminEnv>;
  /** Why the admin role cannot serve right now (it then fails readiness), or null. */
  problem(): string | null;
  close(): void;
}

/** The admin panel as the environment configures it: who may use it, and where it writes. */
export async function createAdmin(env: Env, log: Logger, registry: Registry): Promise<Admin> {
  const auth = new CachedAuth(await adminAuth(env, log));
  const app = createAdminApp({
    auth,
    writer: await configWriter(env, log),
    log,
    registry,
    trustedProxies: new TrustedProxies(env.TRUSTED_PROXY_CIDRS),
    maxBodyBytes: env.ADMIN_MAX_BODY_BYTES,
    authAttemptsPerMinute: env.ADMIN_AUTH_ATTEMPTS_PER_MINUTE,
  });
  return { app, problem: () => auth.problem(), close: () => auth.close() };
}

async function adminAuth(env: Env, log: Logger): Promise<AdminAuth> {
  switch (env.ADMIN_AUTH) {
    case 'kubernetes':
      return kubernetesAuth(await kubernetes(), env.POD_NAMESPACE, env.CONFIGMAP_NAME);
    case 'token':
      return tokenFileAuth(env.ADMIN_TOKEN_FILE!, (error) => log.error({ err: error }, 'cannot read the admin token file; not ready until it can be read'));
    case 'none':
      return noAuth();
  }
}

async function configWriter(env: Env, log: Logger): Promise<ConfigWriter> {
  return env.CONFIG_WRITER === 'directory'
    ? new DirectoryWriter(env.CONFIG_DIR)
    : new ConfigMapWriter(await kubernetes(), { namespace: env.POD_NAMESPACE, name: env.CONFIGMAP_NAME, reportingInstance: env.POD_NAME }, log);
}
