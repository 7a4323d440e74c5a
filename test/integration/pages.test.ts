import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function server(options: Parameters<typeof startTestServer>[0]) {
  const started = await startTestServer(options);
  servers.push(started);
  return started;
}

const SECURITY = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};
const headersOf = (response: Response) => Object.fromEntries(response.headers);

describe('security headers on every HTML answer', () => {
  it('the 503 page (also noindex) and the panel; not the demo page, which stands in for the app', async () => {
    const user = await server({ initial: { MAINTENANCE_MODE: 'false' } });
    await user.waitForReady(200);
    const demo = await user.get('/');
    expect(demo.headers.get('content-security-policy')).toBeNull();

    await user.write({ MAINTENANCE_MODE: 'true' });
    await user.waitForReady(503);
    const page = await user.get('/');
    expect(page.status).toBe(503);
    expect(headersOf(page)).toMatchObject({ ...SECURITY, 'x-robots-tag': 'noindex' });
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");

    const admin = await server({ role: 'admin', env: { CONFIG_WRITER: 'directory' } });
    const panel = await admin.get('/admin');
    expect(headersOf(panel)).toMatchObject(SECURITY);
    expect(panel.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });
});

describe('the 503 page during a window', () => {
  it('caps Retry-After at 7 days and says until when', async () => {
    const s = await server({ initial: { MAINTENANCE_START: '2020-01-01T00:00:00Z', MAINTENANCE_END: '9999-12-31T22:00:00Z' } });
    await s.waitForReady(503);
    const response = await s.get('/');
    expect(response.headers.get('retry-after')).toBe('604800');
    const body = await response.text();
    expect(body).toContain('Maintenance lasts until 9999-12-31 22:00 UTC.');
    expect(body).not.toMatch(/\d{6,} minutes/);
  });
});
