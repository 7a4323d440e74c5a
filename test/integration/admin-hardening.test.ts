import { rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkedFetch } from '../helpers/contract.ts';
import { readVolume, writeVolumeAtomically } from '../../src/config/kubelet-volume.ts';
import { rssBytes, sendLargeBody } from '../helpers/http.ts';
import { spawnService, type ServiceProcess } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/test-server.ts';
import { waitFor } from '../helpers/wait.ts';

const TOKEN = 'hardening-test-token';

/** The admin role as its own process, with static tokens and the directory writer. */
async function startAdmin(env: Record<string, string> = {}) {
  const root = await makeTempDir();
  const dir = join(root, 'app-config');
  await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });
  const tokenFile = join(root, 'tokens');
  await writeFile(tokenFile, `${TOKEN},alice\n`);
  const admin = await spawnService({
    ROLE: 'admin',
    CONFIG_DIR: dir,
    CONFIG_SOURCE: 'volume',
    CONFIG_WRITER: 'directory',
    ADMIN_AUTH: 'token',
    ADMIN_TOKEN_FILE: tokenFile,
    SHUTDOWN_DELAY_SECONDS: '0',
    ...env,
  });
  return { admin, dir, tokenFile, root };
}

const stop = async (service: ServiceProcess | undefined) => {
  if (!service) return;
  service.child.kill('SIGTERM');
  await service.exited;
};

describe('admin request bodies are bounded before anything is parsed', () => {
  let admin: ServiceProcess;
  beforeAll(async () => ({ admin } = await startAdmin()));
  afterAll(() => stop(admin));

  it('answers 413 to a 50 MB body on every admin route, with or without Content-Length, and RSS stays flat', async () => {
    // Warm up the paths first, so lazily loaded code does not count as growth.
    await (await checkedFetch(`${admin.url}/admin/api/maintenance`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
    await (
      await checkedFetch(`${admin.url}/admin/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })
    ).text();
    const before = rssBytes(admin.child.pid!);
    const routes: [string, string][] = [
      ['POST', '/admin/session'],
      ['DELETE', '/admin/session'],
      ['PUT', '/admin/api/maintenance'],
    ];
    for (const [method, path] of routes) {
      for (const chunked of [false, true]) {
        const answer = await sendLargeBody(`${admin.url}${path}`, method, 50 * 1024 * 1024, {
          chunked,
          headers: { Authorization: `Bearer ${TOKEN}` },
        });
        expect(answer.status, `${method} ${path} chunked=${chunked}`).toBe(413);
        expect(JSON.parse(answer.body)).toMatchObject({ error: 'payload_too_large', field: 'body' });
      }
    }
    // A GET's body is never read at all: the request is answered as if it had none.
    const get = await sendLargeBody(`${admin.url}/admin/api/maintenance`, 'GET', 50 * 1024 * 1024, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    expect(get.status).toBe(200);
    const growth = rssBytes(admin.child.pid!) - before;
    console.log(`[admin] RSS growth after seven 50 MB bodies: ${(growth / 2 ** 20).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(20 * 2 ** 20);
  });

  it('still accepts the largest legal body', async () => {
    const response = await checkedFetch(`${admin.url}/admin/api/maintenance`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      // Every character escaped as \u00XX: the longest JSON a legal message and reason can take.
      body: `{"enabled":false,"reason":"${'\\u0072'.repeat(500)}","message":"${'\\u006d'.repeat(2000)}"}`,
    });
    expect(response.status).toBe(200);
  });
});

describe('sessions end on the server', () => {
  let admin: ServiceProcess;
  let tokenFile: string;
  beforeAll(async () => ({ admin, tokenFile } = await startAdmin()));
  afterAll(() => stop(admin));

  const signIn = async () => {
    const response = await checkedFetch(`${admin.url}/admin/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(response.status).toBe(200);
    const { csrfToken } = (await response.json()) as { csrfToken: string };
    return { cookie: response.headers.get('set-cookie')!.split(';')[0]!, csrfToken };
  };
  const replay = ({ cookie, csrfToken }: { cookie: string; csrfToken: string }) =>
    checkedFetch(`${admin.url}/admin/api/maintenance`, {
      method: 'PUT',
      headers: { Cookie: cookie, 'X-CSRF-Token': csrfToken, 'Content-Type': 'application/json' },
      body: JSON.stringify({ enabled: false, reason: 'replayed' }),
    });

  it('a session cookie replayed after sign-out gets 401', async () => {
    const session = await signIn();
    expect((await replay(session)).status).toBe(200);
    const out = await checkedFetch(`${admin.url}/admin/session`, {
      method: 'DELETE',
      headers: { Cookie: session.cookie, 'X-CSRF-Token': session.csrfToken },
    });
    expect(out.status).toBe(204);
    expect((await replay(session)).status).toBe(401);
  });

  it('a session dies within the documented 10 s once its token is removed from the token file', async () => {
    const session = await signIn();
    expect((await replay(session)).status).toBe(200);
    await writeFile(tokenFile, 'some-other-token,bob\n');
    // The bound is the auth cache's 10 s; the wait allows for a slow machine, and asserts no timing.
    const status = await waitFor(
      'the session to be refused',
      async () => {
        const response = await replay(session);
        return response.status === 200 ? undefined : response.status;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect([401, 403]).toContain(status);
  });
});

describe('ADMIN_AUTH=none answers only loopback host names (DNS rebinding)', () => {
  let admin: ServiceProcess;
  beforeAll(async () => ({ admin } = await startAdmin({ ADMIN_AUTH: 'none', TRUSTED_PROXY_CIDRS: '' })));
  afterAll(() => stop(admin));

  /** checkedFetch() does not let a test set Host, so this speaks HTTP/1.1 on a socket. */
  const rawPut = (host: string, extra = '') =>
    new Promise<number>((resolve, reject) => {
      const { port } = new URL(admin.url);
      const body = JSON.stringify({ enabled: false, reason: 'rebinding' });
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          `PUT /admin/api/maintenance HTTP/1.1\r\nHost: ${host}\r\nOrigin: http://${host}\r\n${extra}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
      let answer = '';
      socket.setEncoding('utf8').on('data', (data: string) => (answer += data));
      socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)));
      socket.on('error', reject);
    });

  it('refuses a rebound host name with 403, and serves localhost, 127.0.0.1 and [::1] with any port', async () => {
    expect(await rawPut('rebind.example:8081')).toBe(403);
    expect(await rawPut('rebind.example')).toBe(403);
    expect(await rawPut('localhost:8081')).toBe(200);
    expect(await rawPut('127.0.0.1:1234')).toBe(200);
    expect(await rawPut('[::1]:8081')).toBe(200);
  });

  it('ignores X-Forwarded-Host from a peer that is not a trusted proxy', async () => {
    expect(await rawPut('rebind.example', 'X-Forwarded-Host: localhost\r\n')).toBe(403);
  });
});

describe('authentication attempts are rate-limited per client address', () => {
  let admin: ServiceProcess;
  beforeAll(async () => ({ admin } = await startAdmin({ ADMIN_AUTH_ATTEMPTS_PER_MINUTE: '5' })));
  afterAll(() => stop(admin));

  it('answers 429 with Retry-After once the attempts are spent, counts it, and keeps a known token working', async () => {
    // A known token is cached after its first check, and costs nothing afterwards.
    expect((await checkedFetch(`${admin.url}/admin/api/maintenance`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 20; i++) {
      const response = await checkedFetch(`${admin.url}/admin/api/maintenance`, { headers: { Authorization: `Bearer garbage-${i}` } });
      statuses.push(response.status);
      if (response.status === 429) retryAfter ??= response.headers.get('retry-after');
      await response.text();
    }
    expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(statuses.slice(-10)).toEqual(Array(10).fill(429));
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    const metrics = await (await checkedFetch(`${admin.url}/metrics`)).text();
    expect(metrics).toMatch(/^admin_auth_rate_limited_total\{scope="client"\} (1[0-9]|[2-9]\d)$/m);
    expect((await checkedFetch(`${admin.url}/admin/api/maintenance`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });
});

describe('errors do not leak internals', () => {
  let admin: ServiceProcess;
  let tokenFile: string;
  let dir: string;
  beforeAll(async () => ({ admin, tokenFile, dir } = await startAdmin()));
  afterAll(() => stop(admin));

  it('a malformed resourceVersion is a 400 naming the field, and nothing is written', async () => {
    const before = await readVolume(dir);
    const response = await checkedFetch(`${admin.url}/admin/api/maintenance`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ enabled: true, reason: 'x', resourceVersion: 'not a version' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_request', field: 'resourceVersion' });
    expect(await readVolume(dir)).toEqual(before);
  });

  it('a missing token file makes the admin not ready, says why in /status, and answers 503 without the path', async () => {
    await rm(tokenFile);
    const status = await waitFor('the admin to report the token file', async () => {
      const response = await checkedFetch(`${admin.url}/readyz`);
      return response.status === 503 ? ((await response.json()) as Record<string, unknown>) : undefined;
    });
    expect(status).toEqual({ status: 'not_ready', reason: 'admin_unavailable' });
    const report = await (await checkedFetch(`${admin.url}/status`)).text();
    expect(JSON.parse(report)).toMatchObject({
      ready: false,
      notReadyReason: 'admin_unavailable',
      adminProblem: 'the token file (ADMIN_TOKEN_FILE) cannot be read: ENOENT',
    });
    expect(report).not.toContain(tokenFile);
    expect(report).not.toContain(dir);

    const response = await checkedFetch(`${admin.url}/admin/api/maintenance`, { headers: { Authorization: 'Bearer anything' } });
    expect(response.status).toBe(503);
    const body = await response.text();
    expect(body).toContain('ADMIN_TOKEN_FILE');
    expect(body).not.toContain(tokenFile);

    await writeFile(tokenFile, `${TOKEN}\n`);
    await waitFor('the admin to be ready again', async () =>
      (await checkedFetch(`${admin.url}/readyz`)).status === 200 ? true : undefined,
    );
  });
});
