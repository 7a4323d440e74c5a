import { userInfo } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { trimAsciiWhitespace, BYPASS_MIN_KEY_BYTES, BYPASS_KEY_NAME } from '../config/bypass-key.ts';
import { ConfigMapWriter, PLUGIN_FIELD_MANAGER, storedConfig } from '../config/configmap-writer.ts';
import { parseConfig } from '../config/parse.ts';
import type { ConfigWriter } from '../config/writer.ts';
import {
  countByState,
  endpointsFromSlices,
  isConverged,
  laggingPods,
  ungatedPods,
  ungatedProblem,
  type FleetEndpoint,
} from '../fleet/fleet.ts';
import { CLUSTER_PART_ANNOTATION } from '../fleet/guard.ts';
import { parseHoldRecord } from '../fleet/hold.ts';
import { autoscalerClient, HOLD_ANNOTATION } from '../k8s/autoscalers.ts';
import { apiMessage, apiStatus, clientsFor, hasKubernetesCredentials, KubernetesApiError, type KubeClients } from '../k8s/client.ts';
import { readConfigMap } from '../k8s/configmaps.ts';
import { decide, effectiveMode } from '../maintenance/policy.ts';
import { signBypassToken } from '../maintenance/bypass-token.ts';
import { isKubernetesName, type Request, type Target } from './args.ts';
import { usersGet } from './changes.ts';
import { CliError, safe, type Output } from './output.ts';
import { LABELS } from '../k8s/labels.ts';

const PREFIX = 'maintenance-switch.dev';
const DESCRIBED = { service: `${PREFIX}/service`, bypassKeySecret: `${PREFIX}/bypass-key-secret` } as const;
const DEFAULT_SERVICE = 'sample-app-user';
const DEFAULT_BYPASS_SECRET = 'maintenance-bypass-key';

type ClusterTargetOptions = Extract<Target, { kind: 'cluster' }>;

/** A cluster's switch, found as the plugin finds it, with the names its install gives. */
export class ClusterTarget {
  readonly kind = 'cluster';
  readonly writer: ConfigWriter;
  readonly where: string;
  readonly namespace: string;
  readonly switchName: string;
  readonly service: string;
  readonly #clients: KubeClients;
  readonly #clock: Clock;
  readonly #user: string;
  readonly #app: string | null;
  readonly #bypassSecret: string;
  /** The switch as read when the target was found: what `status` shows. */
  readonly #switch: V1ConfigMap;

  private constructor(
    clients: KubeClients,
    found: { namespace: string; configMap: V1ConfigMap; user: string; service: string; bypassSecret: string },
    clock: Clock,
    log: Logger,
  ) {
    this.#clients = clients;
    this.#clock = clock;
    this.namespace = found.namespace;
    this.switchName = found.configMap.metadata!.name!;
    this.where = `${this.namespace}/${this.switchName}`;
    this.#user = found.user;
    this.service = found.service;
    this.#bypassSecret = found.bypassSecret;
    this.#app = found.configMap.metadata?.labels?.[LABELS.app] ?? null;
    this.#switch = found.configMap;
    this.writer = new ConfigMapWriter(
      clients,
      {
        namespace: this.namespace,
        name: this.switchName,
        reportingInstance: found.user,
        history: this.#app === null ? null : { namespace: this.namespace, name: `${this.#app}-maintenance-history` },
        manager: PLUGIN_FIELD_MANAGER,
        recordsHistory: false,
      },
      log,
    );
  }

  /** Reads the kubeconfig as kubectl does, finds the switch, and who the caller is. */
  static async connect(options: ClusterTargetOptions, clock: Clock, log: Logger): Promise<ClusterTarget> {
    const lib = await import('@kubernetes/client-node');
    const config = new lib.KubeConfig();
    if (options.kubeconfig !== undefined) {
      try {
        config.loadFromFile(options.kubeconfig);
      } catch (error) {
        throw new CliError(`cannot read the kubeconfig ${options.kubeconfig}: ${(error as Error).message}`);
      }
    } else if (hasKubernetesCredentials()) {
      config.loadFromDefault();
    } else {
      throw new CliError('no kubeconfig: set KUBECONFIG, pass --kubeconfig, or write ~/.kube/config');
    }
    if (options.context !== undefined) {
      if (config.getContextObject(options.context) === null)
        throw new CliError(`no context ${JSON.stringify(options.context)} in the kubeconfig`);
      config.setCurrentContext(options.context);
    }
    // The namespace as kubectl itself takes it: -n, else the current context's, else "default".
    const namespace = options.namespace ?? config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
    const clients = clientsFor(config, lib);
    const configMap = await findSwitch(clients, namespace, options);
    const described = (key: string, fallback: string, kind: 'label' | 'subdomain') => {
      const value = configMap.metadata?.annotations?.[key];
      if (value === undefined || value === '') return fallback;
      if (!isKubernetesName(value, kind))
        throw new CliError(
          `the annotation ${key} of ConfigMap ${namespace}/${configMap.metadata?.name} is ${JSON.stringify(safe(value))}, which is not a Kubernetes name; fix it there`,
        );
      return value;
    };
    const service = options.service ?? described(DESCRIBED.service, DEFAULT_SERVICE, 'label');
    const bypassSecret = described(DESCRIBED.bypassKeySecret, DEFAULT_BYPASS_SECRET, 'subdomain');
    return new ClusterTarget(clients, { namespace, configMap, user: await whoAmI(clients), service, bypassSecret }, clock, log);
  }

  actor(): string {
    return this.#user;
  }

  /** The version to quote after a write: the ConfigMap's resourceVersion. */
  versionNote(version: string): string {
    return ` (resourceVersion ${version})`;
  }

  conflict(version: string): CliError {
    return new CliError(`conflict: ${this.where} changed after resourceVersion ${version} was read; nothing was written.`, 3, [
      `Check 'kubectl maintenance status -n ${this.namespace}' and run the command again.`,
    ]);
  }

  /** What users get, who changed it last, and the fleet, from the switch as found (no second read). */
  async status(out: Output): Promise<void> {
    const stored = storedConfig(this.#switch);
    const { data } = stored;
    const now = this.#clock.now();
    const parsed = parseConfig(data);
    const decision = parsed.ok ? decide(parsed.config, now) : null;
    const active = decision?.active ?? data.MAINTENANCE_MODE?.trim().toLowerCase() === 'true';
    const mode = effectiveMode({ active, readOnly: decision?.readOnly ?? false });
    out.line(`maintenance: ${mode}   (configmap ${this.where}, resourceVersion ${stored.version})`);
    if (stored.readOnlyRefused !== null) out.line(`read-only:   not available here: ${safe(stored.readOnlyRefused)}`);
    if (parsed.ok) out.line(`users:       ${safe(usersGet(parsed.config, now))}`);
    else
      out.line(
        `rejected:    ${safe(parsed.error)}; the pods keep the last good state. Fix it, or drop the rejected keys with: kubectl maintenance repair --reason TEXT`,
      );
    if (data.MAINTENANCE_MESSAGE) out.line(`message:     ${safe(data.MAINTENANCE_MESSAGE)}`);
    if (data.MAINTENANCE_START || data.MAINTENANCE_END)
      out.line(`window:      ${safe(data.MAINTENANCE_START || 'open')} -> ${safe(data.MAINTENANCE_END || 'open')}`);
    const { changedBy, changedAt, reason, outside } = stored.audit;
    if (changedBy) out.line(`last change: ${safe(changedBy)} at ${safe(changedAt ?? '')}: ${safe(reason ?? '')}`);
    if (outside)
      out.line(
        `             changed outside the panel and plugin since then${outside.manager ? `: ${safe(outside.manager)} at ${safe(outside.time ?? '')}` : ''}; who did it is in the cluster's audit log`,
      );
    const fleet = await this.fleet().catch(() => null);
    if (fleet === null) {
      out.line(`fleet:       unknown (cannot list the EndpointSlices of ${this.service})`);
    } else {
      const { serving, notServing, terminating } = countByState(fleet);
      const verdict = isConverged(active, fleet)
        ? 'converged'
        : `not converged: ${active ? 'still serving' : 'still out'}: ${laggingPods(active, fleet).join(',') || '-'}`;
      out.line(
        `fleet:       ${serving} of ${fleet.length} endpoints of ${this.service} serving${mode === 'read-only' ? ' read-only' : ''}, ${notServing} out, ${terminating} terminating · ${safe(verdict)}`,
      );
      for (const endpoint of fleet) out.line(`             ${safe(endpoint.pod)} ${STATE_WORD[endpoint.state]}`);
      await this.#gateStatus(out, fleet);
    }
    await this.#autoscalingStatus(out, active);
    const missing = this.#switch.metadata?.annotations?.[CLUSTER_PART_ANNOTATION];
    if (missing) out.line(`cluster part: ${safe(missing)}`);
  }

  /** The app Service's endpoints, as its EndpointSlices say. */
  async fleet(service = this.service): Promise<FleetEndpoint[]> {
    const list = await this.#clients.discovery.listNamespacedEndpointSlice({
      namespace: this.namespace,
      labelSelector: `kubernetes.io/service-name=${service}`,
    });
    return endpointsFromSlices(list.items);
  }

  /** Waits until the fleet follows, printing each change; false on timeout, having said which pods lag. */
  async waitForFleet(active: boolean, request: Request, out: Output): Promise<boolean> {
    const limit = request.waitMs ?? 0;
    const started = this.#clock.now();
    const seconds = () => ((this.#clock.now() - started) / 1000).toFixed(1);
    let last = '';
    for (;;) {
      const fleet = await this.fleet();
      const { serving, notServing, terminating } = countByState(fleet);
      const summary = `${serving} serving, ${notServing} out of service, ${terminating} terminating`;
      if (summary !== last) out.line(`  ${seconds()} s: ${summary}`);
      last = summary;
      if (isConverged(active, fleet)) {
        out.line(
          `converged in ${seconds()} s: ${active ? `no endpoint of ${this.service} serves users` : `every endpoint of ${this.service} serves users`}`,
        );
        return true;
      }
      if (this.#clock.now() - started >= limit) {
        const lagging = laggingPods(active, fleet);
        if (active) {
          out.problem(`timed out after ${request.timeout}: still serving users: ${lagging.join(',')}`);
          out.problem('(volume source: the kubelet syncs about once a minute; a subPath mount never updates; see their /status)');
        } else {
          out.problem(`timed out after ${request.timeout}: still out of service: ${lagging.join(',') || 'none'} (${serving} serving)`);
        }
        return false;
      }
      // A timer that keeps the process alive (the clock's never does): the command is waiting.
      await delay(1000);
    }
  }

  /** A bypass link signed with the install's key, recorded as an Event first: no record, no link. */
  async bypassLink(request: Request, out: Output): Promise<void> {
    let encoded: string | undefined;
    try {
      const secret = await this.#clients.core.readNamespacedSecret({ namespace: this.namespace, name: this.#bypassSecret });
      encoded = secret.data?.[BYPASS_KEY_NAME];
    } catch (error) {
      throw this.#noKey(`${apiStatus(error) ? `HTTP ${apiStatus(error)}: ` : ''}${apiMessage(error)}`);
    }
    if (encoded === undefined || encoded === '') throw this.#noKey(`it has no key "${BYPASS_KEY_NAME}"`);
    // The key as the pods read it: the Secret's bytes, less ASCII whitespace at either end.
    const key = trimAsciiWhitespace(Buffer.from(encoded, 'base64'));
    if (key.length < BYPASS_MIN_KEY_BYTES)
      throw new CliError(
        `the key in Secret ${this.namespace}/${this.#bypassSecret} is shorter than ${BYPASS_MIN_KEY_BYTES} bytes; the pods refuse it`,
      );
    const expiresAt = Math.floor(this.#clock.now() / 1000) * 1000 + request.bypassSeconds * 1000;
    const token = signBypassToken(key, expiresAt);
    const id = token.split('.')[2]!;
    const until = new Date(expiresAt).toISOString().replace('.000Z', 'Z');
    try {
      await this.writer.audit!({
        action: 'CreateBypassLink',
        reason: 'BypassLinkCreated',
        note: `${this.#user} created bypass link ${id}, valid until ${until}: ${request.reason}`,
        actor: this.#user,
      });
    } catch (error) {
      throw new CliError(`could not record the Event, so no link was made: ${(error as Error).message}`);
    }
    out.line(`bypass link ${id}, valid until ${until}, recorded as an Event on ${this.where}:`);
    out.line(`${(request.url ?? '').replace(/\/+$/, '')}/__maintenance/bypass?token=${token}`);
  }

  #noKey(why: string): CliError {
    return new CliError(`cannot read the key of Secret ${this.namespace}/${this.#bypassSecret}: ${why}`, 1, [
      `Create it with: kubectl -n ${this.namespace} create secret generic ${this.#bypassSecret} --from-literal=key="$(openssl rand -base64 32)"`,
    ]);
  }

  /** Pods behind the Service that carry no gate (not among the pods that mount the switch): users reach them during maintenance. */
  async #gateStatus(out: Output, fleet: FleetEndpoint[]): Promise<void> {
    if (this.#app === null || fleet.length === 0) return;
    const gated = await this.fleet(`${this.#app}-maintenance-pods`).catch(() => null);
    if (gated === null) return;
    const problem = ungatedProblem(this.service, fleet.length, ungatedPods(fleet, gated));
    if (problem !== null) out.line(`gate:        ${safe(problem)}`);
  }

  /** The autoscaling hold, as the admin records it on each autoscaler it holds (this install's only). */
  async #autoscalingStatus(out: Output, active: boolean): Promise<void> {
    let autoscalers: Awaited<ReturnType<ReturnType<typeof autoscalerClient>['list']>>['autoscalers'];
    try {
      ({ autoscalers } = await autoscalerClient(this.#clients, this.namespace).list());
    } catch {
      out.line(`autoscaling: unknown (cannot list the HorizontalPodAutoscalers of ${this.namespace})`);
      return;
    }
    const held = autoscalers.flatMap((autoscaler) => {
      const record = parseHoldRecord(autoscaler.annotations[HOLD_ANNOTATION]);
      if (record === null || (this.#app !== null && record.app !== this.#app)) return [];
      return [
        `held at ${record.replicas} pods since ${safe(record.since)} (${autoscaler.kind} ${safe(autoscaler.name)})${record.endedAt ? `, maintenance ended ${safe(record.endedAt)}` : ''}`,
      ];
    });
    for (const [index, line] of held.entries()) out.line(`${index === 0 ? 'autoscaling: ' : '             '}${line}`);
    if (held.length > 0 && !active)
      out.line(
        "             maintenance is off: the admin releases each once the HPA's scale-down window has passed (see docs/operations.md to undo a hold by hand)",
      );
    if (held.length === 0 && active)
      out.line('autoscaling: nothing held (no autoscaler of this app, AUTOSCALING_HOLD=off, or the admin has not looked yet)');
  }
}

const STATE_WORD: Record<FleetEndpoint['state'], string> = { serving: 'serving', not_serving: 'out', terminating: 'terminating' };

/**
 * The switch: by --configmap; else, with --app, the name every install gives it (found with
 * `get` alone, as an operator's Role allows); else by label in the namespace.
 */
async function findSwitch(clients: KubeClients, namespace: string, options: ClusterTargetOptions): Promise<V1ConfigMap> {
  const read = (name: string) => readConfigMap(clients, { namespace, name });
  if (options.configmap !== undefined) {
    try {
      return await read(options.configmap);
    } catch (error) {
      throw new CliError(`cannot read ConfigMap ${namespace}/${options.configmap}: ${(error as Error).message}`);
    }
  }
  if (options.app !== undefined) {
    const named = await read(`${options.app}-maintenance`).catch(() => null);
    if (named !== null) return named;
  }
  const selector = `${LABELS.tier}=switch${options.app !== undefined ? `,${LABELS.app}=${options.app}` : ''}`;
  let found: V1ConfigMap[];
  try {
    found = (await clients.core.listNamespacedConfigMap({ namespace, labelSelector: selector })).items;
  } catch (error) {
    if (apiStatus(error) === 403)
      throw new CliError(
        `you may not list the ConfigMaps of namespace ${namespace} (an operator needs only get and patch on the switch): name the install with --app NAME (its switch is NAME-maintenance), or the switch with --configmap NAME`,
      );
    throw new CliError(`cannot list the ConfigMaps of namespace ${namespace}: ${new KubernetesApiError('listing', error).message}`);
  }
  if (found.length === 0)
    throw new CliError(
      `no maintenance switch${options.app !== undefined ? ` for app ${options.app}` : ''} in namespace ${namespace} (a ConfigMap labelled ${LABELS.tier}=switch); use -n NAMESPACE, or --configmap NAME`,
    );
  if (found.length > 1) {
    const installs = found
      .map((configMap) => ({ name: configMap.metadata?.name ?? '', app: configMap.metadata?.labels?.[LABELS.app] ?? '' }))
      .sort((a, b) => a.name.localeCompare(b.name));
    throw new CliError(
      `namespace ${namespace} holds ${found.length} installs; name one with --app:`,
      2,
      installs.map(({ name, app }) => `  --app ${safe(app)}   (switch ${safe(name)})`),
    );
  }
  return found[0]!;
}

/** Who the API server says the caller is (kubectl auth whoami); else the local user. */
async function whoAmI(clients: KubeClients): Promise<string> {
  try {
    const review = await clients.authentication.createSelfSubjectReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    const name = review.status?.userInfo?.username;
    if (name) return name;
  } catch {
    // An API server without SelfSubjectReview, or a caller not allowed it: the local user.
  }
  return process.env.USER || userInfo().username || 'unknown';
}
