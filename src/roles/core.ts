import { effectiveMode } from '../maintenance/policy.ts';
import type { Logger } from 'pino';
import type { Env } from '../env.ts';
import type { Clock } from '../clock.ts';
import { CidrList } from '../cidr.ts';
import { ApiSource } from '../config/api-source.ts';
import { BypassKey } from '../config/bypass-key.ts';
import { describeConfig } from '../config/parse.ts';
import { chooseSource, type ConfigSource } from '../config/source.ts';
import { ConfigStore } from '../config/store.ts';
import { VolumeSource } from '../config/volume-source.ts';
import { FleetWatch } from '../fleet/fleet-watch.ts';
import { configMapInformer } from '../k8s/configmaps.ts';
import { hasKubernetesCredentials, kubernetes } from '../k8s/client.ts';
import { endpointSliceInformer } from '../k8s/endpointslices.ts';
import { MaintenanceState } from '../maintenance/state.ts';
import type { Lifecycle } from '../http/app.ts';
import { Bypass } from '../http/bypass.ts';
import { TrustedProxies } from '../http/client-address.ts';
import { createMetrics, type Metrics } from '../http/metrics.ts';
import { onStop, type Part } from './parts.ts';

/** What every role runs: the switch from its source to its decision, metrics, and the bypass key. */
export interface Core {
  env: Env;
  log: Logger;
  clock: Clock;
  source: ConfigSource;
  state: MaintenanceState;
  metrics: Metrics;
  lifecycle: Lifecycle;
  /** Every role reads it: the admin role signs links with it, the others verify them. */
  bypassKey: BypassKey;
  proxies: TrustedProxies;
  /** Started before the role's own parts, stopped after them. */
  parts: Part[];
}

export async function createCore(env: Env, log: Logger, clock: Clock): Promise<Core> {
  const source = await createSource(env, log, clock);
  const store = new ConfigStore(() => new Date(clock.now()));
  source.observe(store.observer);
  store.subscribe((event) => {
    if (event.type === 'applied') log.info({ config: describeConfig(event.config) }, 'config applied');
    else if (event.cause === 'invalid') log.error({ error: event.detail }, 'config rejected, keeping the last good state');
  });
  // A gate that users do not pass through cannot refuse their writes, nor can pods with no
  // container of ours: read-only is held as maintenance there.
  const failsClosed = (env.ROLE === 'gate' && env.GATE_TRAFFIC !== 'all') || (env.ROLE === 'page' && env.GATE_MODE === 'readiness-gate');
  const state = new MaintenanceState(store, clock, failsClosed ? 'fail-closed' : 'enforced');
  state.onChange((view, previous) => {
    if (view.active !== previous.active || view.readOnly !== previous.readOnly) {
      const mode = effectiveMode(view);
      log.info({ maintenance: mode, cause: view.cause, failedClosed: view.failedClosed }, `maintenance ${mode}`);
    }
  });
  const metrics = createMetrics(state);
  const bypassKey = new BypassKey(env.BYPASS_KEY_DIR, clock, log);
  return {
    env,
    log,
    clock,
    source,
    state,
    metrics,
    lifecycle: { shuttingDown: false },
    bypassKey,
    proxies: new TrustedProxies(env.TRUSTED_PROXY_CIDRS, env.TRUSTED_PROXY_HEADER),
    parts: [onStop(() => metrics.close()), onStop(() => state.close()), source, bypassKey],
  };
}

async function createSource(env: Env, log: Logger, clock: Clock): Promise<ConfigSource> {
  if (chooseSource(env) === 'volume') return new VolumeSource(env.CONFIG_DIR, log);
  const clients = await kubernetes();
  const ref = { namespace: env.POD_NAMESPACE, name: env.CONFIGMAP_NAME };
  return new ApiSource({ ...ref, clock, informer: () => configMapInformer(clients, ref) }, log);
}

/** Who may see the application during maintenance: the user, page and gate roles verify bypass links. */
export function bypassFor(core: Core): Bypass {
  const { env } = core;
  return new Bypass({
    key: () => core.bypassKey.current,
    networks: new CidrList(env.MAINTENANCE_BYPASS_CIDRS),
    proxies: core.proxies,
    secureCookie: env.BYPASS_COOKIE_SECURE,
    clock: core.clock,
    registry: core.metrics.registry,
  });
}

/**
 * The user Service's EndpointSlices, which the admin role (for the fleet view) and the page
 * role (for its readiness) follow when there are Kubernetes credentials and FLEET_SERVICE is
 * not `none`.
 */
export async function fleetWatchFor(core: Core): Promise<FleetWatch | null> {
  const { env } = core;
  if (env.FLEET_SERVICE === 'none' || !hasKubernetesCredentials()) return null;
  const clients = await kubernetes();
  return new FleetWatch(
    {
      service: env.FLEET_SERVICE,
      clock: core.clock,
      informer: () => endpointSliceInformer(clients, env.POD_NAMESPACE, env.FLEET_SERVICE),
    },
    core.log,
  );
}
