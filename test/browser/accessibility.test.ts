import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeVolumeAtomically } from '../../src/config/kubelet-volume.ts';
import { UPSTREAM_ERROR_PAGE, demoPage, maintenancePage, readOnlyPage } from '../../src/http/pages.ts';
import { accessibilityViolations, browserMissing, launchBrowser } from '../helpers/browser.ts';
import { makeTempDir, startTestServer, type TestServer } from '../helpers/test-server.ts';

const TOKEN = 'accessibility-test-token';
const SCHEMES = ['light', 'dark'] as const;

// WCAG 2.1 A and AA with axe-core, in both colour schemes: no serious or critical violation.
describe.skipIf(browserMissing !== null)('accessibility of every page and panel state (axe-core, WCAG 2.1 AA)', () => {
  let browser: Browser;
  let admin: TestServer;
  let shots: string;

  beforeAll(async () => {
    const root = await makeTempDir();
    const tokenFile = join(root, 'tokens');
    await writeFile(tokenFile, `${TOKEN},accessibility\n`);
    admin = await startTestServer({
      role: 'admin',
      initial: { MAINTENANCE_MODE: 'false' },
      env: { ADMIN_AUTH: 'token', ADMIN_TOKEN_FILE: tokenFile, CONFIG_WRITER: 'directory' },
    });
    browser = await launchBrowser();
    shots = await makeTempDir('accessibility-');
  });

  afterAll(async () => {
    await browser?.close();
    await admin?.close();
  });

  const inScheme = async <T>(scheme: (typeof SCHEMES)[number], run: (context: BrowserContext) => Promise<T>) => {
    const context = await browser.newContext({ colorScheme: scheme, timezoneId: 'UTC' });
    try {
      return await run(context);
    } finally {
      await context.close();
    }
  };

  it('the 503 page, the read-only 503 page, the 502 and 504 pages and the demo page', async () => {
    const pages = {
      maintenance: maintenancePage({ message: 'Upgrading the database.', retryAfterSeconds: 300, until: '22:00 UTC' }),
      'read-only': readOnlyPage({ message: 'Migrating the catalogue.', retryAfterSeconds: 300, until: null }),
      'error-502': UPSTREAM_ERROR_PAGE[502],
      'error-504': UPSTREAM_ERROR_PAGE[504],
      demo: demoPage('pod-1', 'user'),
    };
    for (const scheme of SCHEMES) {
      await inScheme(scheme, async (context) => {
        const page = await context.newPage();
        for (const [name, html] of Object.entries(pages)) {
          await page.setContent(html);
          expect(await accessibilityViolations(page), `${name}, ${scheme}`).toEqual([]);
          await page.screenshot({ path: join(shots, `${name}-${scheme}.png`) });
        }
      });
    }
  });

  it('the panel signed out, off, on by the switch, read-only, on by a window, and with a toast up', async () => {
    for (const scheme of SCHEMES) {
      await inScheme(scheme, async (context) => {
        const page = await context.newPage();
        await page.goto(`${admin.url}/admin`);
        await page.locator('#login').waitFor({ state: 'visible' });
        expect(await accessibilityViolations(page), `signed out, ${scheme}`).toEqual([]);
        await page.fill('#token', TOKEN);
        await page.click('#login-form button');
        await page.locator('#state').waitFor({ state: 'visible' });
        const states = [
          ['off', { MAINTENANCE_MODE: 'false' }, 'Off'],
          ['switch', { MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'Back soon' }, 'On'],
          ['read-only', { MAINTENANCE_MODE: 'read-only', MAINTENANCE_MESSAGE: 'Migrating' }, 'Read-only'],
          [
            'window',
            { MAINTENANCE_MODE: 'false', MAINTENANCE_START: '2020-01-01T00:00:00Z', MAINTENANCE_END: '2099-01-01T00:00:00Z' },
            'On',
          ],
        ] as const;
        for (const [name, config, badge] of states) {
          await writeVolumeAtomically(admin.dir, config);
          await expect.poll(() => page.textContent('#state-badge')).toBe(badge);
          expect(await accessibilityViolations(page), `${name}, ${scheme}`).toEqual([]);
          await page.screenshot({ path: join(shots, `panel-${name}-${scheme}.png`), fullPage: true });
        }
        // A toast on screen, the one people read in an incident.
        await page.fill('#reason', 'accessibility');
        await page.click('#toggle-button');
        await page.locator('#toast').waitFor({ state: 'visible' });
        expect(await accessibilityViolations(page), `toast, ${scheme}`).toEqual([]);
      });
    }
  });

  it('signs in and turns the switch on and off with the keyboard alone', async () => {
    await inScheme('light', async (context) => {
      const page = await context.newPage();
      await page.goto(`${admin.url}/admin`);
      await page.locator('#login').waitFor({ state: 'visible' });
      /** Presses Tab until the element with this id has the focus, as a keyboard user would. */
      const tabTo = async (id: string) => {
        for (let presses = 0; presses < 40; presses++) {
          if (
            (await page.evaluate(
              () => (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document.activeElement?.id,
            )) === id
          )
            return;
          await page.keyboard.press('Tab');
        }
        throw new Error(`#${id} never got the focus by Tab`);
      };
      await writeVolumeAtomically(admin.dir, { MAINTENANCE_MODE: 'false' });
      await tabTo('token');
      await page.keyboard.type(TOKEN);
      await page.keyboard.press('Enter');
      await page.locator('#state').waitFor({ state: 'visible' });
      for (const [reason, badge] of [
        ['keyboard on', 'On'],
        ['keyboard off', 'Off'],
      ] as const) {
        await tabTo('reason');
        await page.keyboard.type(reason);
        await page.keyboard.press('Enter');
        await expect.poll(() => page.textContent('#state-badge')).toBe(badge);
      }
    });
  });
});
