import { repeatEvery } from '../clock.ts';
import { AutoscalingHold } from '../fleet/hold.ts';
import { autoscalerClient, autoscalerInformer, holdLedgerClient } from '../k8s/autoscalers.ts';
import { hasKubernetesCredentials, kubernetes } from '../k8s/client.ts';
import { SupervisedWatch } from '../k8s/supervised-watch.ts';
import { holdMetrics } from '../http/metrics.ts';
import type { Core } from './core.ts';
import { part } from './parts.ts';

/** A look even with no event: a ScaledObject has no watch here, and a missed event must not last. */
const HOLD_RESYNC_MS = 30_000;

/**
 * The autoscaling hold, in a cluster with APP_NAME set: it looks at start (once the switch is
 * known), whenever the effective state flips, whenever an HPA in the namespace changes (a
 * re-apply may have dropped the hold), and every 30 s.
 */
export async function autoscalingHoldFor(core: Core) {
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
  // Off: one look at start, to release what an earlier admin held; nothing is held.
  if (env.AUTOSCALING_HOLD === 'off')
    return {
      hold,
      parts: [
        part(
          () => void hold.reconcile(),
          () => hold.stop(),
        ),
      ],
    };
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
  const stops: (() => void)[] = [];
  const follow = part(
    async () => {
      stops.push(core.state.onChange((view, previous) => view.active !== previous.active && look()));
      stops.push(repeatEvery(core.clock, HOLD_RESYNC_MS, look));
      await hold.reconcile();
    },
    () => {
      for (const stop of stops.splice(0)) stop();
      hold.stop();
    },
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
