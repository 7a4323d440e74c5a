import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { readVolume } from '../config/kubelet-volume.ts';
import { CONFIG_KEYS, describeConfig, parseConfig } from '../config/parse.ts';
import { DirectoryWriter, applyChange } from '../config/writer.ts';
import { LOCAL_ADMIN_PORT, LOCAL_USER_PORT, localConfigDir } from './local-setup.ts';

const usage = 'usage: npm run maintenance -- on|off|status [--message TEXT] [--reason TEXT] [--dir DIR]';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    message: { type: 'string' },
    reason: { type: 'string' },
    dir: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
const command = positionals[0];
if (values.help || positionals.length !== 1 || !['on', 'off', 'status'].includes(command ?? '')) {
  console.error(usage);
  process.exit(values.help ? 0 : 2);
}

const dir = values.dir ?? localConfigDir();

if (command === 'status') {
  const current = await readVolume(dir);
  console.log(`config directory: ${dir}`);
  if (current.kind !== 'snapshot') {
    console.log(`no config yet (${current.kind}); run npm start once to create it`);
  } else {
    const parsed = parseConfig(current.data);
    console.log(parsed.ok ? JSON.stringify(describeConfig(parsed.config), null, 2) : `invalid config: ${parsed.error}`);
  }
  for (const [role, port] of [['user', LOCAL_USER_PORT], ['admin', LOCAL_ADMIN_PORT]] as const) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
      console.log(`${role} instance on :${port}: /readyz ${response.status} ${await response.text()}`);
    } catch {
      console.log(`${role} instance on :${port}: not running`);
    }
  }
  process.exit(0);
}

// The same writer as the local admin panel: the kubelet's swap sequence, plus who and why.
const writer = new DirectoryWriter(dir);
const data: Record<string, string> = { [CONFIG_KEYS.mode]: command === 'on' ? 'true' : 'false' };
if (values.message !== undefined) data[CONFIG_KEYS.message] = values.message;
const current = await writer.read();
const parsed = parseConfig(applyChange(current.data, data));
if (!parsed.ok) {
  console.error(`refusing to write an invalid config: ${parsed.error}`);
  process.exit(1);
}
const before = parseConfig(current.data);
if (before.ok && before.config.enabled === parsed.config.enabled && values.message === undefined) {
  console.log(`maintenance was already ${command}; nothing written`);
} else {
  await writer.write({ data, actor: `${userInfo().username} (npm run maintenance)`, reason: values.reason ?? 'local toggle' });
  console.log(`maintenance ${command} (written to ${dir} with the kubelet's swap sequence)`);
}
