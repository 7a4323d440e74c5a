import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ConfigMapWriter } from '../../config/configmap-writer.ts';
import { DirectoryWriter, type ConfigWriter } from '../../config/writer.ts';
import { reviewOwnAccess } from '../../k8s/access-review.ts';
import { kubernetes } from '../../k8s/client.ts';
import { TrustedProxies, type ForwardingHeader } from '../client-address.ts';
import { createAdminApp, type AdminApp } from './app.ts';
import type { BypassLinkSettings } from './bypass-links.ts';
import type { LiveState } from './live.ts';
import { CachedAuth, kubernetesAuth, noAuth, tokenFileAuth, type AdminAuth } from './auth.ts';

export interface Admin {
  app: AdminApp;
  /** Why the admin role cannot serve right now (it then fails readiness), or null. */
  problem(): string | null;
  close(): void;
}

/** What the admin role is told at start-up (roles/admin.ts maps the environment onto it). */
export interface AdminSettings {
  auth: { mode: 'kubernetes' } | { mode: 'token'; file: string } | { mode: 'none' };
  writer: { to: 'configmap' } | { to: 'directory'; dir: string };
  namespace: string;
  configMapName: string;
  /** The install's history ConfigMap (`<app>-maintenance-history`); null: the history is the Events alone. */
  historyConfigMapName: string | null;
  podName: string;
  trustedProxyCidrs: readonly string[];
  trustedProxyHeader: ForwardingHeader;
  maxBodyBytes: number;
  authAttemptsPerMinute: number;
  bypassLinks: BypassLinkSettings;
  live: LiveState;
}

/** The admin panel as configured: who may use it, and where it writes. */
export async function createAdmin(settings: AdminSettings, log: Logger, registry: Registry): Promise<Admin> {
  const auth = new CachedAuth(await adminAuth(settings, log));
  const writer = await configWriter(settings, log);
  // Every change of the switch this admin sees goes into the history, whoever made it.
  const recordChange = () => void writer.recordChange?.();
  const stopRecording = settings.live.onChange((what) => what === 'state' && recordChange());
  recordChange();
  const app = createAdminApp({
    auth,
    writer,
    log,
    registry,
    trustedProxies: new TrustedProxies(settings.trustedProxyCidrs, settings.trustedProxyHeader),
    maxBodyBytes: settings.maxBodyBytes,
    authAttemptsPerMinute: settings.authAttemptsPerMinute,
    bypassLinks: settings.bypassLinks,
    live: settings.live,
  });
  return {
    app,
    problem: () => auth.problem(),
    close: () => {
      stopRecording();
      app.closeStreams();
      auth.close();
    },
  };
}

async function adminAuth({ auth, namespace, configMapName }: AdminSettings, log: Logger): Promise<AdminAuth> {
  switch (auth.mode) {
    case 'kubernetes': {
      const clients = await kubernetes();
      return kubernetesAuth((token) => reviewOwnAccess(clients, token, { namespace, name: configMapName }));
    }
    case 'token':
      return tokenFileAuth(auth.file, (error) =>
        log.error({ err: error }, 'cannot read the admin token file; not ready until it can be read'),
      );
    case 'none':
      return noAuth();
  }
}

async function configWriter(
  { writer, namespace, configMapName, historyConfigMapName, podName }: AdminSettings,
  log: Logger,
): Promise<ConfigWriter> {
  if (writer.to === 'directory') return new DirectoryWriter(writer.dir);
  const history = historyConfigMapName === null ? null : { namespace, name: historyConfigMapName };
  return new ConfigMapWriter(await kubernetes(), { namespace, name: configMapName, reportingInstance: podName, history }, log);
}
