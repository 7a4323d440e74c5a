import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserMissing, launchBrowser } from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

describe.skipIf(browserMissing !== null)('the demo page and the 503 page in headless Chromium', () => {
  let browser: Browser;
  let user: TestServer;

  beforeAll(async () => {
    browser = await launchBrowser();
    user = await startTestServer({ initial: { MAINTENANCE_MODE: 'false' } });
  });
  afterAll(async () => {
    await browser?.close();
    await user?.close();
  });

  /** The body's computed font, and every CSP complaint the page caused. */
  async function visit(): Promise<{ status: number; font: string; violations: string[] }> {
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    const response = await page.goto(`${user.url}/`);
    const font = String(await page.evaluate('getComputedStyle(document.body).fontFamily'));
    await page.close();
    return { status: response?.status() ?? 0, font, violations };
  }

  it('keeps the stylesheet font rule under the Content-Security-Policy', async () => {
    const demo = await visit();
    expect(demo.status).toBe(200);
    expect(demo.font).toContain('system-ui');
    expect(demo.font).toContain('Segoe UI');
    expect(demo.violations).toEqual([]);

    await user.write({ MAINTENANCE_MODE: 'true' });
    await user.waitForReady(503);
    const maintenance = await visit();
    expect(maintenance.status).toBe(503);
    expect(maintenance.font).toContain('system-ui');
    expect(maintenance.violations).toEqual([]);
  });
});
