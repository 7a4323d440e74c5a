import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { readVolume, writeVolumeAtomically } from '../config/kubelet-volume.ts';
import { localSettings, removeInstances, writeInstances, type LocalSettings } from './local-settings.ts';

// Local mode: one user and one admin instance on loopback, both following one
// kubelet-style directory, so a toggle flips both live, as in a cluster.
let settings: LocalSettings;
try {
  settings = localSettings();
} catch (error) {
  console.error(`npm start: ${(error as Error).message}`);
  process.exit(2);
}
const { configDir: dir, userPort, adminPort } = settings;
// main.ts from the sources, main.js from dist/: whichever this file was run as.
const main = fileURLToPath(new URL(`../main${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** Whether a loopback port can be listened on right now. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

for (const [what, port] of [
  ['PORT', userPort],
  ['ADMIN_PORT', adminPort],
] as const) {
  if (!(await portIsFree(port))) {
    console.error(`npm start: port ${port} is in use (another \`npm start\`?); stop it, or set ${what}`);
    process.exit(1);
  }
}

try {
  if ((await readVolume(dir)).kind !== 'snapshot') {
    await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });
    console.log(`created ${dir} with MAINTENANCE_MODE=false`);
  }
} catch (error) {
  const { code, message } = error as NodeJS.ErrnoException;
  console.error(
    `npm start: LOCAL_CONFIG_DIR=${dir} cannot be made or read (${code ?? 'error'}: ${message}); set LOCAL_CONFIG_DIR to a directory you may write`,
  );
  process.exit(1);
}

// Colour only for a terminal: logs redirected to a file stay plain text.
const tty = process.stdout.isTTY === true;
const paint = (code: string, text: string) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
const colors = { user: '36', admin: '35' } as const;
const children = new Map<string, ChildProcess>();
let stopping = false;

function run(role: 'user' | 'admin', port: number): void {
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      ROLE: role,
      PORT: String(port),
      HOST: '127.0.0.1',
      CONFIG_DIR: dir,
      CONFIG_SOURCE: 'volume',
      POD_NAME: `local-${role}`,
      SHUTDOWN_DELAY_SECONDS: '0',
      // The local admin panel writes the directory, with the kubelet's sequence, instead of the API;
      // it listens on loopback only, where it may run without authentication.
      CONFIG_WRITER: 'directory',
      ADMIN_AUTH: 'none',
      // Bypass links work locally too: the key beside the config directory, as the audit is, and
      // a cookie a plain-HTTP loopback address keeps (a Secure one it would drop).
      BYPASS_KEY_DIR: process.env.BYPASS_KEY_DIR || `${dir.replace(/\/+$/, '')}.bypass-key`,
      BYPASS_COOKIE_SECURE: 'false',
    },
    // The IPC channel closes when this process dies, even by SIGKILL, and the child then exits.
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  children.set(role, child);
  createInterface({ input: child.stdout! }).on('line', (line) => console.log(`${paint(colors[role], `[${role}]`)} ${formatLog(line)}`));
  child.on('exit', (code) => {
    children.delete(role);
    if (!stopping) {
      console.error(`the ${role} instance exited with code ${code}; stopping`);
      stop(1);
    } else if (children.size === 0) {
      process.exit(process.exitCode ?? 0);
    }
  });
}

/**
 * `npm start` runs this file through `sh -c`; a `kill -9` of npm leaves that shell, and so this
 * process, running. So the launcher is watched: npm when npm started it (the nearest ancestor
 * whose command line is npm's), otherwise the parent. When it is gone, both instances stop.
 */
function watchLauncher(): void {
  const launcher = (process.env.npm_lifecycle_event ? npmAncestor() : null) ?? process.ppid;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent || !isAlive(launcher)) {
      clearInterval(timer);
      console.error(`npm start: its launcher (pid ${launcher}) is gone; stopping`);
      stop(0);
    }
  }, 500);
  timer.unref();
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of the nearest ancestor that is npm, from /proc (Linux); null elsewhere or when none is. */
function npmAncestor(): number | null {
  let pid = process.ppid;
  for (let depth = 0; depth < 8 && pid > 1; depth++) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (command[0] === 'npm' || command[0]?.startsWith('npm ') || command.some((part) => /npm-cli\.js$/.test(part))) return pid;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return null;
    }
  }
  return null;
}

/** pino's JSON lines, shortened for a terminal: the message, then what is not already in the prefix. */
function formatLog(line: string): string {
  try {
    const { msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
    const rest = Object.fromEntries(Object.entries(fields).filter(([key]) => !['level', 'time', 'pod', 'role'].includes(key)));
    const extra = Object.keys(rest).length > 0 ? ` ${paint('2', JSON.stringify(rest))}` : '';
    return `${String(msg)}${extra}`;
  } catch {
    return line;
  }
}

function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  if (children.size === 0) process.exit(code);
  for (const child of children.values()) child.kill('SIGTERM');
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
watchLauncher();

run('user', userPort);
run('admin', adminPort);
// `npm run maintenance -- status` reads where the instances listen from here.
writeInstances(dir, { userPort, adminPort, pid: process.pid });
process.once('exit', () => removeInstances(dir));

console.log(`
  Local mode: the config lives in ${dir}

  user  pod   http://127.0.0.1:${userPort}/         readiness: http://127.0.0.1:${userPort}/readyz
  admin pod   http://127.0.0.1:${adminPort}/         always ready; state: http://127.0.0.1:${adminPort}/status
  admin panel http://127.0.0.1:${adminPort}/admin    toggle with a reason (local mode: no sign-in)

  Try, in another terminal:
    npm run maintenance -- on --message "Back at 10:00 UTC"
    curl -i http://127.0.0.1:${userPort}/readyz        # 503 {"reason":"maintenance"}
    curl -i -H 'Accept: application/json' http://127.0.0.1:${userPort}/
    npm run maintenance -- off
    npm run maintenance -- status

  Ctrl-C stops both.
`);
