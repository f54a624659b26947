// The example app (examples/spa, which imports /sdk/sessiond-client.js from
// the server) in headless Chromium against the real sessiond: tabs of one
// origin share one websocket, ends reach every tab with their reason, the
// leader's tab closing hands over, and "stay signed in" keeps a session.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';

import { HAVE_CHROMIUM, exampleApp, launch } from './browser.js';
import { Outage, PASSWORD, Sessiond, portOf, sleep, waitFor, type User } from './harness.js';

declare global {
  interface Window {
    sd: import('../src/index.js').SessiondClient;
  }
}

describe.skipIf(!HAVE_CHROMIUM)('in Chromium: the example app on the embedded SDK', () => {
  let s: Sessiond;
  let app: { url: string; close(): Promise<void> };
  let browser: Browser;
  let tenantId: string;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    // Policy minutes pass in real seconds; EXPIRING_SOON three policy minutes
    // ahead, so a loaded machine has three real seconds to answer it.
    s = await Sessiond.start({ timeScale: 60, expiringSoon: '3m' });
    app = await exampleApp(s.base);
    browser = await launch();
    tenantId = await s.tenant();
    await s.portalOn();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await s?.stop();
  });

  afterEach(async (ctx) => {
    for (const c of contexts.splice(0)) await c.close();
    if (ctx.task.result?.state === 'fail') console.log(`--- sessiond log (tail) ---\n${s.logTail()}\n--- page errors ---\n${pageErrors.join('\n')}`);
    pageErrors.length = 0;
  });

  /** A fresh browser profile: its tabs share storage, locks and channels. */
  async function profile(): Promise<BrowserContext> {
    const c = await browser.newContext();
    contexts.push(c);
    return c;
  }

  async function tab(ctx: BrowserContext): Promise<Page> {
    const p = await ctx.newPage();
    p.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    p.on('console', (m) => m.type() === 'error' && pageErrors.push(`console: ${m.text()}`));
    await p.goto(app.url);
    await p.waitForFunction(() => document.body.dataset['status'] !== 'loading');
    return p;
  }

  async function signIn(p: Page, u: User): Promise<void> {
    await p.getByLabel('Email').fill(u.email);
    await p.getByLabel('Password').fill(PASSWORD);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.waitForFunction(() => document.body.dataset['status'] === 'signed-in');
  }

  const status = (p: Page) => p.evaluate(() => document.body.dataset['status']);
  const endedReason = (p: Page) => p.evaluate(() => (document.getElementById('ended')!.hidden ? null : document.getElementById('ended')!.dataset['reason']));
  const live = (p: Page) => p.evaluate(() => window.sd.isLeader && window.sd.connected);
  const sessionId = (p: Page) => p.evaluate(() => window.sd.getState().session?.id ?? null);

  async function ended(p: Page, reason: string): Promise<void> {
    await p.waitForFunction(() => document.body.dataset['status'] === 'signed-out' && !document.getElementById('ended')!.hidden, null, { timeout: 15_000 });
    expect(await endedReason(p)).toBe(reason);
    expect(await p.getByRole('alert').first().textContent()).toMatch(/\S/);
  }

  async function oneLeader(pages: Page[]): Promise<Page> {
    return waitFor('one connected leader tab', async () => {
      const flags = await Promise.all(pages.map(live));
      return flags.filter(Boolean).length === 1 ? pages[flags.indexOf(true)] : null;
    });
  }

  test('two tabs share one websocket; a login and a logout in one tab are seen in the other', async () => {
    const u = await s.user(tenantId, 'tabs');
    const ctx = await profile();
    const before = s.upgrades();
    const a = await tab(ctx);
    const b = await tab(ctx);
    await signIn(a, u);
    await b.waitForFunction(() => document.body.dataset['status'] === 'signed-in');
    expect(await b.locator('#who').textContent()).toBe(u.email);
    await oneLeader([a, b]);
    await sleep(500); // time for a second (wrong) connection to show up
    await b.getByRole('button', { name: 'Sign out', exact: true }).click();
    await ended(b, 'LOGOUT');
    await ended(a, 'LOGOUT');
    await ctx.close();
    await waitFor('the server to log the websocket', () => s.upgrades() > before);
    await sleep(300);
    expect(s.upgrades() - before).toBe(1);
    expect(pageErrors).toEqual([]);
  });

  test('a revoke ends the state of both tabs with its reason', async () => {
    const u = await s.user(tenantId, 'revoke');
    const ctx = await profile();
    const a = await tab(ctx);
    const b = await tab(ctx);
    await signIn(a, u);
    await b.waitForFunction(() => document.body.dataset['status'] === 'signed-in');
    await oneLeader([a, b]);
    await s.gql('mutation($id: ID!) { revokeSession(id: $id) { id } }', { id: await sessionId(a) });
    await ended(a, 'REVOKED_BY_ADMIN');
    await ended(b, 'REVOKED_BY_ADMIN');
    expect(await a.evaluate(() => sessionStorage.getItem('sessiond.token'))).toBeNull();
  });

  test('closing the leader tab hands the connection over', async () => {
    const u = await s.user(tenantId, 'handover');
    const ctx = await profile();
    const pages = [await tab(ctx), await tab(ctx), await tab(ctx)];
    await signIn(pages[0]!, u);
    for (const p of pages) await p.waitForFunction(() => document.body.dataset['status'] === 'signed-in');
    const leader = await oneLeader(pages);
    const rest = pages.filter((p) => p !== leader);
    await leader.close();
    const next = await oneLeader(rest);
    await s.gql('mutation($u: ID!) { signOutUser(userId: $u) }', { u: u.id });
    for (const p of rest) await ended(p, 'REVOKED_BY_ADMIN');
    expect(await next.evaluate(() => window.sd.getState().endedReason)).toBe('REVOKED_BY_ADMIN');
  });

  test('an end while the leader tab is closing is not lost', async () => {
    const u = await s.user(tenantId, 'handover-end');
    const ctx = await profile();
    const pages = [await tab(ctx), await tab(ctx)];
    await signIn(pages[1]!, u);
    await pages[0]!.waitForFunction(() => document.body.dataset['status'] === 'signed-in');
    const leader = await oneLeader(pages);
    const other = pages.find((p) => p !== leader)!;
    await Promise.all([leader.close(), s.gql('mutation($u: ID!) { signOutUser(userId: $u) }', { u: u.id })]);
    await ended(other, 'REVOKED_BY_ADMIN');
  });

  test('an end the connection missed (it died silently) is reported when the page becomes visible', async () => {
    const net = new Outage(portOf(s.graphql));
    await net.up();
    const viaNet = await exampleApp(`http://127.0.0.1:${net.port}`);
    try {
      const u = await s.user(tenantId, 'asleep');
      const p = await (await profile()).newPage();
      p.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
      await p.goto(viaNet.url);
      await p.waitForFunction(() => document.body.dataset['status'] === 'signed-out');
      await signIn(p, u);
      await waitFor('the connection', () => live(p));
      net.stallWebsockets();
      await s.gql('mutation($u: ID!) { signOutUser(userId: $u) }', { u: u.id });
      await sleep(1000);
      expect(await status(p)).toBe('signed-in'); // the push was lost with the connection
      // The page coming back (tab shown, laptop opened) makes the SDK ask `me`
      // long before its keep-alive (10 s + 5 s) would notice the dead socket.
      await p.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
      await p.waitForFunction(() => document.body.dataset['status'] === 'signed-out', null, { timeout: 5000 });
      expect(await endedReason(p)).toBe('REVOKED_BY_ADMIN');
    } finally {
      await viaNet.close();
      await net.down();
    }
  });

  test('onExpiringSoon → "Stay signed in" keeps the session; unanswered, it ends IDLE_TIMEOUT', async () => {
    const t = await s.tenant('idle');
    const u = await s.user(t, 'idle');
    // Warned 3 real seconds after the last activity, ended 3 seconds later.
    await s.policy(t, { idleTimeout: { enabled: true, duration: { value: 6, unit: 'MINUTES' } } });
    const p = await tab(await profile());
    await signIn(p, u);
    const token = await p.evaluate(() => window.sd.token!);
    const stay = p.getByRole('button', { name: 'Stay signed in' });
    // Two warnings, each answered: the session outlives two idle deadlines.
    for (let i = 0; i < 2; i++) {
      await stay.waitFor({ state: 'visible', timeout: 10_000 });
      await stay.click();
      await stay.waitFor({ state: 'hidden' });
    }
    expect(await status(p)).toBe('signed-in');
    expect(await s.live(token)).toBe(true);
    await ended(p, 'IDLE_TIMEOUT');
  }, 90_000);
});
