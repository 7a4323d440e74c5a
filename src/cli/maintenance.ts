import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { readVolume } from '../config/kubelet-volume.ts';
import { CONFIG_KEYS, describeConfig, parseConfig } from '../config/parse.ts';
import { ConfigNotFoundError, DirectoryWriter, InvalidConfigChangeError, updateConfig } from '../config/writer.ts';
import { type LocalSettings, localSettings } from './local-settings.ts';

const HELP = `Usage: npm run maintenance -- <command> [options]

Turns maintenance on or off in local mode (npm start). It writes the config directory with
the kubelet's own swap sequence, so both local instances flip live, and records who and why.

Commands:
  on                      turn maintenance on
  off                     turn maintenance off
  status                  show the config, and whether the local instances run

Options for on and off:
  --message TEXT          the text on the maintenance page (at most 2000 characters)
  --reason TEXT           why, recorded with your name (default: "local toggle")
  --retry-after SECONDS   Retry-After for clients, 1 to 604800
  --start TIME            window start, RFC 3339 with a zone (2026-11-27T22:00:00Z), or "none" to clear it
  --end TIME              window end, the same way
Options for every command:
  --dir DIR               the config directory (default: $LOCAL_CONFIG_DIR, else .local/app-config)
  -h, --help              show this help

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
const command = positionals[0];
if (command === undefined) usageError('say on, off or status');
if (!['on', 'off', 'status'].includes(command)) usageError(`unknown command ${JSON.stringify(command)}: say on, off or status`);
if (positionals.length > 1) usageError(`one command at a time, not ${positionals.map((word) => JSON.stringify(word)).join(' ')}`);

let settings: LocalSettings;
try {
  settings = localSettings();
} catch (error) {
  usageError((error as Error).message);
}
const dir = values.dir ?? settings.configDir;

if (command === 'status') {
  const current = await readVolume(dir);
  console.log(`config directory: ${dir}`);
  if (current.kind !== 'snapshot') {
    console.log(`no config yet (${current.kind}); run npm start once to create it`);
  } else {
    const config = parseConfig(current.data);
    console.log(config.ok ? JSON.stringify(describeConfig(config.config), null, 2) : `invalid config: ${config.detail}`);
  }
  for (const [role, port] of [
    ['user', settings.userPort],
    ['admin', settings.adminPort],
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

// The same writer and the same validated read-merge-write as the local admin panel.
const writer = new DirectoryWriter(dir);
const current = await writer.read().catch((error: unknown) => {
  if (!(error instanceof ConfigNotFoundError)) throw error;
  process.stderr.write(`maintenance: no config in ${dir} yet; run npm start once to create it, or pass --dir\n`);
  process.exit(1);
});
const before = parseConfig(current.data);
if (before.ok && before.config.enabled === (command === 'on') && Object.keys(data).length === 1) {
  console.log(`maintenance was already ${command}; nothing written`);
  process.exit(0);
}
try {
  await updateConfig(writer, { data, actor: `${userInfo().username} (npm run maintenance)`, reason: values.reason ?? 'local toggle' });
} catch (error) {
  if (!(error instanceof InvalidConfigChangeError)) throw error;
  const problems = error.issues.map(({ key, message }) => `${OPTION_FOR_KEY[key] ?? key} ${message}`);
  process.stderr.write(`maintenance: nothing written: ${problems.join('; ')}\n`);
  process.exit(2);
}
console.log(`maintenance ${command} (written to ${dir} with the kubelet's swap sequence)`);
