import type { Env } from '../env.ts';
import { join } from 'node:path';
import { BYPASS_KEY_NAME, BYPASS_MIN_KEY_BYTES, type BypassKey } from '../config/bypass-key.ts';
import { FleetWatch } from '../fleet/fleet-watch.ts';
import { DEFAULT_REPROBE_DELAYS_MS, DEFAULT_RETRY_DELAYS_MS, Nudger, nudgeTargets } from '../fleet/nudge.ts';
import { hasKubernetesCredentials, kubernetes } from '../k8s/client.ts';
import { endpointSliceInformer } from '../k8s/endpointslices.ts';
import { appPodInformer, podPatcher, servingWriter } from '../k8s/pods.ts';
import { AppPods } from '../fleet/app-pods.ts';
import {
  DEFAULT_HANDOFF_MS,
  DEFAULT_PAGE_WAIT_MS,
  DEFAULT_SERVING_RETRY_DELAYS_MS,
  ServingConditions,
  servingTarget,
} from '../fleet/serving.ts';
import { podsBehind, podsUnprobed } from '../fleet/pod-status.ts';
import { AutoscalingHold } from '../fleet/hold.ts';
import { autoscalerClient, autoscalerInformer, holdLedgerClient } from '../k8s/autoscalers.ts';
import { SupervisedWatch } from '../k8s/supervised-watch.ts';
import { FleetTracker, podsNotServing } from '../fleet/tracker.ts';
import type { Context } from 'hono';
import { noAdminHere, notReady, READY, type Surface } from '../http/app.ts';
import { liveState, type LiveState } from '../http/admin/live.ts';
import type { Admin, AdminSettings } from '../http/admin/setup.ts';
import { fleetMetrics, holdMetrics, nudgeMetrics, servingMetrics } from '../http/metrics.ts';
import { fleetWatchFor, type Core } from './core.ts';
import { onStop, part, subscriptions } from './parts.ts';
import { repeatEvery } from '../clock.ts';
import { FIELD_MANAGER } from '../config/configmap-writer.ts';
import { ClusterPartReport, CLUSTER_PART_ANNOTATION, type ClusterPartGuards, type GuardState } from '../fleet/guard.ts';
import { mergePatchConfigMap } from '../k8s/configmaps.ts';
import type { RoleSetup } from './role.ts';

/** How often the admin checks again that the nudge policy refuses any other pod change. */
const GUARD_INTERVAL_MS = 5 * 60_000;

/**
 * The admin role serves the panel and its API at /admin, and stays Ready whatever the switch
 * says, so the panel can always be reached to turn maintenance off. In a cluster it follows
 * the user Service's EndpointSlices, to show the fleet following the switch.
 */
export const admin: RoleSetup = async (core) => {
  const watch = await fleetWatchFor(core);
  const pods = await switchPodsWatchFor(core, watch);
  const tracker = watch ? fleetTracker(core, watch, pods === watch ? null : pods) : null;
  const nudge = await nudgeFor(core, pods, tracker?.tracker ?? null);
  const hold = await autoscalingHoldFor(core);
  const serving = await servingConditionsFor(core);
  const report = await clusterPartReportFor(
    core,
    {
      nudge: () => nudge?.nudger.status().guard ?? null,
      hold: () => hold?.hold.status().guard ?? null,
      serving: () => serving?.conditions.status().guard ?? null,
    },
    hold ? (listener) => hold.hold.onChange(listener) : null,
  );
  // Loaded by the admin role only: user pods do not carry the panel's code in memory.
  const { createAdmin } = await import('../http/admin/setup.ts');
  const panel = await createAdmin(
    adminSettings(
      core.env,
      core.bypassKey,
      liveState(core.state, tracker?.tracker ?? null, {
        nudge: () => nudge?.nudger.status() ?? null,
        serving: () => serving?.conditions.status() ?? null,
        autoscaling: hold ? { status: () => hold.hold.status(), onChange: (listener) => hold.hold.onChange(listener) } : null,
      }),
    ),
    core.log,
    core.metrics.registry,
  );
  return {
    parts: [
      ...(watch && tracker ? [tracker.follow, watch] : []),
      ...(pods && pods !== watch ? [pods] : []),
      ...(nudge?.parts ?? []),
      ...(hold?.parts ?? []),
      ...(serving?.parts ?? []),
      ...(report ? [report] : []),
      onStop(() => panel.close()),
    ],
    surface: adminSurface({
      admin: panel,
      ...(nudge ? { nudger: nudge.nudger } : {}),
      ...(hold ? { hold: hold.hold } : {}),
      ...(serving ? { serving: serving.conditions } : {}),
      ...(tracker ? { fleet: tracker.tracker } : {}),
    }),
  };
};

/**
 * The pods that mount the switch (NUDGE_SERVICE: your gated pods and the page pods; the user
 * Service when unset): whom the nudge patches, and, beside the user Service, which of its pods
 * carry no gate.
 */
async function switchPodsWatchFor(core: Core, fleet: FleetWatch | null): Promise<FleetWatch | null> {
  const { env } = core;
  if (env.CONFIG_WRITER !== 'api' || !hasKubernetesCredentials()) return null;
  const service = env.NUDGE_SERVICE === 'none' ? env.FLEET_SERVICE : env.NUDGE_SERVICE;
  if (service === 'none') return null;
  if (service === env.FLEET_SERVICE) return fleet;
  const clients = await kubernetes();
  return new FleetWatch(
    { service, clock: core.clock, informer: () => endpointSliceInformer(clients, env.POD_NAMESPACE, service) },
    core.log,
  );
}

/**
 * The nudge, in a cluster with NUDGE=on: the pods of NUDGE_SERVICE (every pod that mounts the
 * switch; FLEET_SERVICE when unset), nudged after each change the admin's own watch applies.
 */
async function nudgeFor(core: Core, switchPods: FleetWatch | null, tracker: FleetTracker | null) {
  const { env } = core;
  // Sidecar-free, no pod of the app mounts the switch, and the tiers follow the API: nothing to nudge.
  if (switchPods === null || env.GATE_MODE === 'readiness-gate') return null;
  // With NUDGE=off nothing is nudged, so no pods need watching; the nudger only says "off".
  const pods = env.NUDGE === 'off' ? null : switchPods;
  const endpoints = () => pods?.endpoints ?? [];
  const clients = await kubernetes();
  const nudger: Nudger = new Nudger({
    patcher: podPatcher(clients, env.POD_NAMESPACE),
    targets: () => nudgeTargets(endpoints(), env.POD_NAME),
    lagging: (names) =>
      podsBehind(names, { expected: core.state.current.config, endpoints: endpoints(), lagging: tracker?.view.lagging ?? [] }),
    unprobed: (names) =>
      podsUnprobed(names, { expected: core.state.current.config, endpoints: endpoints(), notServing: podsNotServing(tracker?.view) }),
    clock: core.clock,
    log: core.log,
    settings: {
      enabled: env.NUDGE === 'on',
      concurrency: env.NUDGE_CONCURRENCY,
      qps: env.NUDGE_QPS,
      retryDelaysMs: DEFAULT_RETRY_DELAYS_MS,
      reprobeDelaysMs: DEFAULT_REPROBE_DELAYS_MS,
      guardIntervalMs: GUARD_INTERVAL_MS,
    },
    events: nudgeMetrics(core.metrics.registry, () => nudger.status().guard.state === 'guarded'),
  });
  const follow = part(
    () =>
      nudger.start({
        onConfigApplied: (listener) => core.state.onConfig((event) => event.type === 'applied' && listener()),
        configKnown: () => core.state.current.config !== null,
        onPodsChange: (listener) => pods?.onChange(listener) ?? (() => {}),
      }),
    () => nudger.stop(),
  );
  return { nudger, parts: [follow] };
}

/**
 * The autoscaling hold, in a cluster with APP_NAME set: it looks at start (once the switch is
 * known), whenever maintenance starts or ends, whenever an HPA in the namespace changes (a
 * re-apply may have dropped the hold), and every 30 s.
 */
async function autoscalingHoldFor(core: Core) {
  const { env } = core;
  if (env.CONFIG_WRITER !== 'api' || !hasKubernetesCredentials() || env.APP_NAME === 'none') return null;
  const clients = await kubernetes();
  const hold = new AutoscalingHold({
    client: autoscalerClient(clients, env.POD_NAMESPACE),
    // The install names it after the app, as every object of its own.
    ledger: holdLedgerClient(clients, { namespace: env.POD_NAMESPACE, name: `${env.APP_NAME}-maintenance-hold` }),
    app: env.APP_NAME,
    enabled: env.AUTOSCALING_HOLD === 'on',
    ...(env.AUTOSCALING_HOLD_AFTER_SECONDS !== undefined ? { holdAfterMs: env.AUTOSCALING_HOLD_AFTER_SECONDS * 1000 } : {}),
    active: () => (core.state.current.config === null ? null : core.state.current.active),
    clock: core.clock,
    log: core.log,
  });
  holdMetrics(core.metrics.registry, () => hold.status());
  const follow = subscriptions(async () => {
    const { firstLook, stop } = hold.follow({
      onActiveChange: (listener) => core.state.onChange((view, previous) => view.active !== previous.active && listener()),
    });
    await firstLook;
    return [stop];
  });
  if (env.AUTOSCALING_HOLD === 'off') return { hold, parts: [follow] };
  const look = () => void hold.reconcile();
  const watch = new SupervisedWatch(
    {
      what: `the HorizontalPodAutoscalers in ${env.POD_NAMESPACE}`,
      informer: autoscalerInformer(clients, env.POD_NAMESPACE),
      clock: core.clock,
    },
    { add: look, update: look, delete: look, listed: look },
    core.log.child({ hold: true }),
  );
  return {
    hold,
    parts: [
      follow,
      part(
        () => watch.start(),
        () => watch.stop(),
      ),
    ],
  };
}

/**
 * The sidecar-free mode (GATE_MODE=readiness-gate): the admin follows the app's pods and sets
 * the condition maintenance-switch.dev/serving on each that carries the readiness gate.
 */
async function servingConditionsFor(core: Core) {
  const { env } = core;
  if (env.GATE_MODE !== 'readiness-gate' || !hasKubernetesCredentials() || env.APP_NAME === 'none') return null;
  const clients = await kubernetes();
  const pods = new AppPods(
    {
      what: `the pods of ${env.APP_NAME} in ${env.POD_NAMESPACE}`,
      informer: appPodInformer(clients, env.POD_NAMESPACE, env.APP_NAME),
      clock: core.clock,
    },
    core.log,
  );
  const conditions: ServingConditions = new ServingConditions({
    writer: servingWriter(clients, env.POD_NAMESPACE, () => core.clock.now()),
    self: env.POD_NAME,
    pods: () => (pods.synced ? pods.pods : []),
    target: () => servingTarget(core.state.current),
    clock: core.clock,
    log: core.log,
    settings: {
      concurrency: env.NUDGE_CONCURRENCY,
      qps: env.NUDGE_QPS,
      pageWaitMs: DEFAULT_PAGE_WAIT_MS,
      retryDelaysMs: DEFAULT_SERVING_RETRY_DELAYS_MS,
      handoffMs: DEFAULT_HANDOFF_MS,
      guardIntervalMs: GUARD_INTERVAL_MS,
    },
    events: servingMetrics(core.metrics.registry, () => conditions.status()),
  });
  const follow = part(
    () =>
      conditions.start({
        onTargetChange: (listener) => core.state.onChange(listener),
        onPodsChange: (listener) => pods.onChange(listener),
      }),
    () => conditions.stop(),
  );
  return { conditions, parts: [pods, follow] };
}

/** How often the switch's word on the cluster part is compared with the guards. */
const CLUSTER_PART_REPORT_MS = 30_000;

/**
 * Writes on the switch which of the cluster part's policies are missing, so `kubectl maintenance
 * status` can say it to an operator who may read nothing but the switch.
 */
async function clusterPartReportFor(
  core: Core,
  guards: { [K in keyof ClusterPartGuards]-?: () => GuardState | null },
  /** Told at once when the hold's guard changes; the others are compared every 30 s. */
  onHoldChange: ((listener: () => void) => () => void) | null,
) {
  const { env } = core;
  const current = (): ClusterPartGuards => ({ nudge: guards.nudge(), hold: guards.hold(), serving: guards.serving() });
  if (env.CONFIG_WRITER !== 'api' || !hasKubernetesCredentials() || Object.values(current()).every((guard) => guard === null)) return null;
  const clients = await kubernetes();
  const report = new ClusterPartReport({
    guards: current,
    write: async (note) => {
      await mergePatchConfigMap(
        clients,
        { namespace: env.POD_NAMESPACE, name: env.CONFIGMAP_NAME },
        { metadata: { annotations: { [CLUSTER_PART_ANNOTATION]: note } } },
        FIELD_MANAGER,
      );
    },
    onError: (error) => core.log.warn({ err: error.message }, 'could not record on the switch what is missing of the cluster part'),
  });
  const update = () => void report.update();
  return subscriptions(() => [...(onHoldChange ? [onHoldChange(update)] : []), repeatEvery(core.clock, CLUSTER_PART_REPORT_MS, update)]);
}

export function adminSurface({
  admin,
  nudger,
  hold,
  serving,
  fleet,
}: {
  admin?: Admin;
  nudger?: Nudger;
  hold?: AutoscalingHold;
  serving?: ServingConditions;
  fleet?: FleetTracker;
}): Surface {
  return {
    readiness: () => (admin?.problem() ? notReady('admin_unavailable') : READY),
    ...(admin
      ? {
          status: () => ({
            adminProblem: admin.problem(),
            ...(nudger ? { nudge: nudger.status() } : {}),
            ...(hold ? { autoscaling: hold.status() } : {}),
            ...(serving ? { serving: serving.status() } : {}),
            // Pods behind the user Service that no switch reaches: they serve during maintenance.
            ...(fleet ? { gate: { ungated: fleet.view.ungated, problem: fleet.view.gateProblem } } : {}),
          }),
        }
      : {}),
    routes(app) {
      // The panel is the admin pod's only page: in an incident, whoever port-forwards to it and
      // opens / must land there, never on a page that says the application is serving.
      const toPanel = (c: Context) => c.redirect('/admin', 302);
      app.get('/', toPanel);
      app.get('/admin/', toPanel);
      if (admin) app.route('/admin', admin.app);
      else noAdminHere(app);
      app.notFound((c) =>
        c.json({ error: 'not_found', message: `the admin role serves its panel at /admin, not ${c.req.path.slice(0, 200)}` }, 404),
      );
    },
  };
}

/**
 * The fleet beside the effective state; `follow` feeds it from the switch, the watch and the
 * watch of the pods that mount the switch (`gated`), so it starts before the watches.
 */
function fleetTracker(core: Core, watch: FleetWatch, gated: FleetWatch | null) {
  const observeConvergence = fleetMetrics(core.metrics.registry, () => tracker.view);
  const tracker: FleetTracker = new FleetTracker({
    clock: core.clock,
    status: () => watch.status,
    synced: () => watch.synced,
    onConverged: observeConvergence,
    warnAfterSeconds: core.env.FLEET_WARN_SECONDS,
  });
  const follow = subscriptions(() => {
    tracker.setActive(core.state.current.active);
    return [
      core.state.onChange((view) => tracker.setActive(view.active)),
      watch.onChange((endpoints) => tracker.setEndpoints(endpoints)),
      ...(gated ? [gated.onChange((endpoints) => tracker.setGated(endpoints))] : []),
    ];
  });
  return { tracker, follow };
}

function adminSettings(env: Env, bypassKey: BypassKey, live: LiveState): AdminSettings {
  return {
    auth: env.ADMIN_AUTH === 'token' ? { mode: 'token', file: env.ADMIN_TOKEN_FILE! } : { mode: env.ADMIN_AUTH },
    writer: env.CONFIG_WRITER === 'directory' ? { to: 'directory', dir: env.CONFIG_DIR } : { to: 'configmap' },
    namespace: env.POD_NAMESPACE,
    configMapName: env.CONFIGMAP_NAME,
    historyConfigMapName: env.APP_NAME === 'none' ? null : `${env.APP_NAME}-maintenance-history`,
    podName: env.POD_NAME,
    trustedProxyCidrs: env.TRUSTED_PROXY_CIDRS,
    trustedProxyHeader: env.TRUSTED_PROXY_HEADER,
    maxBodyBytes: env.ADMIN_MAX_BODY_BYTES,
    authAttemptsPerMinute: env.ADMIN_AUTH_ATTEMPTS_PER_MINUTE,
    bypassLinks: {
      key: () => bypassKey.current,
      problem: () => (bypassKey.status.state === 'loaded' ? null : bypassKey.status.problem),
      enable:
        env.CONFIG_WRITER === 'directory'
          ? `write a random key of ${BYPASS_MIN_KEY_BYTES} bytes or more to ${join(bypassKey.dir, BYPASS_KEY_NAME)}, such as: openssl rand -base64 32 > ${join(bypassKey.dir, BYPASS_KEY_NAME)}`
          : `kubectl create secret generic ${env.BYPASS_KEY_SECRET} -n ${env.POD_NAMESPACE} --from-literal=key="$(openssl rand -base64 32)"`,
      ...(env.PUBLIC_URL ? { publicUrl: env.PUBLIC_URL } : {}),
    },
    live,
  };
}
