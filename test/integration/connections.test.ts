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

describe('connection caps: per client on every serving port, and probes on a port of their own', () => {
  let server: TestServer;
  const held: Socket[] = [];

  beforeAll(async () => {
    server = await startTestServer({ env: { PROBE_PORT: '0', MAX_CONNECTIONS: '8', MAX_CONNECTIONS_PER_CLIENT: '3' } });
  });
  afterEach(() => {
    for (const socket of held.splice(0)) socket.destroy();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('closes a client past its share at accept, and keeps serving the others', async () => {
    for (let index = 0; index < 3; index++) held.push(await idleConnection(server.url));
    expect(await isServed(server.url)).toBe(false);
    expect(await isServed(server.url, '127.0.0.2')).toBe(true);
  });

  it('answers the probes on the probe port while one client holds every connection of the serving port', async () => {
    for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
      for (let index = 0; index < 3 && held.length < 8; index++) held.push(await idleConnection(server.url, address));
    }
    expect(held).toHaveLength(8);
    expect(await isServed(server.url, '127.0.0.5')).toBe(false);
    const probes = server.probeUrl!;
    for (const path of ['/livez', '/readyz', '/status', '/metrics']) expect((await fetch(`${probes}${path}`)).status, path).toBe(200);
    // Only probes there: the application is not.
    expect((await fetch(`${probes}/`)).status).toBe(404);
  });
});

describe("the gate's readiness counts its proxy port", () => {
  let upstream: Server;
  let gate: TestServer;
  const held: Socket[] = [];

  beforeAll(async () => {
    upstream = createServer((_req, res) => res.end('app'));
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    gate = await startTestServer({
      role: 'gate',
      env: { UPSTREAM: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, PROXY_PORT: '0', MAX_CONNECTIONS: '3' },
    });
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await gate?.close();
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  it('is not ready while its proxy port cannot take another connection, and ready again after', async () => {
    await gate.waitForReady(200);
    for (let index = 0; index < 3; index++) held.push(await idleConnection(gate.proxyUrl!, `127.0.0.${index + 2}`));
    await gate.waitForReady(503);
    expect(await (await gate.get('/readyz')).json()).toEqual({ status: 'not_ready', reason: 'proxy_full' });
    for (const socket of held.splice(0)) socket.destroy();
    await gate.waitForReady(200);
    await waitFor('the proxy to serve again', async () => ((await fetch(gate.proxyUrl!)).status === 200 ? true : undefined));
  });
});
