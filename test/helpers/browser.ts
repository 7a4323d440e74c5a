import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null. In CI a missing browser fails the run. */
export const browserMissing: string | null = existsSync(CHROMIUM)
  ? null
  : `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
if (browserMissing && process.env.CI) throw new Error(browserMissing);
if (browserMissing) console.warn(`[browser] SKIPPED: ${browserMissing}`);

/** Debian's headless Chromium, kept off the network. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
