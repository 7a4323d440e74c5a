import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { waitFor } from '../helpers/wait.ts';

/** A kept-alive connection from `localAddress` that has had one answer, so the server has surely counted it. */
async function idleConnection(url: string, localAddress = '127.0.0.1'): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), localAddress });
  await once(socket, 'connect');
  socket.write(`GET /livez HTTP/1.1\r\nHost: test\r\n\r\n`);
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  expect(chunk.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
  return socket;
}

/** Whether a new connection from `localAddress` is served (true) or closed at accept (false). */
function isServed(url: string, localAddress = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${url}/livez`, { localAddress, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** A connection from `localAddress` that sends nothing at all. */
async function silentConnection(url: string, localAddress: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), localAddress });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

const isOpen = (socket: Socket) => !socket.destroyed && !socket.readableEnded;
const closedSoon = (socket: Socket) =>
  waitFor('the connection to be closed', () => (isOpen(socket) ? undefined : true), { timeoutMs: 10_000 });

describe('connection caps: idle connections make room, on every serving port and the probe port', () => {
  let server: TestServer;
  const held: Socket[] = [];

  beforeAll(async () => {
    server = await startTestServer({
      env: { PROBE_PORT: '0', MAX_CONNECTIONS: '6', MAX_CONNECTIONS_PER_CLIENT: '2', HTTP_FIRST_REQUEST_TIMEOUT_SECONDS: '600' },
    });
  });
  afterEach(() => {
    for (const socket of held.splice(0)) socket.destroy();
  });
  afterAll(async () => {
    await server?.close();
  });

  it("a client at its share: its next connection takes the place of its own longest-idle one; others' stay", async () => {
    const other = await idleConnection(server.url, '127.0.0.9');
    held.push(other);
    const first = await idleConnection(server.url);
    const second = await idleConnection(server.url);
    held.push(first, second);
    expect(await isServed(server.url)).toBe(true);
    await closedSoon(first);
    expect([isOpen(second), isOpen(other)]).toEqual([true, true]);
  });

  it.each([
    ['the serving port', () => server.url],
    ['the probe port', () => server.probeUrl!],
  ])('silent sockets from many clients never lock %s out', async (_port, url) => {
    // Every slot taken by sockets that never send a byte, two from each of three addresses.
    for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
      for (let index = 0; index < 2; index++) held.push(await silentConnection(url(), address));
    }
    // A new client is served, again and again, each time in the place of the longest-idle socket.
    for (let round = 0; round < 3; round++) expect(await isServed(url(), '127.0.0.5'), `round ${round}`).toBe(true);
    expect((await fetch(`${server.probeUrl!}/livez`)).status).toBe(200);
    expect((await fetch(`${server.probeUrl!}/readyz`)).status).toBe(200);
    await closedSoon(held[0]!);
  });

  it('the probe port answers while one client holds every connection of the serving port', async () => {
    for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
      for (let index = 0; index < 2; index++) held.push(await idleConnection(server.url, address));
    }
    const probes = server.probeUrl!;
    for (const path of ['/livez', '/readyz', '/status', '/metrics']) expect((await fetch(`${probes}${path}`)).status, path).toBe(200);
    // Only probes there: the application is not.
    expect((await fetch(`${probes}/`)).status).toBe(404);
  });
});

describe('a connection that never sends a request is cut (HTTP_FIRST_REQUEST_TIMEOUT_SECONDS)', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ env: { HTTP_FIRST_REQUEST_TIMEOUT_SECONDS: '1' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('closes the silent socket, and keeps the one that asked and is idle between requests', async () => {
    const asked = await idleConnection(server.url, '127.0.0.2');
    const silent = await silentConnection(server.url, '127.0.0.3');
    await closedSoon(silent);
    expect(isOpen(asked)).toBe(true);
    asked.destroy();
  });
});

describe("the gate's readiness counts only busy connections of its proxy port", () => {
  let upstream: Server;
  let gate: TestServer;
  const held: Socket[] = [];
  const hanging: (() => void)[] = [];

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      if (req.url === '/slow') hanging.push(() => res.end('slow'));
      else res.end('app');
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    gate = await startTestServer({
      role: 'gate',
      env: {
        UPSTREAM: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
        PROXY_PORT: '0',
        MAX_CONNECTIONS: '3',
        UPSTREAM_RESPONSE_TIMEOUT_SECONDS: '60',
      },
    });
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    for (const release of hanging) release();
    await gate?.close();
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  it('stays ready with every slot idle, and is not ready only while every slot has a request in flight', async () => {
    await gate.waitForReady(200);
    for (let index = 0; index < 3; index++) held.push(await silentConnection(gate.proxyUrl!, `127.0.0.${index + 2}`));
    expect(await isServed(gate.proxyUrl!, '127.0.0.9')).toBe(true);
    await gate.waitForReady(200);

    const slow = [2, 3, 4].map(
      (index) =>
        new Promise<number>((resolve) => {
          const req = request(`${gate.proxyUrl!}/slow`, { localAddress: `127.0.0.${index}`, agent: false }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', () => resolve(0));
          req.end();
        }),
    );
    await waitFor('three requests in flight', () => (hanging.length === 3 ? true : undefined));
    await gate.waitForReady(503);
    expect(await (await gate.get('/readyz')).json()).toEqual({ status: 'not_ready', reason: 'proxy_full' });
    expect(await isServed(gate.proxyUrl!, '127.0.0.9')).toBe(false);
    for (const release of hanging.splice(0)) release();
    expect(await Promise.all(slow)).toEqual([200, 200, 200]);
    await gate.waitForReady(200);
  });
});
