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
    const keyDir = join(root, 'bypass-key');
    await writeVolumeAtomically(keyDir, { key: 'a-browser-test-bypass-key-of-32-bytes+' });
    admin = await startTestServer({
      role: 'admin',
      initial: null,
      dir,
      env: { ADMIN_AUTH: 'token', ADMIN_TOKEN_FILE: tokenFile, CONFIG_WRITER: 'directory', BYPASS_KEY_DIR: keyDir },
    });
    user = await startTestServer({ role: 'user', initial: null, dir, env: { BYPASS_KEY_DIR: keyDir, BYPASS_COOKIE_SECURE: 'false' } });
    browser = await launchBrowser();
    page = await (await browser.newContext({ timezoneId: 'UTC' })).newPage();
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
    // Local mode: the version is a data directory's name, not something to show.
    expect(await page.isVisible('dt:has-text("Version")')).toBe(false);
    // Identities read as people do; the raw name is in the tooltip.
    expect(await page.textContent('#who')).toBe('Signed in as panel-tester (static token)');
    expect(await page.getAttribute('#who span', 'title')).toBe('token:panel-tester');
    // No favicon 404: the panel names its own icon.
    expect((await page.request.get(`${admin.url}/admin/assets/favicon.svg`)).status()).toBe(200);

    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'maintenance_session', httpOnly: true, sameSite: 'Strict', path: '/admin' });
  });

  it('turns maintenance on with a reason, and the user pod leaves readiness', async () => {
    expect(await page.isVisible('#message')).toBe(true);
    await page.fill('#message', 'Back at 22:00 UTC');
    await page.fill('#reason', 'browser test');
    await page.click('#toggle-button');
    // The live stream may show the new state before the PUT's answer brings the toast.
    await expect.poll(() => page.textContent('#toast')).toBe('The switch is now on.');
    expect(await page.textContent('#state-badge')).toBe('On');
    expect(await page.isVisible('#toast')).toBe(true);
    expect(await page.textContent('#state-text')).toBe('Maintenance is on (switch): users get the maintenance page');
    expect(await page.textContent('#state-change')).toContain('panel-tester');
    expect(await page.textContent('#state-change')).toContain('browser test');
    await user.waitForReady(503);
    // Turning off shows users nothing: the form asks for a reason only.
    expect(await page.textContent('#toggle-button')).toBe('Turn off');
    expect(await page.isVisible('#message')).toBe(false);
    await page.screenshot({ path: join(await makeTempDir('panel-'), 'panel-on.png') });
  });

  it('requires a reason before it sends anything', async () => {
    await page.fill('#reason', '');
    await page.click('#toggle-button');
    expect(await page.locator('#reason:invalid').count()).toBe(1);
    expect(await page.textContent('#state-badge')).toBe('On');
    // A request would have replaced the toast with the server's answer.
    expect(await page.textContent('#toast')).toBe('The switch is now on.');
  });

  it('reports a conflict when the config changed between loading and sending, and shows the new state', async () => {
    // Someone else, e.g. kubectl edit, turns maintenance off just as the request leaves the browser
    // (the stream keeps the page current otherwise).
    await page.route('**/admin/api/maintenance', async (route) => {
      if (route.request().method() === 'PUT')
        await writeVolumeAtomically(admin.dir, { MAINTENANCE_MODE: 'false', MAINTENANCE_MESSAGE: 'changed elsewhere' });
      await route.continue();
    });
    await page.fill('#reason', 'stale page');
    await page.click('#toggle-button');
    await expect.poll(() => page.textContent('#toast')).toContain('changed by someone else');
    await expect.poll(() => page.textContent('#state-badge')).toBe('Off');
    expect(await page.textContent('#state-message')).toBe('changed elsewhere');
    await page.unroute('**/admin/api/maintenance');
  });

  it('makes a bypass link that shows a tester the application during maintenance, and nobody else', async () => {
    await writeVolumeAtomically(admin.dir, { MAINTENANCE_MODE: 'true', MAINTENANCE_MESSAGE: 'closed for testing' });
    await user.waitForReady(503);
    await page.fill('#bypass-reason', 'QA in the browser test');
    await page.selectOption('#bypass-duration', '3600');
    await page.click('#bypass-button');
    await page.locator('#bypass-result').waitFor({ state: 'visible' });
    expect(await page.textContent('#toast')).toMatch(/^Bypass link [\w-]+ created\.$/);
    const link = await page.inputValue('#bypass-link');
    expect(link).toMatch(/^\/__maintenance\/bypass\?token=b1\./);
    expect(await page.textContent('#bypass-expiry')).toMatch(/^valid until \d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? UTC$/);

    const tester = await browser.newContext();
    const testerPage = await tester.newPage();
    const response = await testerPage.goto(`${user.url}${link}`);
    expect(response?.status()).toBe(200);
    expect(await testerPage.textContent('h1')).toBe('Hello from the sample app');
    const anyone = await browser.newContext();
    const anyonePage = await anyone.newPage();
    expect((await anyonePage.goto(`${user.url}/`))?.status()).toBe(503);
    expect(await anyonePage.textContent('body')).toContain('closed for testing');
    await Promise.all([tester.close(), anyone.close()]);
  });

  it('turns read-only on and off: the badge, the user pod ready, a write refused and a read served, in the browser too', async () => {
    await writeVolumeAtomically(admin.dir, { MAINTENANCE_MODE: 'false' });
    await expect.poll(() => page.textContent('#read-only-button')).toBe('Read-only');
    await page.fill('#message', 'Migrating the catalogue');
    await page.fill('#reason', 'catalogue migration');
    await page.click('#read-only-button');
    await expect.poll(() => page.textContent('#state-badge')).toBe('Read-only');
    expect(await page.textContent('#state-text')).toBe('Read-only (switch): users can read, and their changes get the maintenance page');
    expect(await page.textContent('#state-switch')).toBe('read-only');
    await expect
      .poll(() => page.textContent('#toast'))
      .toBe('The switch is now read-only: users can read, and their changes get the maintenance page.');
    expect(await page.textContent('#toggle-button')).toBe('Turn off');
    expect(await page.textContent('#read-only-button')).toBe('Turn on the whole way');
    await user.waitForReady(200);

    // What a reader meets: the page, marked read-only; a form sent gets the read-only page.
    const reader = await browser.newContext();
    const readerPage = await reader.newPage();
    const read = await readerPage.goto(`${user.url}/`);
    expect(read?.status()).toBe(200);
    expect(read?.headers()['maintenance-mode']).toBe('read-only');
    await readerPage.setContent(`<form method="post" action="${user.url}/orders"><button>Order</button></form>`);
    await Promise.all([readerPage.waitForURL(`${user.url}/orders`), readerPage.click('button')]);
    expect(await readerPage.textContent('h1')).toBe('Changes are paused for a moment');
    expect(await readerPage.textContent('body')).toContain('Migrating the catalogue');
    await reader.close();

    await page.fill('#reason', 'migration done');
    await page.click('#toggle-button');
    await expect.poll(() => page.textContent('#state-badge')).toBe('Off');
    expect(await page.textContent('#read-only-button')).toBe('Read-only');
  });

  it('shows the window as the cause during a window, with its end in UTC to the second, although the switch is off', async () => {
    // An end 37 s past a minute is shown with its seconds, never at the minute before.
    const end = new Date(Math.floor((Date.now() + 2 * 3600_000) / 60_000) * 60_000 + 37_000).toISOString().replace(/\.\d+Z$/, 'Z');
    await writeVolumeAtomically(admin.dir, { MAINTENANCE_MODE: 'false', MAINTENANCE_START: '2020-01-01T00:00:00Z', MAINTENANCE_END: end });
    // Live, through the stream: no reload.
    await expect
      .poll(() => page.textContent('#state-text'))
      .toBe(`Maintenance is on (scheduled window until ${end.slice(0, 10)} ${end.slice(11, 19)} UTC): users get the maintenance page`);
    expect(await page.textContent('#state-badge')).toBe('On');
    expect(await page.textContent('#state-switch')).toBe('off');
    // The viewer is in UTC here: the time is said once.
    expect(await page.textContent('#state-countdown')).toMatch(
      new RegExp(`^The window ends in [12] h \\d+ min, at ${end.slice(0, 10)} ${end.slice(11, 19)} UTC\\.$`),
    );
    expect(await page.inputValue('#window-end')).toBe(end.slice(0, 19));

    // A viewer elsewhere gets their own time beside it, with the seconds too.
    const berlin = await browser.newContext({ timezoneId: 'Europe/Berlin' });
    const there = await berlin.newPage();
    await there.goto(`${admin.url}/admin`);
    await there.fill('#token', TOKEN);
    await there.click('#login-form button');
    await expect.poll(() => there.textContent('#state-countdown')).toMatch(/ UTC \(.+:37 .+ your time\)\.$/);
    expect(await there.textContent('#state-window')).toMatch(/\(ends .+:37 .+ your time\)$/);
    await berlin.close();
    await user.waitForReady(503);
  });

  it('ends a window that holds maintenance on with one reason and one click, leaving the switch off', async () => {
    const end = new Date(Date.now() + 3600_000).toISOString();
    await writeVolumeAtomically(admin.dir, { MAINTENANCE_MODE: 'false', MAINTENANCE_START: '2020-01-01T00:00:00Z', MAINTENANCE_END: end });
    await expect.poll(() => page.textContent('#toggle-button')).toBe('End maintenance now');
    expect(await page.textContent('#toggle-title')).toBe('End the window now');
    expect(await page.isVisible('#message')).toBe(false);
    await page.fill('#reason', 'done early');
    await page.click('#toggle-button');
    await expect.poll(() => page.textContent('#state-badge')).toBe('Off');
    expect(await page.textContent('#state-switch')).toBe('off');
    expect(await page.textContent('#state-window')).toBe('none');
    await expect.poll(() => page.textContent('#toast')).toBe('Maintenance ended: the window is cleared and the switch is off.');
    expect(await page.textContent('#toggle-button')).toBe('Turn on');
    await user.waitForReady(200);
  });

  it('counts down to nothing while the switch is on and a window lies ahead, and says why', async () => {
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const start = new Date(minute + 60 * 60_000).toISOString();
    const end = new Date(minute + 2 * 60 * 60_000).toISOString();
    await writeVolumeAtomically(admin.dir, { MAINTENANCE_MODE: 'true', MAINTENANCE_START: start, MAINTENANCE_END: end });
    await expect.poll(() => page.textContent('#state-text')).toBe('Maintenance is on (switch): users get the maintenance page');
    expect(await page.textContent('#state-countdown')).toBe(
      `The switch holds maintenance on: the window (${start.slice(0, 10)} ${start.slice(11, 16)} UTC → ${end.slice(0, 10)} ${end.slice(11, 16)} UTC) changes nothing until the switch is turned off.`,
    );
    const api = (await (await fetch(`${admin.url}/admin/api/maintenance`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as {
      effective: { nextChangeAt: string | null };
    };
    expect(api.effective.nextChangeAt).toBeNull();
  });

  it("sets and clears a window and Retry-After, checking in the browser with the API's words first", async () => {
    await writeVolumeAtomically(admin.dir, { MAINTENANCE_MODE: 'false' });
    await expect.poll(() => page.textContent('#state-badge')).toBe('Off');
    const before = await page.textContent('#state-version');
    await page.fill('#window-start', '2031-03-01T22:00');
    await page.fill('#window-end', '2031-03-01T21:00');
    await page.fill('#window-reason', 'planned upgrade');
    await page.click('#window-save');
    expect(await page.textContent('#window-error')).toBe('end: must be after start');
    expect(await page.textContent('#state-version')).toBe(before);

    await page.fill('#window-end', '2031-03-02T01:30');
    await page.fill('#retry-after', '900');
    await page.click('#window-save');
    await expect.poll(() => page.textContent('#toast')).toBe('Window saved: 2031-03-01 22:00 UTC → 2031-03-02 01:30 UTC.');
    expect(await page.textContent('#state-window')).toBe('2031-03-01 22:00 UTC → 2031-03-02 01:30 UTC');
    expect(await page.textContent('#state-retry')).toBe('900 s');
    // The history keeps both: the window's reason did not replace the toggle's.
    await expect
      .poll(async () => (await page.locator('#history-list li').allTextContents())[0])
      .toMatch(
        /UTC: panel-tester \(static token\) changed Retry-After 900 s, window 2031-03-01T22:00:00Z → 2031-03-02T01:30:00Z: planned upgrade$/,
      );
    expect(await page.locator('#history-list li').allTextContents()).toContainEqual(
      expect.stringMatching(/panel-tester \(static token\) changed switch on, message set: browser test$/),
    );
    expect(await page.textContent('#state-countdown')).toMatch(/^Maintenance starts in \d+ days \d+ h, at 2031-03-01 22:00 UTC/);
    await page.screenshot({ path: join(await makeTempDir('panel-'), 'panel-window.png'), fullPage: true });

    // The next form's error never stands beside the last success.
    expect(await page.isHidden('#toast')).toBe(false);
    await page.fill('#window-end', '2031-03-01T21:00');
    await page.fill('#window-reason', 'moved');
    await page.click('#window-save');
    expect(await page.textContent('#window-error')).toBe('end: must be after start');
    expect(await page.isHidden('#toast')).toBe(true);

    await page.fill('#retry-after', '');
    await page.fill('#window-reason', 'cancelled');
    await page.click('#window-clear');
    await expect.poll(() => page.textContent('#toast')).toBe('Window cleared.');
    expect(await page.textContent('#state-window')).toBe('none');
    // Cleared: the default again.
    expect(await page.textContent('#state-retry')).toBe('300 s');
    expect(await page.isHidden('#state-countdown')).toBe(true);
  });

  it('shows a rejected config apart from what users get, escaped, and stores the last good state again in one step', async () => {
    await writeVolumeAtomically(admin.dir, { MAINTENANCE_MODE: 'false', MAINTENANCE_MESSAGE: 'All good' });
    await expect.poll(() => page.textContent('#state-message')).toBe('All good');
    // A kubectl edit typo, written with the kubelet's own sequence.
    await writeVolumeAtomically(admin.dir, {
      MAINTENANCE_MODE: 'true',
      MAINTENANCE_END: 'next tuesday',
      MAINTENANCE_MESSAGE: '<b>half-applied?</b>',
    });
    // Live, through the stream: the state did not change, the stored config did.
    await page.locator('#rejected').waitFor({ state: 'visible' });
    expect(await page.textContent('#state-badge')).toBe('Off');
    expect(await page.textContent('#state-switch')).toBe('off');
    expect(await page.textContent('#state-message')).toBe('All good');
    expect(await page.textContent('#state-window')).toBe('none');
    const text = (await page.textContent('body')) ?? '';
    for (const garbled of ['Invalid Date', 'tuesd y', 'next tuesday UTC']) expect(text).not.toContain(garbled);
    expect(await page.locator('#rejected-keys li').allTextContents()).toEqual([
      'MAINTENANCE_MODE = "true"',
      'MAINTENANCE_MESSAGE = "<b>half-applied?</b>"',
      expect.stringMatching(/^MAINTENANCE_END = "next tuesday": rejected, /),
    ]);
    expect(await page.locator('#rejected-keys b').count()).toBe(0);
    // No toggle or window form that would merge into the rejected config: the repair only.
    expect(await page.isVisible('#toggle')).toBe(false);
    expect(await page.isVisible('#window')).toBe(false);
    expect(await page.textContent('#repair-button')).toBe('Store the last good state again');
    await page.screenshot({ path: join(await makeTempDir('panel-'), 'panel-rejected-config.png'), fullPage: true });

    await page.fill('#repair-reason', 'undo a typo');
    await page.click('#repair-button');
    await expect.poll(() => page.isVisible('#rejected')).toBe(false);
    await expect.poll(() => page.textContent('#toast')).toBe('The stored config is valid again.');
    expect(await page.isVisible('#toggle')).toBe(true);
    await expect.poll(async () => ((await (await admin.get('/status')).json()) as { lastError: string | null }).lastError).toBeNull();
    const status = (await (await admin.get('/status')).json()) as { config: { enabled: boolean; message: string; end: null } };
    expect(status.config).toMatchObject({ enabled: false, message: 'All good', end: null });
  });

  it('puts a toast over no control, at desktop and phone width, and removes one the live state contradicts', async () => {
    const overlaps = () =>
      page.evaluate(() => {
        const doc = (globalThis as unknown as { document: { querySelector(s: string): Box | null; querySelectorAll(s: string): Box[] } })
          .document;
        interface Box {
          id: string;
          getBoundingClientRect(): { left: number; right: number; top: number; bottom: number; width: number };
        }
        const toastBox = doc.querySelector('#toast')!.getBoundingClientRect();
        return [...doc.querySelectorAll('input, button, select, textarea')]
          .filter((control) => {
            const box = control.getBoundingClientRect();
            return (
              box.width > 0 &&
              box.left < toastBox.right &&
              box.right > toastBox.left &&
              box.top < toastBox.bottom &&
              box.bottom > toastBox.top
            );
          })
          .map((control) => control.id);
      });
    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 375, height: 667 },
    ]) {
      await page.setViewportSize(viewport);
      await writeVolumeAtomically(admin.dir, { MAINTENANCE_MODE: 'false' });
      await expect.poll(() => page.textContent('#state-badge')).toBe('Off');
      await page.fill('#reason', `toast at ${viewport.width} px`);
      await page.click('#toggle-button');
      await expect.poll(async () => (await page.isVisible('#toast')) && (await page.textContent('#toast'))).toBe('The switch is now on.');
      expect(await overlaps(), `${viewport.width} px`).toEqual([]);
      await page.screenshot({ path: join(await makeTempDir('panel-'), `panel-toast-${viewport.width}.png`), fullPage: true });
      // Turned off again from elsewhere (the CLI, kubectl): the toast saying "on" goes.
      await writeVolumeAtomically(admin.dir, { MAINTENANCE_MODE: 'false' });
      await expect.poll(() => page.isVisible('#toast')).toBe(false);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('loaded without any Content-Security-Policy violation or script error', () => {
    expect(violations).toEqual([]);
  });
});

describe.skipIf(browserMissing !== null)('the bypass card of an admin without a key', () => {
  it('offers no form, and says in one line why and how to enable links in this mode', async () => {
    const root = await makeTempDir();
    const tokenFile = join(root, 'tokens');
    await writeFile(tokenFile, `${TOKEN},panel-tester\n`);
    const keyDir = join(root, 'no-key-here');
    const admin = await startTestServer({
      role: 'admin',
      env: { ADMIN_AUTH: 'token', ADMIN_TOKEN_FILE: tokenFile, CONFIG_WRITER: 'directory', BYPASS_KEY_DIR: keyDir },
    });
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`${admin.url}/admin`);
      await page.fill('#token', TOKEN);
      await page.click('#login-form button');
      await page.locator('#bypass').waitFor({ state: 'visible' });
      expect(await page.isVisible('#bypass-form')).toBe(false);
      expect(await page.textContent('#bypass-off')).toBe(
        `Unavailable: no key "key" in the bypass key Secret: bypass links are off. To enable them: write a random key of 32 bytes or more to ${keyDir}/key, such as: openssl rand -base64 32 > ${keyDir}/key`,
      );
      await page.screenshot({ path: join(await makeTempDir('panel-'), 'panel-no-bypass-key.png'), fullPage: true });
    } finally {
      await browser.close();
      await admin.close();
    }
  });
});
