import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeVolumeAtomically } from '../../src/config/kubelet-volume.ts';
import { signBypassToken } from '../../src/maintenance/bypass-token.ts';
import { makeTempDir, startTestServer, type TestServer } from '../helpers/test-server.ts';

const KEY = 'a-bypass-key-of-at-least-thirty-two-bytes';

describe('bypass links on the user and page roles', () => {
  let user: TestServer;
  let page: TestServer;

  beforeAll(async () => {
    const keyDir = join(await makeTempDir('bypass-key-'), 'maintenance-bypass');
    await writeVolumeAtomically(keyDir, { key: KEY });
    const env = { BYPASS_KEY_DIR: keyDir, BYPASS_COOKIE_SECURE: 'false' };
    user = await startTestServer({ role: 'user', initial: { MAINTENANCE_MODE: 'true' }, env });
    page = await startTestServer({ role: 'page', initial: { MAINTENANCE_MODE: 'true' }, env });
  });
  afterAll(async () => {
    await user?.close();
    await page?.close();
  });

  it('a tester with a link sees the application, uncached; everyone else, and every forged cookie, the 503 page', async () => {
    // On a whole second, as the token carries it: the bounds below are then the pod's own arithmetic.
    const expiresAt = Math.floor((Date.now() + 600_000) / 1000) * 1000;
    const token = signBypassToken(Buffer.from(KEY), expiresAt);
    const sentAt = Date.now();
    const visit = await user.get(`/__maintenance/bypass?token=${token}`, { redirect: 'manual' });
    const answeredAt = Date.now();
    expect(visit.status).toBe(302);
    expect(visit.headers.get('location')).toBe('/');
    const cookie = visit.headers.get('set-cookie')!;
    // BYPASS_COOKIE_SECURE=false, for plain-HTTP local use: no Secure attribute.
    expect(cookie).toMatch(/^maintenance_bypass=b1\.[^;]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
    // The cookie lasts as long as the link has left when the pod answered, whenever that was.
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)![1]);
    expect(maxAge).toBeGreaterThanOrEqual(Math.floor((expiresAt - answeredAt) / 1000));
    expect(maxAge).toBeLessThanOrEqual(Math.ceil((expiresAt - sentAt) / 1000));

    const app = await user.get('/', { headers: { Cookie: cookie.split(';')[0]! } });
    expect(app.status).toBe(200);
    expect(await app.text()).toContain('Hello from the sample app');
    expect(app.headers.get('cache-control')).toBe('private, no-store');

    const everyone = await user.get('/');
    const body = await everyone.text();
    expect(everyone.status).toBe(503);
    for (const forged of [
      'nonsense',
      // A changed character in the signature; not the last, whose low bits base64url does not use.
      `${token.slice(0, -2)}${token.at(-2) === 'A' ? 'B' : 'A'}${token.at(-1)}`,
      signBypassToken(Buffer.from(KEY), Date.now() - 1),
    ]) {
      const response = await user.get('/', { headers: { Cookie: `maintenance_bypass=${forged}` } });
      expect([response.status, await response.text()]).toEqual([503, body]);
    }
  });

  it('answers 405 to any method but GET on the bypass path, never the maintenance page', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const response = await user.get('/__maintenance/bypass', { method });
      expect([method, response.status, response.headers.get('allow')]).toEqual([method, 405, 'GET, HEAD']);
      await response.text();
    }
  });

  it('the page tier sets the cookie too, so a route that matches on it can send the tester to the application', async () => {
    const token = signBypassToken(Buffer.from(KEY), Date.now() + 600_000);
    const visit = await page.get(`/__maintenance/bypass?token=${token}`, { redirect: 'manual' });
    expect(visit.status).toBe(302);
    expect(visit.headers.get('set-cookie')).toMatch(/^maintenance_bypass=/);
    const forged = await page.get('/__maintenance/bypass?token=forged', { redirect: 'manual' });
    expect([forged.status, forged.headers.get('set-cookie')]).toEqual([302, null]);
  });
});

describe('the bypass key in /status, which anyone who reaches a pod may read', () => {
  it('says why links are off without naming a path, for a missing, a short and an unreadable key', async () => {
    const root = await makeTempDir('bypass-status-');
    const missing = join(root, 'missing');
    const short = join(root, 'short');
    await writeVolumeAtomically(short, { key: 'five!' });
    const unreadable = join(root, 'unreadable');
    await writeVolumeAtomically(unreadable, { MAINTENANCE_MODE: 'false' });
    // A key that is a directory: it is refused before a byte is read.
    await writeVolumeAtomically(join(unreadable, 'key'), { inner: 'x' });
    for (const [dir, expected] of [
      [missing, 'no key "key" in the bypass key Secret: bypass links are off'],
      [short, 'the bypass key has 5 bytes, fewer than 32: bypass links are off'],
      [unreadable, 'cannot read the bypass key (key key is not a regular file (a directory)): bypass links are off'],
    ] as const) {
      const server = await startTestServer({ role: 'user', env: { BYPASS_KEY_DIR: dir } });
      try {
        const status = await server.status();
        expect(status.bypassKey, dir).toEqual({ state: dir === missing ? 'absent' : 'invalid', problem: expected });
        expect(JSON.stringify(status)).not.toContain(root);
      } finally {
        await server.close();
      }
    }
  });
});
