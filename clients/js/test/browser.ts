// Headless Chromium for the browser tests: Debian's /usr/bin/chromium (or
// SESSIOND_CHROMIUM), driven by playwright-core with its executable path.
// Nothing is downloaded; without Chromium the browser tests skip.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

import { REPO_ROOT } from './paths.js';

export const CHROMIUM = process.env['SESSIOND_CHROMIUM'] || '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  console.warn(`browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set SESSIOND_CHROMIUM)`);
}

export async function launch(): Promise<Browser> {
  // playwright gives every launch a fresh temporary profile (--user-data-dir).
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
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

/** The example app's dev server (examples/spa/serve.mjs) in front of sessiond. */
export async function exampleApp(target: string, root?: string): Promise<{ url: string; close(): Promise<void> }> {
  const mod = (await import(join(REPO_ROOT, 'examples', 'spa', 'serve.mjs'))) as {
    startDevServer(o: { target: string; port: number; root?: string }): Promise<{ url: string; close(): Promise<void> }>;
  };
  return mod.startDevServer(root ? { target, port: 0, root } : { target, port: 0 });
}
