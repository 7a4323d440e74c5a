import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { CONFIG_KEYS, parseConfig, type MaintenanceConfig } from '../config/parse.ts';
import { ConfigNotFoundError, DirectoryWriter, InvalidConfigChangeError, updateConfig } from '../config/writer.ts';
import { decide } from '../maintenance/policy.ts';
import { type LocalSettings, localSettings, readInstances } from './local-settings.ts';

const HELP = `Usage: npm run maintenance -- <command> [options]

Turns maintenance on or off in local mode (npm start). It writes the config directory with
the kubelet's own swap sequence, so both local instances flip live, and records who and why.

Commands:
  on                      maintenance now, whatever the window says
  off                     no maintenance, except inside a window
  schedule                maintenance inside a window only: --start and/or --end (the switch goes off)
  status                  what users get now, what changes next, who changed it last, and the instances

Options for on, off and schedule:
  --reason TEXT           why, 1 to 500 characters, recorded with your name (default: "local toggle")
  --message TEXT          the text on the maintenance page (at most 2000 characters)
  --retry-after SECONDS   Retry-After for clients, 1 to 604800
Options for schedule and off:
  --start TIME            window start, RFC 3339 with a zone (2026-11-27T22:00:00Z), or "none" to clear it
  --end TIME              window end, the same way
Options for every command:
  --dir DIR               the config directory (default: $LOCAL_CONFIG_DIR, else .local/app-config)
  -h, --help              show this help

The stored config is changed, not replaced: a message, Retry-After or window you do not give
keeps its stored value, as a merge patch of the ConfigMap would. Each success line says what
users get now, and which values were kept from before.

Exit codes: 0 done, 1 could not write, 2 bad command, option or value.`;

/** The option that sets each key, to name it when a value is refused. */
const OPTION_FOR_KEY: Record<string, string> = {
  [CONFIG_KEYS.message]: '--message',
  [CONFIG_KEYS.retryAfter]: '--retry-after',
  [CONFIG_KEYS.start]: '--start',
  [CONFIG_KEYS.end]: '--end',
};

const OPTIONS = {
  message: { type: 'string' },
  reason: { type: 'string' },
  'retry-after': { type: 'string' },
  start: { type: 'string' },
  end: { type: 'string' },
  dir: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;
type OptionName = keyof typeof OPTIONS;

const COMMANDS = ['on', 'off', 'schedule', 'status'] as const;
type Command = (typeof COMMANDS)[number];
/** What each command takes besides --dir and --help: anything else is refused, never ignored. */
const TAKES: Record<Command, readonly OptionName[]> = {
  on: ['reason', 'message', 'retry-after'],
  off: ['reason', 'message', 'retry-after', 'start', 'end'],
  schedule: ['reason', 'message', 'retry-after', 'start', 'end'],
  status: [],
};

function usageError(message: string): never {
  process.stderr.write(`maintenance: ${message} (see --help)\n`);
  process.exit(2);
}

let parsed: ReturnType<typeof parseArgs<{ allowPositionals: true; options: typeof OPTIONS }>>;
try {
  parsed = parseArgs({ allowPositionals: true, options: OPTIONS });
} catch (error) {
  const { code, message } = error as NodeJS.ErrnoException;
  const option = /'(-[^' ]+)/.exec(message)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') usageError(`unknown option ${option}`);
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') usageError(`option ${option} needs a value`);
  usageError(message.split('\n')[0]!);
}
const { positionals, values } = parsed;
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const word = positionals[0];
const say = 'say on, off, schedule or status';
if (word === undefined) usageError(say);
if (!(COMMANDS as readonly string[]).includes(word)) usageError(`unknown command ${JSON.stringify(word)}: ${say}`);
if (positionals.length > 1) usageError(`one command at a time, not ${positionals.map((each) => JSON.stringify(each)).join(' ')}`);
const command = word as Command;

for (const name of Object.keys(values) as OptionName[]) {
  if (name === 'dir' || name === 'help' || TAKES[command].includes(name)) continue;
  if (command === 'on' && (name === 'start' || name === 'end'))
    usageError(`on takes no window: it starts maintenance now, whatever a window says. To schedule one, run: schedule --${name} TIME`);
  usageError(`${command} takes no --${name}`);
}
if (command === 'schedule' && values.start === undefined && values.end === undefined) usageError('schedule needs --start, --end or both');
const reason = values.reason ?? 'local toggle';
if (reason.trim().length === 0 || reason.length > 500) usageError('--reason must be 1 to 500 characters, as in the panel and the API');

let settings: LocalSettings;
try {
  settings = localSettings();
} catch (error) {
  usageError((error as Error).message);
}
const dir = values.dir ?? settings.configDir;
const writer = new DirectoryWriter(dir);
const stored = await writer.read().catch((error: unknown) => {
  if (!(error instanceof ConfigNotFoundError)) throw error;
  const fix =
    values.dir === undefined
      ? 'run npm start once to create it, or pass --dir'
      : 'is --dir the directory npm start uses (LOCAL_CONFIG_DIR)?';
  process.stderr.write(`maintenance: no config in ${dir} yet; ${fix}\n`);
  process.exit(1);
});

if (command === 'status') {
  const config = parseConfig(stored.data);
  console.log(`config directory: ${dir}`);
  console.log(
    config.ok ? `users: ${usersGet(config.config)}` : `the stored config is rejected (${config.error}): users get the last good state`,
  );
  const { changedBy, changedAt, reason: why } = stored.audit;
  console.log(changedBy ? `last change: ${changedBy} at ${changedAt}: ${why}` : 'last change: not recorded');
  const instances = readInstances(dir);
  const ports = instances ?? { userPort: settings.userPort, adminPort: settings.adminPort };
  if (instances === null) console.log('npm start has not recorded its instances; trying the ports of this shell (PORT, ADMIN_PORT)');
  for (const [role, port] of [
    ['user', ports.userPort],
    ['admin', ports.adminPort],
  ] as const) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
      console.log(`${role} instance on :${port}: /readyz ${response.status} ${await response.text()}`);
    } catch {
      console.log(`${role} instance on :${port}: not running`);
    }
  }
  process.exit(0);
}

const data: Record<string, string | null> = { [CONFIG_KEYS.mode]: command === 'on' ? 'true' : 'false' };
const clearable = (value: string) => (value.trim().toLowerCase() === 'none' ? null : value);
if (values.message !== undefined) data[CONFIG_KEYS.message] = values.message;
if (values['retry-after'] !== undefined) data[CONFIG_KEYS.retryAfter] = values['retry-after'];
if (values.start !== undefined) data[CONFIG_KEYS.start] = clearable(values.start);
if (values.end !== undefined) data[CONFIG_KEYS.end] = clearable(values.end);

const before = parseConfig(stored.data);
if (before.ok && before.config.enabled === (command === 'on') && Object.keys(data).length === 1) {
  console.log(`the switch was already ${command}; nothing written. Users: ${usersGet(before.config)}`);
  process.exit(0);
}
let written: Awaited<ReturnType<typeof updateConfig>>;
try {
  // The same writer and the same validated read-merge-write as the local admin panel.
  written = await updateConfig(writer, { data, actor: `${userInfo().username} (npm run maintenance)`, reason });
} catch (error) {
  if (!(error instanceof InvalidConfigChangeError)) throw error;
  const problems = error.issues.map(({ key, message }) => `${OPTION_FOR_KEY[key] ?? key} ${message}`);
  process.stderr.write(`maintenance: nothing written: ${problems.join('; ')}\n`);
  process.exit(2);
}
const after = parseConfig(written.data);
if (!after.ok) throw new Error(`the written config is invalid: ${after.error}`);
const kept = [
  values.message === undefined && written.data[CONFIG_KEYS.message] ? 'message' : null,
  values['retry-after'] === undefined && written.data[CONFIG_KEYS.retryAfter] ? 'Retry-After' : null,
  values.start === undefined && values.end === undefined && (after.config.windowStart !== null || after.config.windowEnd !== null)
    ? 'window'
    : null,
].filter((item) => item !== null);
console.log(
  `switch ${command === 'on' ? 'on' : 'off'}. Users: ${usersGet(after.config)}${kept.length > 0 ? ` (${kept.join(', ')} kept from before)` : ''}`,
);

/** What users get now and what changes next, in one line. */
function usersGet(config: MaintenanceConfig): string {
  const now = Date.now();
  const decision = decide(config, now);
  const at = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
  const page = `the maintenance page ("${config.message}", Retry-After ${config.retryAfterSeconds} s)`;
  if (decision.cause === 'switch') return `${page} now, until the switch is turned off`;
  const next = decision.nextChangeAt;
  if (decision.cause === 'window') return `${page} now, until ${next === null ? 'the window is cleared' : at(next)}`;
  if (next === null) return 'the application now; nothing is scheduled';
  const end = config.windowEnd;
  return `the application now; ${page} from ${at(next)}${end !== null ? ` to ${at(end)}` : ''}`;
}
