import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type {
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  EventsV1Api,
  AuthenticationV1Api,
  AuthorizationV1Api,
  KubeConfig,
  Watch,
} from '@kubernetes/client-node';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Whether `loadFromDefault()` has anything real to load. Without this check it falls back to an
 * unauthenticated http://localhost:8080, which only yields confusing errors later.
 */
export function hasKubernetesCredentials(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.KUBECONFIG) return true;
  if (existsSync(join(homedir(), '.kube', 'config'))) return true;
  return Boolean(env.KUBERNETES_SERVICE_HOST) && existsSync(SERVICE_ACCOUNT_TOKEN);
}

/** What the sources need of an informer: client-node's ListWatch, or a fake in tests. */
export interface Informer<T> {
  on(event: 'add' | 'update' | 'delete', callback: (object: T) => void): void;
  on(event: 'connect', callback: () => void): void;
  on(event: 'error', callback: (error: unknown) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface KubeClients {
  config: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  autoscaling: AutoscalingV2Api;
  custom: CustomObjectsApi;
  discovery: DiscoveryV1Api;
  events: EventsV1Api;
  authentication: AuthenticationV1Api;
  authorization: AuthorizationV1Api;
  watch: Watch;
  /** The library itself, for the few helpers the callers need (ListWatch, PatchStrategy, ...). */
  lib: typeof import('@kubernetes/client-node');
}

/** No kubeconfig and no service account: a one-line reason is all the operator needs. */
export class NoKubernetesCredentialsError extends Error {
  override readonly name = 'NoKubernetesCredentialsError';
  constructor() {
    super('no Kubernetes credentials: set KUBECONFIG, or run in a pod with a service account token');
  }
}

let clients: Promise<KubeClients> | null = null;

/**
 * Credentials come from `loadFromDefault()`: $KUBECONFIG, ~/.kube/config, then the in-cluster
 * service account. The library is loaded on first use only: a pod that follows the mounted
 * volume and never talks to the API does not pay for it in memory.
 */
export function kubernetes(): Promise<KubeClients> {
  clients ??= (async () => {
    if (!hasKubernetesCredentials()) {
      throw new NoKubernetesCredentialsError();
    }
    const lib = await import('@kubernetes/client-node');
    const config = new lib.KubeConfig();
    config.loadFromDefault();
    return clientsFor(config, lib);
  })();
  return clients;
}

/** The clients for one kubeconfig. */
export function clientsFor(config: KubeConfig, lib: typeof import('@kubernetes/client-node')): KubeClients {
  return {
    config,
    core: config.makeApiClient(lib.CoreV1Api),
    apps: config.makeApiClient(lib.AppsV1Api),
    autoscaling: config.makeApiClient(lib.AutoscalingV2Api),
    custom: config.makeApiClient(lib.CustomObjectsApi),
    discovery: config.makeApiClient(lib.DiscoveryV1Api),
    events: config.makeApiClient(lib.EventsV1Api),
    authentication: config.makeApiClient(lib.AuthenticationV1Api),
    authorization: config.makeApiClient(lib.AuthorizationV1Api),
    watch: new lib.Watch(config),
    lib,
  };
}

/** A call to the API server failed; `status` is its HTTP status when it answered at all. */
export class KubernetesApiError extends Error {
  override readonly name = 'KubernetesApiError';
  readonly status: number | undefined;
  constructor(what: string, error: unknown) {
    const status = apiStatus(error);
    super(`${what}: ${status ? `HTTP ${status}: ` : ''}${apiMessage(error)}`, { cause: error });
    this.status = status;
  }
}

/** The HTTP status of a failed API call, when the library reports one. */
export function apiStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const candidate = error as { code?: unknown; statusCode?: unknown };
  if (typeof candidate.code === 'number') return candidate.code;
  if (typeof candidate.statusCode === 'number') return candidate.statusCode;
  return undefined;
}

/** The API server's own message for a failed call (the Status object's `message`), else the error's. */
export function apiMessage(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'body' in error) {
    const body = (error as { body?: unknown }).body;
    try {
      const parsed = typeof body === 'string' ? (JSON.parse(body) as { message?: string }) : (body as { message?: string });
      if (parsed?.message) return parsed.message;
    } catch {
      // not JSON
    }
  }
  return error instanceof Error ? error.message : String(error);
}
