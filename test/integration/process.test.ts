import { join } from 'node:path';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { writeVolumeAtomically } from '../../src/config/kubelet-volume.ts';
import { runToExit, spawnService } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/test-server.ts';
import { waitFor } from '../helpers/wait.ts';

describe('start-up with a bad environment', () => {
  it.each([
    [{ ROLE: 'boss' }, 'ROLE="boss" must be "user", "admin", "page" or "gate"'],
    [{ PORT: 'abc' }, 'PORT="abc" must be a port number from 0 to 65535'],
    [{ SHUTDOWN_DELAY_SECONDS: '-1' }, 'SHUTDOWN_DELAY_SECONDS="-1" must be a number of seconds'],
  ])('exits non-zero with one line naming the variable: %j', async (env, expected) => {
    const { code, stdout, stderr } = await runToExit(env);
    expect(code).not.toBe(0);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([`invalid environment: ${expected}`]);
  });
});

describe('start-up without a cluster where a role needs one', () => {
  it('the admin role exits 1 with one line naming the settings that run it without a cluster, no stack', async () => {
    const dir = join(await makeTempDir(), 'app-config');
    await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });
    const { code, stdout } = await runToExit({ ROLE: 'admin', HOST: '127.0.0.1', PORT: '0', CONFIG_DIR: dir, HOME: dir });
    expect(code).toBe(1);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as { msg: string; err?: unknown };
    expect(line.err).toBeUndefined();
    expect(line.msg).toBe(
      'start-up failed: no Kubernetes credentials: set KUBECONFIG, or run in a pod with a service account token; to run the admin without a cluster, set CONFIG_WRITER=directory (it writes CONFIG_DIR) and ADMIN_AUTH=token or none',
    );
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

describe('shutdown under load', () => {
  it('resets no request it accepted: in-flight and keep-alive requests finish, idle sockets close between requests', async () => {
    const dir = join(await makeTempDir(), 'app-config');
    await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });
    const service = await spawnService({ CONFIG_DIR: dir, SHUTDOWN_DELAY_SECONDS: '0', LOG_LEVEL: 'info' });
    const { port } = new URL(service.url);

    const outcomes = { ok: 0, closeAnswered: 0, refused: 0, reset: [] as string[] };
    let exited = false;
    void service.exited.then(() => (exited = true));
    const deadline = Date.now() + 20_000;
    const MAX_REQUESTS = 40_000;
    const total = () => outcomes.ok + outcomes.refused + outcomes.reset.length;

    // 25 clients, each on its own keep-alive connection, reconnecting when the server closes it.
    const worker = async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        while (!exited && Date.now() < deadline && total() < MAX_REQUESTS) {
          const result = await new Promise<string>((resolve) => {
            const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
              if (res.headers.connection === 'close') outcomes.closeAnswered++;
              res.resume();
              res.on('end', () => resolve('ok'));
              res.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
            });
            req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
            req.end();
          });
          if (result === 'ok') outcomes.ok++;
          else if (result === 'ECONNREFUSED') outcomes.refused++;
          else outcomes.reset.push(result);
          if (result === 'ECONNREFUSED') break;
        }
      } finally {
        agent.destroy();
      }
    };
    const workers = Array.from({ length: 25 }, worker);
    await waitFor('load to build up', () => (outcomes.ok >= 2000 ? true : undefined), { timeoutMs: 20_000 });
    service.child.kill('SIGTERM');
    await Promise.all(workers);
    console.log(
      `[shutdown under load] ${JSON.stringify({ ...outcomes, reset: outcomes.reset.length, resetCodes: [...new Set(outcomes.reset)] })}`,
    );
    expect(await service.exited).toEqual({ code: 0, signal: null });
    expect(outcomes.closeAnswered).toBeGreaterThan(0);
    expect(outcomes.reset).toEqual([]);
  });
});

describe('server timeouts and the connection cap', () => {
  const slowClient = (port: number) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    socket.on('error', () => {});
    let closed = false;
    socket.on('close', () => (closed = true));
    return { socket, answer: () => answer, closed: () => closed };
  };

  it('closes a slowloris connection once HTTP_HEADERS_TIMEOUT_SECONDS has passed', async () => {
    const dir = join(await makeTempDir(), 'app-config');
    await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });
    const service = await spawnService({
      CONFIG_DIR: dir,
      HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: '1',
      HTTP_HEADERS_TIMEOUT_SECONDS: '2',
      HTTP_REQUEST_TIMEOUT_SECONDS: '3',
    });
    const client = slowClient(Number(new URL(service.url).port));
    client.socket.write('GET / HTTP/1.1\r\nHost: test\r\n');
    // One more header line every half second: never a complete request.
    const drip = setInterval(() => client.socket.write('X-Slow: 1\r\n'), 500);
    try {
      await waitFor('the server to close the slow connection', () => (client.closed() ? true : undefined), { timeoutMs: 20_000 });
    } finally {
      clearInterval(drip);
      service.child.kill('SIGTERM');
      await service.exited;
    }
    expect(client.answer()).toMatch(/^HTTP\/1\.1 408/);
  });

  it('drops connections above MAX_CONNECTIONS and keeps serving the others', async () => {
    const dir = join(await makeTempDir(), 'app-config');
    await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });
    const service = await spawnService({ CONFIG_DIR: dir, MAX_CONNECTIONS: '3' });
    const port = Number(new URL(service.url).port);
    const clients: ReturnType<typeof slowClient>[] = [];
    for (let i = 0; i < 5; i++) {
      const client = slowClient(port);
      await once(client.socket, 'connect');
      clients.push(client);
    }
    try {
      await waitFor('two connections to be dropped', () => (clients.filter((c) => c.closed()).length === 2 ? true : undefined));
      const open = clients.filter((c) => !c.closed());
      for (const client of open) client.socket.write('GET /livez HTTP/1.1\r\nHost: test\r\n\r\n');
      await waitFor('the three others to be answered', () => (open.every((c) => c.answer().startsWith('HTTP/1.1 200')) ? true : undefined));
    } finally {
      for (const client of clients) client.socket.destroy();
      service.child.kill('SIGTERM');
      await service.exited;
    }
  });
});
