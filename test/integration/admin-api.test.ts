import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readVolume, writeVolumeAtomically } from '../../src/config/kubelet-volume.ts';
import { loadEnv } from '../../src/env.ts';
import { makeTempDir, startTestServer, type TestServer } from '../helpers/test-server.ts';

// The admin API with static tokens and the local directory writer: no API server needed.
describe('the admin API with ADMIN_AUTH=token and the directory writer', () => {
  let admin: TestServer;
  const TOKEN = 'correct-horse-battery-staple';

  beforeEach(async () => {
    const tokenFile = join(await makeTempDir(), 'tokens');
    await writeFile(tokenFile, `# operators\n${TOKEN},alice\nother-token\n`);
    admin = await startTestServer({
      role: 'admin',
      initial: { MAINTENANCE_MODE: 'false' },
      env: { ADMIN_AUTH: 'token', ADMIN_TOKEN_FILE: tokenFile, CONFIG_WRITER: 'directory' },
    });
  });
  afterEach(() => admin.close());

  const put = (body: unknown, headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` }) =>
    admin.get('/admin/api/maintenance', {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('toggles with a bearer token, records who and why, and the pods following the directory flip', async () => {
    const response = await put({ enabled: true, reason: 'maintenance window', message: 'Back soon' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      enabled: true,
      message: 'Back soon',
      changedBy: 'token:alice',
      reason: 'maintenance window',
    });
    expect(await readVolume(admin.dir)).toMatchObject({
      kind: 'snapshot',
      layout: 'kubelet',
      data: { MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'Back soon' },
    });
    const status = await admin.status();
    expect(status.ready).toBe(true);
  });

  it('answers 401 without a valid token and 409 for a stale version, writing nothing', async () => {
    expect((await put({ enabled: true, reason: 'x' }, {})).status).toBe(401);
    expect((await put({ enabled: true, reason: 'x' }, { Authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await put({ enabled: true, reason: 'x' }, { Authorization: 'Basic abc' })).status).toBe(401);
    const stale = await put({ enabled: true, reason: 'x', resourceVersion: '..2020_01_01_00_00_00.1' });
    expect(stale.status).toBe(409);
    expect(await readVolume(admin.dir)).toMatchObject({ data: { MAINTENANCE_MODE: 'false' } });
  });

  it('refuses a change that would make the stored config invalid, naming the field', async () => {
    await put({ enabled: false, reason: 'set a start', start: '2030-01-01T10:00:00Z' });
    const response = await put({ enabled: false, reason: 'end before the stored start', end: '2030-01-01T09:00:00Z' });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ field: 'end' });
  });

  it('trades a token for an HttpOnly SameSite=Strict session, and requires the CSRF token with it', async () => {
    const login = await admin.get('/admin/session', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(login.status).toBe(200);
    const { csrfToken, user } = (await login.json()) as { csrfToken: string; user: string };
    expect(user).toBe('token:alice');
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^maintenance_session=/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\/admin/);
    const session = cookie.split(';')[0]!;

    expect((await admin.get('/admin/api/maintenance', { headers: { Cookie: session } })).status).toBe(200);
    expect((await put({ enabled: true, reason: 'no csrf' }, { Cookie: session })).status).toBe(403);
    expect((await put({ enabled: true, reason: 'wrong csrf' }, { Cookie: session, 'X-CSRF-Token': 'nope' })).status).toBe(403);
    expect(
      (await put({ enabled: true, reason: 'cross-site' }, { Cookie: session, 'X-CSRF-Token': csrfToken, Origin: 'https://evil.example' }))
        .status,
    ).toBe(403);
    expect(await readVolume(admin.dir)).toMatchObject({ data: { MAINTENANCE_MODE: 'false' } });
    const host = new URL(admin.url).host;
    // Behind a TLS-terminating proxy the browser's Origin says https for the same host.
    expect(
      (await put({ enabled: true, reason: 'via proxy' }, { Cookie: session, 'X-CSRF-Token': csrfToken, Origin: `https://${host}` })).status,
    ).toBe(200);
    expect((await put({ enabled: true, reason: 'with csrf' }, { Cookie: session, 'X-CSRF-Token': csrfToken })).status).toBe(200);

    const tampered = session.replace(/.$/, (last) => (last === 'A' ? 'B' : 'A'));
    expect((await admin.get('/admin/api/maintenance', { headers: { Cookie: tampered } })).status).toBe(401);
  });

  it('serves the panel with a strict Content-Security-Policy and no inline script', async () => {
    const response = await admin.get('/admin');
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await response.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\son\w+=/);
    expect(html).not.toContain('style=');
    expect((await admin.get('/admin/assets/panel.js')).headers.get('content-type')).toMatch(/javascript/);
  });

  it('answers 415 to a body that is not JSON', async () => {
    const response = await admin.get('/admin/api/maintenance', {
      method: 'PUT',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'text/plain' },
      body: 'enabled=true',
    });
    expect(response.status).toBe(415);
  });
});

describe('a bypass link as a whole URL', () => {
  it('is built on the host a trusted proxy names, and is a bare path otherwise', async () => {
    const root = await makeTempDir();
    const tokenFile = join(root, 'tokens');
    await writeFile(tokenFile, 'link-token,alice\n');
    const keyDir = join(root, 'key');
    await writeVolumeAtomically(keyDir, { key: 'a-bypass-key-of-at-least-thirty-two-bytes' });
    const env = { ADMIN_AUTH: 'token', ADMIN_TOKEN_FILE: tokenFile, CONFIG_WRITER: 'directory', BYPASS_KEY_DIR: keyDir };
    const link = async (server: TestServer, headers: Record<string, string>) =>
      (await (
        await server.get('/admin/api/bypass-links', {
          method: 'POST',
          headers: { Authorization: 'Bearer link-token', 'Content-Type': 'application/json', ...headers },
          body: JSON.stringify({ reason: 'QA' }),
        })
      ).json()) as { path: string; url: string | null };
    const forwarded = { 'X-Forwarded-Host': 'shop.example.com', 'X-Forwarded-Proto': 'https' };
    const trusting = await startTestServer({ role: 'admin', env: { ...env, TRUSTED_PROXY_CIDRS: '127.0.0.1/32' } });
    const untrusting = await startTestServer({ role: 'admin', env });
    try {
      const viaProxy = await link(trusting, forwarded);
      expect(viaProxy.url).toBe(`https://shop.example.com${viaProxy.path}`);
      expect((await link(trusting, {})).url).toBeNull();
      expect((await link(trusting, { 'X-Forwarded-Host': 'evil.example/<x>' })).url).toBeNull();
      // From a client that is no trusted proxy, the header is nobody's word.
      expect((await link(untrusting, forwarded)).url).toBeNull();
    } finally {
      await Promise.all([trusting.close(), untrusting.close()]);
    }
  });
});

describe('ADMIN_AUTH=none', () => {
  it('is refused at start-up unless HOST is a loopback address', () => {
    expect(() => loadEnv({ ROLE: 'admin', ADMIN_AUTH: 'none', HOST: '0.0.0.0' })).toThrow(
      /ADMIN_AUTH="none" turns authentication off, which is only allowed when HOST is a loopback address, not "0.0.0.0"/,
    );
    expect(loadEnv({ ROLE: 'admin', ADMIN_AUTH: 'none', HOST: '127.0.0.1' }).ADMIN_AUTH).toBe('none');
    expect(() => loadEnv({ ROLE: 'admin', ADMIN_AUTH: 'token' })).toThrow(/ADMIN_TOKEN_FILE must name a file/);
  });

  it('defaults to kubernetes inside a cluster', () => {
    expect(loadEnv({ ROLE: 'admin', KUBERNETES_SERVICE_HOST: '10.0.0.1' }).ADMIN_AUTH).toBe('kubernetes');
  });
});
