import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_STREAMS_PER_IDENTITY } from '../../src/http/admin/app.ts';
import { writeVolumeAtomically } from '../../src/config/kubelet-volume.ts';
import { browserMissing, launchBrowser } from '../helpers/browser.ts';
import { makeTempDir, startTestServer, type TestServer } from '../helpers/test-server.ts';

const TOKEN = 'live-feed-token';

describe.skipIf(browserMissing !== null)('the panel says when its live feed is lost, and gets it back by itself', () => {
  let browser: Browser;
  let admin: TestServer;

  beforeAll(async () => {
    const root = await makeTempDir();
    const dir = join(root, 'app-config');
    await writeVolumeAtomically(dir, { MAINTENANCE_MODE: 'false' });
    const tokenFile = join(root, 'tokens');
    await writeFile(tokenFile, `${TOKEN},feed-tester\n`);
    admin = await startTestServer({
      role: 'admin',
      initial: null,
      dir,
      env: { ADMIN_AUTH: 'token', ADMIN_TOKEN_FILE: tokenFile, CONFIG_WRITER: 'directory' },
    });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await admin?.close();
  });

  it('while one caller holds every stream its identity may have, then after they close', async () => {
    // The same identity holds its whole share of streams, as a script left running would.
    const holders = await Promise.all(
      Array.from({ length: MAX_STREAMS_PER_IDENTITY }, async () => {
        const abort = new AbortController();
        const response = await fetch(`${admin.url}/admin/api/stream`, {
          headers: { Authorization: `Bearer ${TOKEN}` },
          signal: abort.signal,
        });
        expect(response.status).toBe(200);
        return abort;
      }),
    );
    const page = await browser.newPage();
    await page.goto(`${admin.url}/admin`);
    await page.fill('#token', TOKEN);
    await page.click('#login-form button');
    await page.locator('#state').waitFor({ state: 'visible' });
    const live = page.locator('#live-status');
    await live.waitFor({ state: 'visible' });
    expect(await live.textContent()).toMatch(/^Live updates lost; what you see may be out of date\. Retrying in \d+ s\.$/);
    await page.screenshot({ path: join(await makeTempDir('panel-live-'), 'live-feed-lost.png') });

    for (const abort of holders) abort.abort();
    await live.waitFor({ state: 'hidden', timeout: 45_000 });
    // Live again: a change made elsewhere shows without a reload.
    await writeVolumeAtomically(admin.dir, { MAINTENANCE_MODE: 'true' });
    await expect.poll(() => page.textContent('#state-badge'), { timeout: 30_000 }).toMatch(/On/);
    await page.close();
  });
});
