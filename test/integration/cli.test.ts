import { execFile, spawn } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readVolume, writeVolumeAtomically } from '../../src/config/kubelet-volume.ts';
import { nodeVersionProblem } from '../../scripts/check-node.mjs';
import { makeTempDir } from '../helpers/test-server.ts';
import { waitFor } from '../helpers/wait.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'src/cli/maintenance.ts');
const LOCAL = join(ROOT, 'src/cli/local.ts');

/** Runs a command to its end; never throws on a non-zero exit. */
async function run(command: string, args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, { cwd: ROOT, env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}
const maintenance = (args: string[], dir: string) => run(process.execPath, [CLI, '--local', ...args], { LOCAL_CONFIG_DIR: dir });

async function localDir(): Promise<string> {
  const dir = join(await makeTempDir(), 'app-config');
  await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });
  return dir;
}

describe('npm run maintenance', () => {
  it.each([
    [['on', '--msg', 'hi'], 'maintenance: unknown option --msg (see --help)'],
    [['on', '--message'], 'maintenance: --message needs a value (see --help)'],
    [['bogus'], 'maintenance: unknown command: bogus (see --help)'],
    [[], 'maintenance: say on, read-only, off, schedule, status, history, repair, bypass-link (see --help)'],
    [['on', '--retry-after', 'soon'], 'maintenance: --retry-after must be a whole number of seconds'],
    [
      ['schedule', '--start', 'tomorrow'],
      'maintenance: --start must be an RFC 3339 timestamp with a time zone, such as 2026-11-27T22:00:00Z',
    ],
    [
      ['on', '--start', '2030-01-01T00:00:00Z', '--end', '2030-01-02T00:00:00Z'],
      'maintenance: --start and --end are for schedule; on is not a window',
    ],
    [['off', '--end', 'none'], 'maintenance: --start and --end are for schedule; off is not a window'],
    [['schedule'], 'maintenance: schedule needs --start and/or --end'],
    [['on', '--reason', ''], 'maintenance: --reason must be 1 to 500 characters, as in the panel and the API'],
    [['on', '--reason', 'x'.repeat(501)], 'maintenance: --reason must be 1 to 500 characters, as in the panel and the API'],
    [['status', '--message', 'hi'], 'maintenance: status takes no --message'],
    [['on', '-n', 'shop'], 'maintenance: --namespace is for a cluster; --local works on a directory'],
    [
      ['bypass-link', '--reason', 'QA'],
      'maintenance: bypass-link is for a cluster; in local mode, make one in the panel (npm start, then the admin instance)',
    ],
  ])('%j fails with one line naming the problem, exit 2, and writes nothing', async (args, line) => {
    const dir = await localDir();
    const { code, stdout, stderr } = await maintenance(args, dir);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(`${line}\n`);
    expect(await readVolume(dir)).toMatchObject({ data: { MAINTENANCE_MODE: 'false' } });
  });

  it('--help lists every option', async () => {
    const { code, stdout } = await maintenance(['--help'], await localDir());
    expect(code).toBe(0);
    for (const option of [
      'on',
      'off',
      'schedule',
      'status',
      'kept from before',
      '--message',
      '--reason',
      '--retry-after',
      '--start',
      '--end',
      '--dir',
      '--help',
    ]) {
      expect(stdout).toContain(option);
    }
  });

  it('schedules and clears a window with Retry-After, the switch as it was, saying what users get and when', async () => {
    const dir = await localDir();
    const scheduled = await maintenance(
      ['schedule', '--retry-after', '120', '--start', '2030-01-01T00:00:00Z', '--end', '2030-01-02T00:00:00Z', '--reason', 'test'],
      dir,
    );
    expect(scheduled).toMatchObject({ code: 0, stderr: '' });
    expect(scheduled.stdout).toMatch(
      /^maintenance scheduled in directory \S+: 2030-01-01T00:00:00Z -> 2030-01-02T00:00:00Z, the switch off, by .+ \(npm run maintenance\): test\n/,
    );
    // Inside a window with an end, the pods send the time until that end.
    expect(scheduled.stdout.split('\n')[1]).toBe(
      'users: the application now; the maintenance page ("We are performing scheduled maintenance. Please try again shortly.", Retry-After 86400 s) from 2030-01-01T00:00:00Z to 2030-01-02T00:00:00Z',
    );
    expect(await readVolume(dir)).toMatchObject({
      data: {
        MAINTENANCE_MODE: 'false',
        MAINTENANCE_RETRY_AFTER: '120',
        MAINTENANCE_START: '2030-01-01T00:00:00Z',
        MAINTENANCE_END: '2030-01-02T00:00:00Z',
      },
    });
    expect((await maintenance(['schedule', '--start', 'none', '--end', 'none'], dir)).code).toBe(0);
    const after = await readVolume(dir);
    expect(after).toMatchObject({ data: { MAINTENANCE_MODE: 'false' } });
    expect(after.kind === 'snapshot' && 'MAINTENANCE_START' in after.data).toBe(false);
  });

  it('keeps the message and Retry-After from before, and says so', async () => {
    const dir = await localDir();
    const users = async (args: string[]) => (await maintenance(args, dir)).stdout.split('\n')[1];
    expect(await users(['on', '--message', 'Upgrading the database', '--retry-after', '120'])).toBe(
      'users: the maintenance page ("Upgrading the database", Retry-After 120 s) now, until the switch is turned off',
    );
    expect(await users(['off'])).toBe('users: the application now; nothing is scheduled (message, Retry-After kept from before)');
    expect(await users(['on'])).toBe(
      'users: the maintenance page ("Upgrading the database", Retry-After 120 s) now, until the switch is turned off (message, Retry-After kept from before)',
    );
  });

  it('plans the next window during a maintenance without ending it', async () => {
    const dir = await localDir();
    await maintenance(['on', '--reason', 'migration'], dir);
    const planned = await maintenance(['schedule', '--start', '2030-01-01T00:00:00Z', '--end', '2030-01-01T02:00:00Z'], dir);
    expect(planned).toMatchObject({ code: 0, stderr: '' });
    expect(planned.stdout).toContain('the switch on');
    expect(planned.stdout).toContain('users: the maintenance page (');
    expect(await readVolume(dir)).toMatchObject({ data: { MAINTENANCE_MODE: 'true', MAINTENANCE_START: '2030-01-01T00:00:00Z' } });
  });

  it('off inside a window ends it: users get the application now', async () => {
    const dir = await localDir();
    const start = new Date(Date.now() - 3600_000).toISOString();
    const end = new Date(Date.now() + 3600_000).toISOString();
    await maintenance(['schedule', '--start', start, '--end', end], dir);
    const off = await maintenance(['off', '--reason', 'done early'], dir);
    expect(off).toMatchObject({ code: 0, stderr: '' });
    expect(off.stdout.split('\n').slice(1, 3)).toEqual([
      'the window that held maintenance on is cleared',
      'users: the application now; nothing is scheduled',
    ]);
    const data = await readVolume(dir);
    expect(data.kind === 'snapshot' && ['MAINTENANCE_START', 'MAINTENANCE_END'].some((key) => key in data.data)).toBe(false);
    // Off again outside any window: nothing to do.
    expect((await maintenance(['off'], dir)).stdout).toMatch(/^maintenance is already off in directory \S+; nothing was written\n$/);
  });

  it('read-only: sets it, says what users get, records it, refuses a window that would end it now, and off ends it', async () => {
    const dir = await localDir();
    const readOnly = await maintenance(['read-only', '--message', 'Migrating', '--reason', 'migration'], dir);
    expect(readOnly).toMatchObject({ code: 0, stderr: '' });
    expect(readOnly.stdout.split('\n').slice(0, 2)).toEqual([
      expect.stringMatching(/^read-only in directory \S+, by .+: migration$/),
      'users: read-only: reads reach the application, writes get the maintenance page ("Migrating", Retry-After 300 s) now, until the switch is turned off',
    ]);
    const data = await readVolume(dir);
    expect(data.kind === 'snapshot' && data.data.MAINTENANCE_MODE).toBe('read-only');
    expect((await maintenance(['history'], dir)).stdout.split('\n')[0]).toContain('changed switch read-only, message set: migration');
    const window = await maintenance(['schedule', '--start', '2099-01-01T00:00:00Z'], dir);
    expect(window.code).toBe(2);
    expect(window.stderr).toMatch(
      /^maintenance: nothing written: --start would make the read-only switch, which holds read-only now, hold it only inside the window/,
    );
    const off = await maintenance(['off', '--reason', 'done'], dir);
    expect(off.stdout.split('\n')[1]).toBe('users: the application now; nothing is scheduled (message kept from before)');
  });

  it('names only the real problem of a rejected stored config, and repairs it as the panel does', async () => {
    const dir = await localDir();
    await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false', MAINTENANCE_MESSAGE: 'kept', MAINTENANCE_END: 'next tuesday' });
    const on = await maintenance(['on', '--reason', 'x'], dir);
    expect(on.code).toBe(2);
    expect(on.stderr).toBe(
      'maintenance: nothing written: the stored MAINTENANCE_END must be an RFC 3339 timestamp with a time zone, such as 2026-11-27T22:00:00Z: fix it, or drop it with the command repair\n',
    );
    expect((await maintenance(['status'], dir)).stdout).toContain('the stored config is rejected (MAINTENANCE_END: must be an RFC 3339');
    const repaired = await maintenance(['repair', '--reason', 'drop the bad end'], dir);
    expect(repaired).toMatchObject({ code: 0, stderr: '' });
    expect(repaired.stdout).toMatch(/^repaired directory \S+: dropped MAINTENANCE_END, by .+: drop the bad end\n/);
    expect(await readVolume(dir)).toMatchObject({ data: { MAINTENANCE_MODE: 'false', MAINTENANCE_MESSAGE: 'kept' } });
    expect((await maintenance(['repair'], dir)).stdout).toMatch(/^the stored config is valid; nothing to repair in directory/);
  });

  it('says when a file was written by hand over a key link, and its next change puts the link back', async () => {
    const dir = await localDir();
    rmSync(join(dir, 'MAINTENANCE_MODE'));
    writeFileSync(join(dir, 'MAINTENANCE_MODE'), 'true');
    const status = await maintenance(['status'], dir);
    expect(status.stdout).toContain(
      'refused by the instances: MAINTENANCE_MODE is a file written over the link into ..data, which is all that is followed',
    );
    expect(status.stdout).toContain('users: the application now');
    expect((await maintenance(['on', '--reason', 'the tools'], dir)).code).toBe(0);
    expect(lstatSync(join(dir, 'MAINTENANCE_MODE')).isSymbolicLink()).toBe(true);
    expect((await maintenance(['status'], dir)).stdout).not.toContain('refused');
    expect(await readVolume(dir)).toMatchObject({ data: { MAINTENANCE_MODE: 'true' } });
  });

  it('is quiet when what reads its output stops early (status | head -1)', async () => {
    const child = spawn(process.execPath, [CLI, '--local', 'history'], {
      cwd: ROOT,
      env: { ...process.env, LOCAL_CONFIG_DIR: await localDir() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // The reader is gone before the program writes a byte: every write meets EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'close')) as [number];
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('says what to check when --dir names no config directory', async () => {
    const { code, stderr } = await run(process.execPath, [CLI, 'on', '--dir', '/proc/no-such-dir']);
    expect(code).toBe(1);
    expect(stderr).toBe('maintenance: no config in /proc/no-such-dir yet; is --dir the directory npm start uses (LOCAL_CONFIG_DIR)?\n');
  });

  it('status finds the instances where npm start recorded them, and says who changed what last', async () => {
    const dir = await localDir();
    await maintenance(['on', '--reason', 'db upgrade'], dir);
    const server = createServer((socket) =>
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{"status":"ready"}'.replace('17', '18')),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    writeFileSync(`${dir}.instances.json`, JSON.stringify({ userPort: port, adminPort: port, pid: process.pid }));
    try {
      const { code, stdout } = await run(process.execPath, [CLI, '--local', 'status'], {
        LOCAL_CONFIG_DIR: dir,
        PORT: '1',
        ADMIN_PORT: '2',
      });
      expect(code).toBe(0);
      expect(stdout).toContain('users: the maintenance page (');
      expect(stdout).toMatch(/last change: .+ \(npm run maintenance\) at \d{4}-.+: db upgrade/);
      expect(stdout).toContain(`user instance on :${port}: /readyz 200 {"status":"ready"}`);
      expect(stdout).toContain(`admin instance on :${port}: /readyz 200`);
    } finally {
      server.close();
    }
  });

  it('runs from the sources: no build, dist/ untouched', async () => {
    const marker = join(ROOT, 'dist/cli/maintenance.js');
    const before = existsSync(marker) ? statSync(marker).mtimeMs : null;
    const { code, stdout } = await run('npm', ['run', '-s', 'maintenance', '--', 'status'], { LOCAL_CONFIG_DIR: await localDir() });
    expect(code).toBe(0);
    expect(stdout).toContain('users: the application now; nothing is scheduled');
    expect(existsSync(marker) ? statSync(marker).mtimeMs : null).toBe(before);
  });
});

describe('the Node.js version check of npm start and npm test', () => {
  it('accepts 24 and refuses anything else in one line', () => {
    expect(nodeVersionProblem('v24.21.0')).toBeNull();
    expect(nodeVersionProblem('v20.20.2')).toBe(
      'maintenance-switch needs Node.js 24, not v20.20.2: run  export PATH="$(bash scripts/node24.sh):$PATH"  and try again',
    );
    expect(nodeVersionProblem('v25.0.0')).toContain('not v25.0.0');
  });

  it('lets this Node 24 through, silently', async () => {
    const { code, stderr } = await run(process.execPath, [join(ROOT, 'scripts/check-node.mjs')]);
    expect(code).toBe(0);
    expect(stderr).toBe('');
  });
});

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('npm start (local mode)', () => {
  it('refuses PORT equal to ADMIN_PORT in one line, before the banner', async () => {
    const { code, stdout, stderr } = await run(process.execPath, [LOCAL], {
      PORT: '18080',
      ADMIN_PORT: '18080',
      LOCAL_CONFIG_DIR: await localDir(),
    });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe('npm start: ADMIN_PORT="18080" must differ from PORT (18080), the user instance\'s port\n');
  });

  it.each(['/proc/no-such/app-config', '/dev/null/app-config'])(
    'refuses a LOCAL_CONFIG_DIR it cannot make (%s) in one line naming it, exit 1',
    async (dir) => {
      const [userPort, adminPort] = [await freePort(), await freePort()];
      const { code, stdout, stderr } = await run(process.execPath, [LOCAL], {
        PORT: String(userPort),
        ADMIN_PORT: String(adminPort),
        LOCAL_CONFIG_DIR: dir,
      });
      expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
      expect(stderr).toMatch(
        new RegExp(
          `^npm start: LOCAL_CONFIG_DIR=${dir} cannot be made or read \\(E[A-Z]+: [^\\n]+\\); set LOCAL_CONFIG_DIR to a directory you may write\\n$`,
        ),
      );
    },
  );

  it('makes bypass links locally: the panel names the key file beside the directory, and the link works over plain HTTP', async () => {
    const [userPort, adminPort] = [await freePort(), await freePort()];
    const dir = await localDir();
    const { BYPASS_KEY_DIR: _unset, ...inherited } = process.env;
    const env = { ...inherited, PORT: String(userPort), ADMIN_PORT: String(adminPort), LOCAL_CONFIG_DIR: dir };
    const local = spawn(process.execPath, [LOCAL], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'ignore'] });
    const admin = `http://127.0.0.1:${adminPort}/admin/api`;
    const links = async () =>
      ((await (await fetch(`${admin}/maintenance`)).json()) as { bypassLinks: { available: boolean; enable: string | null } }).bypassLinks;
    try {
      const keyFile = `${dir}.bypass-key/key`;
      await waitFor('the admin instance', async () => ((await fetch(`${admin}/maintenance`).catch(() => null))?.ok ? true : undefined));
      expect((await links()).enable).toBe(
        `write a random key of 32 bytes or more to ${keyFile}, such as: openssl rand -base64 32 > ${keyFile}`,
      );
      await mkdir(`${dir}.bypass-key`);
      writeFileSync(keyFile, `${'k'.repeat(40)}\n`);
      await waitFor('the key to load', async () => ((await links()).available ? true : undefined));
      const made = await fetch(`${admin}/bypass-links`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ reason: 'local QA', expiresInSeconds: 3600 }),
      });
      expect(made.status).toBe(201);
      const { path } = (await made.json()) as { path: string };
      expect((await maintenance(['on', '--reason', 'local bypass'], dir)).code).toBe(0);
      const user = `http://127.0.0.1:${userPort}`;
      await waitFor('the user instance in maintenance', async () => ((await fetch(user)).status === 503 ? true : undefined));
      const redeemed = await fetch(`${user}${path}`, { redirect: 'manual' });
      const cookie = redeemed.headers.get('set-cookie') ?? '';
      expect(cookie).toMatch(/^maintenance_bypass=/);
      expect(cookie).not.toMatch(/;\s*Secure/i);
      expect((await fetch(user, { headers: { Cookie: cookie.split(';')[0]! } })).status).toBe(200);
    } finally {
      local.kill('SIGTERM');
      await once(local, 'exit');
    }
  });

  it('uses PORT and ADMIN_PORT, refuses a second start in one line before the banner, and its children die with it', async () => {
    const [userPort, adminPort] = [await freePort(), await freePort()];
    const env = { ...process.env, PORT: String(userPort), ADMIN_PORT: String(adminPort), LOCAL_CONFIG_DIR: await localDir() };
    const first = spawn(process.execPath, [LOCAL], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    first.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    first.stderr.resume();
    try {
      for (const port of [userPort, adminPort]) {
        await waitFor(`port ${port} to answer`, async () =>
          (await fetch(`http://127.0.0.1:${port}/livez`)).status === 200 ? true : undefined,
        );
      }

      // Its instances are recorded for npm run maintenance -- status, and its logs, to a pipe, carry no colour.
      expect(JSON.parse(readFileSync(`${env.LOCAL_CONFIG_DIR}.instances.json`, 'utf8'))).toEqual({ userPort, adminPort, pid: first.pid });
      await waitFor('a log line from each instance', () => (output.includes('[user]') && output.includes('[admin]') ? true : undefined));
      expect(output).not.toContain('\x1b[');

      const second = await run(process.execPath, [LOCAL], { PORT: String(userPort), ADMIN_PORT: String(adminPort) });
      expect(second.code).toBe(1);
      expect(second.stdout).toBe('');
      expect(second.stderr).toBe(`npm start: port ${userPort} is in use (another \`npm start\`?); stop it, or set PORT\n`);

      first.kill('SIGKILL');
      for (const port of [userPort, adminPort]) {
        await waitFor(`the child on ${port} to exit`, async () => {
          try {
            await fetch(`http://127.0.0.1:${port}/livez`);
            return undefined;
          } catch {
            return true;
          }
        });
      }
    } finally {
      first.kill('SIGKILL');
    }
  });
});

/** The pids of processes whose environment holds `marker` (this test's own config directory). */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(marker)) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

describe.skipIf(process.platform !== 'linux')('npm start under kill -9', () => {
  const start = async () => {
    const [userPort, adminPort] = [await freePort(), await freePort()];
    const dir = await localDir();
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(userPort), ADMIN_PORT: String(adminPort), LOCAL_CONFIG_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    npm.stdout.resume();
    npm.stderr.resume();
    for (const port of [userPort, adminPort]) {
      await waitFor(
        `port ${port} to answer`,
        async () => ((await fetch(`http://127.0.0.1:${port}/livez`)).status === 200 ? true : undefined),
        { timeoutMs: 60_000 },
      );
    }
    // npm itself, the shell it runs the script in, local.ts and the two instances.
    const marker = `LOCAL_CONFIG_DIR=${dir}`;
    expect(processesWith(marker).length).toBeGreaterThanOrEqual(4);
    return { npm, marker, ports: [userPort, adminPort] };
  };
  const everythingGone = async (marker: string, ports: number[]) => {
    await waitFor('every process of this npm start to exit', () => (processesWith(marker).length === 0 ? true : undefined), {
      timeoutMs: 30_000,
    });
    for (const port of ports) await expect(fetch(`http://127.0.0.1:${port}/livez`)).rejects.toThrow();
  };

  it('kill -9 of the npm start process stops both instances and frees their ports', async () => {
    const { npm, marker, ports } = await start();
    try {
      npm.kill('SIGKILL');
      await everythingGone(marker, ports);
    } finally {
      for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
    }
  });

  it('kill -9 of the local.ts supervisor: both instances exit, none hangs', async () => {
    const { marker, ports } = await start();
    try {
      const supervisor = processesWith(marker).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('src/cli/local.ts'));
      expect(supervisor).toBeDefined();
      process.kill(supervisor!, 'SIGKILL');
      await everythingGone(marker, ports);
    } finally {
      for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
    }
  });
});
