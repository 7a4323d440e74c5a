import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeVolumeAtomically } from '../../src/config/kubelet-volume.ts';
import { browserMissing, launchBrowser } from '../helpers/browser.ts';
import { makeTempDir, startTestServer, type TestServer } from '../helpers/test-server.ts';


const TOKEN = 'panel-test-token';

describe.skipIf(browserMissing !== null)('the admin panel in headless Chromium', () => {
  let browser: Browser;
  let admin: TestServer;
  let user: TestServer;
  let page: Page;
  const violations: string[] = [];

  beforeAll(async () => {
    const root = await makeTempDir();
    const dir = join(root, 'app-config');
    await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });
    const tokenFile = join(root, 'tokens');
    await writeFile(tokenFile, `${TOKEN},panel-tester\n`);
    admin = await startTestServer({ role: 'admin', initial: null, dir, env: { ADMIN_AUTH: 'token', ADMIN_TOKEN_FILE: tokenFile, CONFIG_WRITER: 'directory' } });
    user = await startTestServer({ role: 'user', initial: null, dir });
    browser = await launchBrowser();
    page = await browser.newPage();
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    page.on('pageerror', (error) => violations.push(`page error: ${error.message}`));
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([admin?.close(), user?.close()]);
  });

  it('asks for a token, then shows the state', async () => {
    await page.goto(`${admin.url}/admin`);
    await page.locator('#login').waitFor({ state: 'visible' });
    await page.fill('#token', 'wrong-token');
    await page.click('#login-form button');
    await expect.poll(() => page.textContent('#notice')).toContain('not accepted');

    await page.fill('#token', TOKEN);
    await page.click('#login-form button');
    await page.locator('#state').waitFor({ state: 'visible' });
    expect(await page.textContent('#state-badge')).toBe('Off');
    expect(await page.textContent('#who')).toContain('token:panel-tester');

    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'maintenance_session', httpOnly: true, sameSite: 'Strict', path: '/admin' });
  });

  it('turns maintenance on with a reason, and the user pod leaves readiness', async () => {
    await page.fill('#message', 'Back at 22:00 UTC');
    await page.fill('#reason', 'browser test');
    await page.click('#toggle-button');
    await expect.poll(() => page.textContent('#state-badge')).toBe('On');
    expect(await page.textContent('#notice')).toBe('Maintenance is now on.');
    expect(await page.textContent('#state-change')).toContain('panel-tester');
    expect(await page.textContent('#state-change')).toContain('browser test');
    await user.waitForReady(503);
    await page.screenshot({ path: join(await makeTempDir('panel-'), 'panel-on.png') });
  });

  it('requires a reason before it sends anything', async () => {
    await page.fill('#reason', '');
    await page.click('#toggle-button');
    expect(await page.locator('#reason:invalid').count()).toBe(1);
    expect(await page.textContent('#state-badge')).toBe('On');
    // A request would have replaced the notice with the server's answer.
    expect(await page.textContent('#notice')).toBe('Maintenance is now on.');
  });

  it('reports a conflict when the config changed since it was loaded, and shows the new state', async () => {
    // Someone else, e.g. kubectl edit, turns maintenance off in the meantime.
    await writeVolumeAtomically(admin.dir, { MAINTENANCE_MODE: 'false', MAINTENANCE_MESSAGE: 'changed elsewhere' });
    await page.fill('#reason', 'stale page');
    await page.click('#toggle-button');
    await expect.poll(() => page.textContent('#notice')).toContain('changed by someone else');
    await expect.poll(() => page.textContent('#state-badge')).toBe('Off');
    expect(await page.textContent('#state-message')).toBe('changed elsewhere');
  });

  it('loaded without any Content-Security-Policy violation or script error', () => {
    expect(violations).toEqual([]);
  });
});
