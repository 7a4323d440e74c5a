import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
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

describe('your own 503 page (MAINTENANCE_PAGE_HTML), live from the switch', () => {
  const PAGE = '<!doctype html><title>Shop</title><h1>Shop is away</h1><p class="why">{{message}}</p><p>{{retryAfterSeconds}}</p>';

  it('serves it, filled in escaped, with the 503 headers and its own CSP; JSON clients still get JSON; a bad one keeps the last good page and says why', async () => {
    const user = await server({
      initial: {
        MAINTENANCE_MODE: 'true',
        MAINTENANCE_MESSAGE: 'Back at <noon> & soon',
        MAINTENANCE_RETRY_AFTER: '600',
        MAINTENANCE_PAGE_HTML: PAGE,
      },
    });
    const page = await user.get('/orders');
    expect(page.status).toBe(503);
    expect(await page.text()).toBe(
      '<!doctype html><title>Shop</title><h1>Shop is away</h1><p class="why">Back at &#60;noon&#62; &#38; soon</p><p>600</p>',
    );
    expect(headersOf(page)).toMatchObject({ ...SECURITY, 'x-robots-tag': 'noindex', 'retry-after': '600', 'cache-control': 'no-store' });
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'; style-src 'unsafe-inline' https:;/);
    expect(page.headers.get('content-security-policy')).not.toMatch(/script-src/);
    const json = await user.get('/orders', { headers: { Accept: 'application/json' } });
    expect(await json.json()).toEqual({ status: 'maintenance', message: 'Back at <noon> & soon', retryAfterSeconds: 600 });
    expect((await user.status()).config).toMatchObject({ page: expect.stringMatching(/^custom [0-9a-f]{12}$/) });

    // Without {{message}}: rejected like any bad key, and the last good page stays.
    await user.write({ MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'Back at noon', MAINTENANCE_PAGE_HTML: '<p>Gone fishing</p>' });
    await waitFor('the rejection', async () => ((await user.status()).lastError ? true : undefined));
    expect((await user.status()).lastError).toBe('MAINTENANCE_PAGE_HTML: must contain the placeholder {{message}}');
    expect(await (await user.get('/')).text()).toContain('<h1>Shop is away</h1>');

    // Taken away: the default page again.
    await user.write({ MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'Back at noon' });
    await waitFor('the default page', async () => ((await (await user.get('/')).text()).includes("We'll be back soon") ? true : undefined));
    expect((await user.status()).config).toMatchObject({ page: 'default' });
  });

  it('is what the page tier and the gate answer too', async () => {
    const initial = { MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'Back soon', MAINTENANCE_PAGE_HTML: PAGE };
    const page = await server({ role: 'page', initial });
    // Maintenance holds every request at the gate: nothing listens upstream, and nothing needs to.
    const gate = await server({ role: 'gate', initial, env: { UPSTREAM: 'http://127.0.0.1:9', PROXY_PORT: '0' } });
    const expected = '<!doctype html><title>Shop</title><h1>Shop is away</h1><p class="why">Back soon</p><p>300</p>';
    for (const answer of [await page.get('/anything'), await fetch(`${gate.proxyUrl!}/anything`)]) {
      expect(answer.status).toBe(503);
      expect(await answer.text()).toBe(expected);
      expect(answer.headers.get('content-security-policy')).toContain("style-src 'unsafe-inline' https:");
    }
  });
});
