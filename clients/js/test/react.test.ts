// @sessiond/client/react in Chromium: useSession follows sign-in and the
// pushed end with its reason; useExpiringSoon shows the server's warning.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';

import { HAVE_CHROMIUM, exampleApp, launch } from './browser.js';
import { PASSWORD, Sessiond } from './harness.js';
import { PKG_ROOT } from './paths.js';

describe.skipIf(!HAVE_CHROMIUM)('in Chromium: the React binding', () => {
  let s: Sessiond;
  let app: { url: string; close(): Promise<void> };
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    s = await Sessiond.start({ timeScale: 60, expiringSoon: '3m' });
    dir = mkdtempSync(join(tmpdir(), 'sessiond-react-'));
    await build({
      absWorkingDir: PKG_ROOT,
      entryPoints: ['test/react/app.tsx'],
      bundle: true,
      format: 'esm',
      jsx: 'automatic',
      outfile: join(dir, 'app.js'),
      define: { 'process.env.NODE_ENV': '"development"' },
      logLevel: 'warning',
    });
    writeFileSync(join(dir, 'index.html'), '<!doctype html><html lang="en"><title>react</title><div id="root"></div><script type="module" src="app.js"></script></html>');
    app = await exampleApp(s.base, dir);
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await s?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const text = (p: Page, id: string) => p.getByTestId(id).textContent();

  test('useSession: signed-out, signed-in with the user, then the end with its reason; useExpiringSoon warns', async () => {
    const t = await s.tenant('react');
    const u = await s.user(t, 'react');
    await s.portalOn();
    await s.policy(t, { idleTimeout: { enabled: true, duration: { value: 6, unit: 'MINUTES' } } });
    const page = await (await browser.newContext()).newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(app.url);
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'signed-out');
    await page.evaluate(([email, password]) => (window as any).sd.login({ email, password }), [u.email, PASSWORD]);
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent === 'signed-in');
    expect(await text(page, 'user')).toBe(u.email);
    expect(await text(page, 'session')).toMatch(/\S/);
    await page.waitForFunction(() => document.querySelector('[data-testid=warning]')?.textContent === 'IDLE', null, { timeout: 10_000 });
    await page.evaluate(() => (window as any).sd.staySignedIn());
    await page.waitForFunction(() => document.querySelector('[data-testid=warning]')?.textContent === '');
    await s.gql('mutation($u: ID!) { signOutUser(userId: $u) }', { u: u.id });
    await page.waitForFunction(() => document.querySelector('[data-testid=ended]')?.textContent === 'REVOKED_BY_ADMIN');
    expect(await text(page, 'status')).toBe('signed-out');
    expect(await text(page, 'user')).toBe('');
    expect(errors).toEqual([]);
  }, 60_000);
});
