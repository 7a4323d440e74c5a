import { join } from 'node:path';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { writeVolumeAtomically } from '../../src/config/kubelet-volume.ts';
import { runToExit, spawnService } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/test-server.ts';
import { waitFor } from '../helpers/wait.ts';

describe('start-up with a bad environment', () => {
  it.each([
    [{ ROLE: 'boss' }, 'ROLE="boss" must be "user", "admin" or "page"'],
    [{ PORT: 'abc' }, 'PORT="abc" must be a port number from 0 to 65535'],
    [{ SHUTDOWN_DELAY_SECONDS: '-1' }, 'SHUTDOWN_DELAY_SECONDS="-1" must be a number of seconds'],
  ])('exits non-zero with one line naming the variable: %j', async (env, expected) => {
    const { code, stdout, stderr } = await runToExit(env);
    expect(code).not.toBe(0);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([`invalid environment: ${expected}`]);
  });
});

describe('graceful shutdown on SIGTERM', () => {
  it('fails readiness at once, keeps serving through the delay, then exits 0', async () => {
    const dir = join(await makeTempDir(), 'app-config');
    await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });
    const service = await spawnService({ CONFIG_DIR: dir, SHUTDOWN_DELAY_SECONDS: '2', LOG_LEVEL: 'info' });
    await waitFor('ready', async () => ((await fetch(`${service.url}/readyz`)).status === 200 ? true : undefined));

    service.child.kill('SIGTERM');
    await waitFor('the signal to be logged', () => (service.logs().some((l) => l.msg === 'signal received') ? true : undefined));
    const readiness = await fetch(`${service.url}/readyz`);
    expect(readiness.status).toBe(503);
    expect(await readiness.json()).toEqual({ status: 'not_ready', reason: 'shutting_down' });
    // Traffic that was already routed here is still answered during the delay.
    const page = await fetch(`${service.url}/`);
    expect(page.status).toBe(200);
    expect(service.logs().some((l) => l.msg === 'stopped')).toBe(false);

    expect(await service.exited).toEqual({ code: 0, signal: null });
    expect(service.logs().map((l) => l.msg)).toContain('stopped');
    await expect(fetch(`${service.url}/livez`)).rejects.toThrow();
  });

  it('answers a request that is in flight when the listener closes, then exits 0 promptly', async () => {
    const dir = join(await makeTempDir(), 'app-config');
    await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });
    const service = await spawnService({ CONFIG_DIR: dir, SHUTDOWN_DELAY_SECONDS: '0', LOG_LEVEL: 'info' });

    // Half a request reaches the server, SIGTERM arrives, then the request completes.
    const socket = connect(Number(new URL(service.url).port), '127.0.0.1');
    await once(socket, 'connect');
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    const socketClosed = once(socket, 'close');
    socket.write('GET / HTTP/1.1\r\nHost: test\r\n');
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the bytes reach the server
    service.child.kill('SIGTERM');
    await waitFor('shutdown to begin', () => (service.logs().some((l) => l.msg === 'signal received') ? true : undefined));
    socket.write('\r\n');

    await socketClosed;
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(await service.exited).toEqual({ code: 0, signal: null });
  });
});
