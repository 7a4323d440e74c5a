import { parseArgs } from 'node:util';
import { BYPASS_DEFAULT_SECONDS, BYPASS_MAX_SECONDS } from '../maintenance/bypass-token.ts';

export const HELP = `Usage:
  kubectl maintenance on  --reason TEXT [--message TEXT] [--retry-after SECONDS] [--wait [--timeout 2m]]
  kubectl maintenance read-only --reason TEXT [--message TEXT] [--retry-after SECONDS] [--wait [--timeout 2m]]
  kubectl maintenance off --reason TEXT [--wait [--timeout 2m]]
  kubectl maintenance schedule --reason TEXT [--start TIME] [--end TIME] [--message TEXT] [--retry-after SECONDS]
  kubectl maintenance status
  kubectl maintenance history
  kubectl maintenance repair --reason TEXT
  kubectl maintenance bypass-link --reason TEXT [--for DURATION] [--url BASE]

Commands:
  on           maintenance now, whatever a window says
  read-only    reads reach the application, writes get the maintenance page; only where users
               pass through the gates (components/gate-proxy) or the demo's user role
  off          users get the application now: the switch goes off, and a window that holds
               maintenance now is cleared (as the panel's "End maintenance now")
  schedule     maintenance inside a window: --start and/or --end; the switch stays as it is, so
               planning the next window during this one never ends it (with the switch
               read-only, the window is read-only)
  status       what users get now, what changes next, who changed it last, and the fleet
  history      the latest changes, newest first
  repair       store the stored config again without the keys that are rejected, so the pods
               follow the switch again; nothing else changes
  bypass-link  a link that lets its holder see the application during maintenance

The target is a cluster: the namespace is your kubeconfig context's, as for every kubectl
command; -n overrides it. The switch is the ConfigMap labelled maintenance-switch.dev/tier=switch
there; where a namespace holds more than one install, name it with --app. With --local (or --dir)
the target is the directory that local mode (npm start) follows instead.

Options:
  -n, --namespace NS      the namespace (default: the current context's)
      --app NAME          the install (its switch is NAME-maintenance): needed where the
                          namespace holds more than one, or where you may not list ConfigMaps
      --configmap NAME    the switch ConfigMap by name, instead of by label
      --context NAME      the kubeconfig context to use (default: the current one)
      --kubeconfig FILE   the kubeconfig (default: $KUBECONFIG, else ~/.kube/config)
      --local             work on local mode's directory instead of a cluster
      --dir DIR           local mode's directory (default: $LOCAL_CONFIG_DIR, else .local/app-config)
      --reason TEXT       why, 1 to 500 characters; required to change a cluster's switch,
                          recorded with your name (locally, default "local toggle")
      --message TEXT      the text on the maintenance page (at most 2000 characters)
      --retry-after SECONDS   Retry-After for clients, 1 to 604800
      --start TIME        schedule: window start, RFC 3339 with a zone (2026-11-27T22:00:00Z),
                          or "none" to clear it
      --end TIME          schedule: window end, the same way
      --if-version RV     change only if the ConfigMap is still at this resourceVersion
                          (default: the version read just before the change)
      --wait              after on or off, wait until the app Service's EndpointSlices match
                          it (no ready endpoint for on, every endpoint ready for off),
                          printing progress; exit 4 on timeout, naming the pods that lag
      --timeout DURATION  how long --wait waits: 90s, 2m, 1h (default 2m)
      --service NAME      the app Service whose endpoints make the fleet (default: the one the
                          install names)
      --for DURATION      how long a bypass link works: 90s, 30m, 8h, 7d (default 8h, at most 7d)
      --url BASE          the address users reach the app at, to print a whole link
                          (default: print the path only)
  -h, --help              show this help

A message, Retry-After or window you do not give keeps its stored value, as a merge patch of
the ConfigMap would; each change says what users get now, and which values it kept from before.

A bypass link lets its holder see the application during maintenance. It is signed with the
key in the install's bypass key Secret (you need get on it) and recorded as an Event on the
switch (who, why, until when). Rotating that Secret revokes every link.

Exit codes: 0 done, 1 error, 2 usage (a bad command, option or value: nothing was contacted
or written), 3 conflict (someone else changed it; nothing written), 4 --wait timed out (the
change was made; the fleet has not followed it yet).`;

export const COMMANDS = ['on', 'read-only', 'off', 'schedule', 'status', 'history', 'repair', 'bypass-link'] as const;
export type Command = (typeof COMMANDS)[number];

/** A bad command line: one line naming the problem, exit 2, and nothing contacted. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  app: { type: 'string' },
  configmap: { type: 'string' },
  context: { type: 'string' },
  kubeconfig: { type: 'string' },
  service: { type: 'string' },
  local: { type: 'boolean' },
  dir: { type: 'string' },
  reason: { type: 'string' },
  message: { type: 'string' },
  'retry-after': { type: 'string' },
  start: { type: 'string' },
  end: { type: 'string' },
  'if-version': { type: 'string' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  for: { type: 'string' },
  url: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;
type OptionName = keyof typeof OPTIONS;

const TARGET_OPTIONS: readonly OptionName[] = ['namespace', 'app', 'configmap', 'context', 'kubeconfig', 'local', 'dir', 'help'];
const CLUSTER_ONLY: readonly OptionName[] = [
  'namespace',
  'app',
  'configmap',
  'context',
  'kubeconfig',
  'service',
  'if-version',
  'wait',
  'timeout',
];

/** What each command takes besides the target's options: anything else is refused, never ignored. */
const TAKES: Record<Command, readonly OptionName[]> = {
  on: ['reason', 'message', 'retry-after', 'if-version', 'wait', 'timeout', 'service'],
  'read-only': ['reason', 'message', 'retry-after', 'if-version', 'wait', 'timeout', 'service'],
  off: ['reason', 'if-version', 'wait', 'timeout', 'service'],
  schedule: ['reason', 'start', 'end', 'message', 'retry-after', 'if-version'],
  status: ['service'],
  history: [],
  repair: ['reason', 'if-version'],
  'bypass-link': ['reason', 'for', 'url'],
};

export type Target =
  | { kind: 'cluster'; namespace?: string; app?: string; configmap?: string; context?: string; kubeconfig?: string; service?: string }
  | { kind: 'local'; dir?: string };

/** A window bound as given: a time, or "none" to clear it. */
export type Bound = string | null;

/** A command line, checked: every value is one the command can use. */
export interface Request {
  command: Command;
  target: Target;
  /** Why, as given; undefined when not given (a cluster's writes require one; see `reasonFor`). */
  reason?: string;
  message?: string;
  retryAfter?: string;
  start?: Bound;
  end?: Bound;
  ifVersion?: string;
  /** --wait: the longest wait, in milliseconds; undefined without --wait. */
  waitMs?: number;
  /** The timeout as written, for messages. */
  timeout: string;
  bypassSeconds: number;
  url?: string;
}

export type Parsed = { help: true } | { help: false; request: Request };

/** 90s, 2m, 8h, 7d as seconds; null when it is not one. */
export function durationSeconds(text: string): number | null {
  const match = /^(\d{1,9})(s|m|h|d)$/.exec(text);
  if (match === null) return null;
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 's' | 'm' | 'h' | 'd'];
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Whether `text` is a Kubernetes name: a DNS label (namespaces, Services, apps) or subdomain (ConfigMaps, Secrets). */
export function isKubernetesName(text: string, kind: 'label' | 'subdomain'): boolean {
  return text.length <= 253 && (kind === 'label' ? DNS_LABEL : DNS_SUBDOMAIN).test(text);
}

/** Reads the command line; throws UsageError naming the first problem. Contacts nothing. */
export function parseCommandLine(argv: readonly string[]): Parsed {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof OPTIONS }>>;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: OPTIONS });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const option = /--[a-z][-a-z]*/.exec(message)?.[0] ?? /'(-[^' ,]+)/.exec(message)?.[1] ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${option} (see --help)`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(`${option} needs a value (see --help)`);
    throw new UsageError(`${message.split('\n')[0]} (see --help)`);
  }
  const { positionals, values } = parsed;
  if (values.help) return { help: true };
  const word = positionals[0];
  if (word === undefined) throw new UsageError(`say ${COMMANDS.join(', ')} (see --help)`);
  if (!(COMMANDS as readonly string[]).includes(word)) throw new UsageError(`unknown command: ${word} (see --help)`);
  if (positionals.length > 1) throw new UsageError(`one command at a time, not ${positionals.join(' ')} (see --help)`);
  const command = word as Command;
  const local = values.local === true || values.dir !== undefined;

  for (const name of Object.keys(values) as OptionName[]) {
    if (local && CLUSTER_ONLY.includes(name)) throw new UsageError(`--${name} is for a cluster; --local works on a directory`);
    if (TARGET_OPTIONS.includes(name) || TAKES[command].includes(name)) continue;
    if (name === 'start' || name === 'end') throw new UsageError(`--start and --end are for schedule; ${command} is not a window`);
    if (name === 'retry-after') throw new UsageError('--retry-after is for on, read-only and schedule');
    throw new UsageError(`${command} takes no --${name}`);
  }
  if (local && command === 'bypass-link')
    throw new UsageError('bypass-link is for a cluster; in local mode, make one in the panel (npm start, then the admin instance)');

  for (const [name, kind] of [
    ['namespace', 'label'],
    ['app', 'label'],
    ['service', 'label'],
    ['configmap', 'subdomain'],
  ] as const) {
    const given = values[name];
    if (given !== undefined && !isKubernetesName(given, kind))
      throw new UsageError(`--${name} ${JSON.stringify(given)} is not a Kubernetes name`);
  }
  if (values.app !== undefined && values.app.length > 43)
    throw new UsageError(`--app ${values.app} is longer than 43 characters, so no install can have it`);

  const request: Request = {
    command,
    target: local
      ? { kind: 'local', ...(values.dir !== undefined ? { dir: values.dir } : {}) }
      : {
          kind: 'cluster',
          ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
          ...(values.app !== undefined ? { app: values.app } : {}),
          ...(values.configmap !== undefined ? { configmap: values.configmap } : {}),
          ...(values.context !== undefined ? { context: values.context } : {}),
          ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
          ...(values.service !== undefined ? { service: values.service } : {}),
        },
    timeout: values.timeout ?? '2m',
    bypassSeconds: BYPASS_DEFAULT_SECONDS,
  };

  const changes = command !== 'status' && command !== 'history';
  if (values.reason !== undefined) {
    if (values.reason.trim() === '' || values.reason.length > 500)
      throw new UsageError('--reason must be 1 to 500 characters, as in the panel and the API');
    request.reason = values.reason;
  } else if (changes && !local) {
    throw new UsageError('--reason is required: say why; it is recorded with your name');
  }
  if (values.message !== undefined) request.message = values.message;
  if (values['retry-after'] !== undefined) request.retryAfter = values['retry-after'];
  const bound = (text: string): Bound => (text.trim().toLowerCase() === 'none' ? null : text);
  if (values.start !== undefined) request.start = bound(values.start);
  if (values.end !== undefined) request.end = bound(values.end);
  if (command === 'schedule' && values.start === undefined && values.end === undefined)
    throw new UsageError('schedule needs --start and/or --end');
  if (values['if-version'] !== undefined) {
    if (!/^\d{1,20}$/.test(values['if-version'])) throw new UsageError('--if-version must be a resourceVersion, such as 4711');
    request.ifVersion = values['if-version'];
  }
  if (values.timeout !== undefined && durationSeconds(values.timeout) === null)
    throw new UsageError(`--timeout must be a number with s, m, h or d, such as 2m, not ${JSON.stringify(values.timeout)}`);
  if (values.wait) request.waitMs = durationSeconds(request.timeout)! * 1000;
  if (values.for !== undefined) {
    const seconds = durationSeconds(values.for);
    if (seconds === null) throw new UsageError(`--for must be a number with s, m, h or d, such as 8h, not ${JSON.stringify(values.for)}`);
    if (seconds < 60 || seconds > BYPASS_MAX_SECONDS) throw new UsageError(`--for must be from 1m to 7d, not ${values.for}`);
    request.bypassSeconds = seconds;
  }
  if (values.url !== undefined) {
    const url = URL.parse(values.url);
    if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:'))
      throw new UsageError(`--url must be an http or https address, such as https://shop.example.com, not ${JSON.stringify(values.url)}`);
    request.url = values.url;
  }
  return { help: false, request };
}
