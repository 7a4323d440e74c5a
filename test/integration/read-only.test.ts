import { once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signBypassToken } from '../../src/maintenance/bypass-token.ts';
import { writeVolumeAtomically } from '../../src/config/kubelet-volume.ts';
import { makeTempDir, startTestServer, type TestServer } from '../helpers/test-server.ts';
import { waitFor } from '../helpers/wait.ts';

const KEY = 'a-bypass-key-of-at-least-thirty-two-bytes';

/** What the application behind the gate received: every request, with its whole body. */
interface Received {
  method: string;
  url: string;
  body: string;
}

/** A real application that records every request it gets, answers 200 with what it got, and accepts WebSockets. */
async function startRecordingApp() {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', body });
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`app ${req.method} ${req.url} ${body}`);
    });
  });
  server.on('upgrade', (req, socket) => {
    received.push({ method: `UPGRADE ${req.method}`, url: req.url ?? '', body: '' });
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { received, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function send(url: string, method: string, options: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: options.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const graphql = (query: string, operationName?: string) =>
  JSON.stringify(operationName === undefined ? { query } : { query, operationName });
const JSON_BODY = { 'Content-Type': 'application/json' };

/** The rules every enforcing tier follows; `url` is where users' requests go (the gate's proxy port, or the user role). */
function readOnlyRules(setup: () => { url: string; server: TestServer; received: () => Received[] | null }) {
  const at = (path: string) => `${setup().url}${path}`;
  /** What reached the application since `before`; null where there is no separate application (the user role). */
  const reachedSince = (before: number) => setup().received()?.slice(before) ?? null;
  const count = () => setup().received()?.length ?? 0;

  it('lets GET, HEAD and OPTIONS through and refuses every other method with a 503 that never reaches the app, all marked read-only', async () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) {
      const answer = await send(at('/orders'), method);
      expect(answer.status, method).not.toBe(503);
      expect(answer.headers['maintenance-mode'], method).toBe('read-only');
    }
    const before = count();
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const answer = await send(at('/orders/7'), method, { body: method === 'DELETE' ? undefined : 'change=1' });
      expect(answer.status, method).toBe(503);
      expect(answer.headers['retry-after'], method).toBe('300');
      expect(answer.headers['maintenance-mode'], method).toBe('read-only');
      expect(answer.body, method).toContain('Changes are paused');
      expect(answer.headers.refresh, `${method}: reloading would send the write again`).toBeUndefined();
    }
    const json = await send(at('/orders'), 'POST', { headers: { Accept: 'application/json' }, body: '{}' });
    expect(JSON.parse(json.body)).toEqual({ status: 'read-only', message: 'Migrating the database.', retryAfterSeconds: 300 });
    expect(reachedSince(before) ?? []).toEqual([]);
  });

  it('takes writes on allowed paths and from bypass holders', async () => {
    const before = count();
    const login = await send(at('/login'), 'POST', { body: 'user=ann' });
    expect(login.status).toBe(setup().received() ? 200 : 404);
    expect(login.headers['maintenance-mode']).toBe('read-only');
    const token = signBypassToken(Buffer.from(KEY), Date.now() + 3600_000);
    const visit = await send(at(`/__maintenance/bypass?token=${token}`), 'GET');
    const cookie = String(visit.headers['set-cookie']?.[0]).split(';')[0]!;
    const write = await send(at('/orders/7'), 'DELETE', { headers: { Cookie: cookie } });
    expect(write.status).not.toBe(503);
    expect(write.headers['maintenance-mode']).toBe('read-only');
    expect(write.headers['cache-control']).toMatch(/private/);
    const reached = reachedSince(before);
    if (reached) expect(reached.map(({ method, url }) => `${method} ${url}`)).toEqual(['POST /login', 'DELETE /orders/7']);
  });

  it('judges GraphQL: a query passes with its body intact, a mutation or anything that cannot be judged is refused', async () => {
    const passes = [
      { body: graphql('{ orders { id } }') },
      { body: graphql('query A { orders { id } } mutation B { cancel(id: 7) }', 'A') },
      { body: `[${graphql('{ a }')}, ${graphql('query Q { b }', 'Q')}]` },
      { body: '{ orders { id } }', headers: { 'Content-Type': 'application/graphql' } },
      { method: 'GET', path: `/graphql?query=${encodeURIComponent('{ orders { id } }')}` },
    ];
    for (const { body, headers, method, path } of passes) {
      const before = count();
      const answer = await send(at(path ?? '/graphql'), method ?? 'POST', { headers: headers ?? JSON_BODY, body });
      expect(answer.status, body ?? path).not.toBe(503);
      expect(answer.headers['maintenance-mode']).toBe('read-only');
      const reached = reachedSince(before);
      if (reached) expect(reached, body ?? path).toEqual([{ method: method ?? 'POST', url: path ?? '/graphql', body: body ?? '' }]);
    }
    const refused = [
      { body: graphql('mutation { cancel(id: 7) }') },
      { body: graphql('query A { orders { id } } mutation B { cancel(id: 7) }', 'B') },
      { body: graphql('query A { a } mutation B { b }') },
      { body: graphql('subscription { orderPlaced { id } }') },
      { body: `[${graphql('{ a }')}, ${graphql('mutation { b }')}]` },
      { body: graphql('{ orders { id ') },
      { body: '{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"abc"}}}' },
      { body: 'query=%7B%20a%20%7D', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } },
      { body: graphql(`{ a }${' '.repeat(300 * 1024)}`) },
      { method: 'GET', path: `/graphql?query=${encodeURIComponent('mutation { cancel(id: 7) }')}` },
    ];
    const before = count();
    for (const { body, headers, method, path } of refused) {
      const answer = await send(at(path ?? '/graphql'), method ?? 'POST', {
        headers: { ...(headers ?? JSON_BODY), Accept: 'application/json' },
        body,
      });
      expect(answer.status, (body ?? path ?? '').slice(0, 80)).toBe(503);
      expect(JSON.parse(answer.body).status).toBe('read-only');
    }
    expect(reachedSince(before) ?? []).toEqual([]);
  });

  it('follows the switch live: off passes writes, read-only refuses them, on refuses everything, off again passes', async () => {
    const { server } = setup();
    const post = () => send(at('/orders'), 'POST', { body: 'x' });
    await server.write({ MAINTENANCE_MODE: 'false' });
    await waitFor('off', () => (!server.state.current.readOnly ? true : undefined));
    const off = await post();
    expect(off.status).not.toBe(503);
    expect(off.headers['maintenance-mode']).toBeUndefined();
    await server.write({ MAINTENANCE_MODE: 'true' });
    await waitFor('on', () => (server.state.current.active ? true : undefined));
    const on = await send(at('/orders'), 'GET');
    expect(on.status).toBe(503);
    expect(on.body).toContain('back soon');
    expect(on.headers['maintenance-mode']).toBeUndefined();
    await server.write({ MAINTENANCE_MODE: 'read-only', MAINTENANCE_MESSAGE: 'Migrating the database.' });
    await waitFor('read-only', () => (server.state.current.readOnly ? true : undefined));
    await server.waitForReady(200);
    expect((await post()).status).toBe(503);
    expect((await send(at('/orders'), 'GET')).status).not.toBe(503);
  });
}

const READ_ONLY = {
  MAINTENANCE_MODE: 'read-only',
  MAINTENANCE_MESSAGE: 'Migrating the database.',
  MAINTENANCE_ALLOW_PATHS: '/login',
  MAINTENANCE_GRAPHQL_PATHS: '/graphql',
};

describe('read-only mode through the gate that users pass through (GATE_TRAFFIC=all), in front of a real application', () => {
  let app: Awaited<ReturnType<typeof startRecordingApp>>;
  let gate: TestServer;

  beforeAll(async () => {
    app = await startRecordingApp();
    const keyDir = join(await makeTempDir('bypass-key-'), 'maintenance-bypass');
    await writeVolumeAtomically(keyDir, { key: KEY });
    gate = await startTestServer({
      role: 'gate',
      initial: READ_ONLY,
      env: { UPSTREAM: app.url, PROXY_PORT: '0', GATE_TRAFFIC: 'all', BYPASS_KEY_DIR: keyDir },
    });
  });
  afterEach(async () => {
    await gate.write(READ_ONLY);
    await waitFor('read-only', () => (gate.state.current.readOnly && gate.state.current.config?.allowPaths.length ? true : undefined));
  });
  afterAll(async () => {
    await gate?.close();
    app.server.closeAllConnections();
    await new Promise((resolve) => app.server.close(resolve));
  });

  readOnlyRules(() => ({ url: gate.proxyUrl!, server: gate, received: () => app.received }));

  it('stays ready and says read-only on /status and in the metrics', async () => {
    await gate.waitForReady(200);
    expect(await gate.status()).toMatchObject({ ready: true, maintenance: false, mode: 'read-only', failedClosed: null });
    expect(await (await gate.get('/metrics')).text()).toContain('maintenance_mode{mode="read-only"} 1');
  });

  it('refuses a WebSocket, which carries writes too, unless its path is allowed', async () => {
    const handshake = async (path: string) => {
      const socket = connect(Number(new URL(gate.proxyUrl!).port), '127.0.0.1');
      await once(socket, 'connect');
      socket.write(`GET ${path} HTTP/1.1\r\nHost: gate.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      socket.destroy();
      return chunk.toString('latin1');
    };
    expect(await handshake('/ws')).toMatch(/^HTTP\/1\.1 503 [\s\S]*Maintenance-Mode: read-only/);
    expect(await handshake('/login/ws')).toMatch(/^HTTP\/1\.1 101 /);
    expect(app.received.filter(({ method }) => method.startsWith('UPGRADE')).map(({ url }) => url)).toEqual(['/login/ws']);
  });
});

describe('read-only mode in the demo user role, which enforces it itself', () => {
  let user: TestServer;
  beforeAll(async () => {
    const keyDir = join(await makeTempDir('bypass-key-'), 'maintenance-bypass');
    await writeVolumeAtomically(keyDir, { key: KEY });
    user = await startTestServer({ role: 'user', initial: READ_ONLY, env: { BYPASS_KEY_DIR: keyDir } });
  });
  afterEach(async () => {
    await user.write(READ_ONLY);
    await waitFor('read-only', () => (user.state.current.readOnly && user.state.current.config?.allowPaths.length ? true : undefined));
  });
  afterAll(async () => {
    await user?.close();
  });

  readOnlyRules(() => ({ url: user.url, server: user, received: () => null }));
});

describe('a gate that users do not pass through (GATE_TRAFFIC=bypass, the default) fails closed in read-only', () => {
  let app: Awaited<ReturnType<typeof startRecordingApp>>;
  let gate: TestServer;
  beforeAll(async () => {
    app = await startRecordingApp();
    gate = await startTestServer({ role: 'gate', initial: READ_ONLY, env: { UPSTREAM: app.url, PROXY_PORT: '0' } });
  });
  afterAll(async () => {
    await gate?.close();
    await new Promise((resolve) => app.server.close(resolve));
  });

  it('holds maintenance on instead: not ready, the maintenance page to everyone, and /status says why', async () => {
    await gate.waitForReady(503);
    const status = await gate.status();
    expect(status).toMatchObject({ ready: false, notReadyReason: 'maintenance', maintenance: true, mode: 'on' });
    expect(status.failedClosed).toMatch(/GATE_TRAFFIC=bypass[\s\S]*kustomize\/components\/gate-proxy/);
    for (const method of ['GET', 'POST']) {
      const answer = await send(`${gate.proxyUrl!}/orders`, method, { body: method === 'POST' ? 'x' : undefined });
      expect(answer.status, method).toBe(503);
      expect(answer.body).toContain('back soon');
    }
    expect(app.received).toEqual([]);
  });
});
