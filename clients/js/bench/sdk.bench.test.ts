// Figures for docs/benchmarks.md: bundle sizes (min+gzip), the time from a
// revokeSession response to onSessionEnded in Chromium (p50/p99 over 200
// revokes), websocket connections for 10 tabs, leader handover time.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';

import { options } from '../scripts/bundle.mjs';
import { HAVE_CHROMIUM, exampleApp, launch } from '../test/browser.js';
import { PASSWORD, Sessiond, sleep, waitFor } from '../test/harness.js';
import { PKG_ROOT } from '../test/paths.js';

const REVOKES = 200;
const TABS = 10;

async function gzSize(external: string[]): Promise<{ min: number; gz: number }> {
  const r = await build({ ...options({ external }), write: false, outfile: 'out.js' });
  const code = r.outputFiles![0]!.contents;
  return { min: code.length, gz: gzipSync(code, { level: 9 }).length };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

test('bundle size, min+gzip', async () => {
  const core = await gzSize(['graphql-ws', 'graphql-ws/client', 'graphql-sse']);
  const withWS = await gzSize(['graphql-sse']);
  const full = readFileSync(join(PKG_ROOT, 'bundle', 'sessiond-client.js'));
  const fullGz = gzipSync(full, { level: 9 }).length;
  console.log(`| core (graphql-ws, graphql-sse external) | ${kb(core.min)} | ${kb(core.gz)} |`);
  console.log(`| core + graphql-ws | ${kb(withWS.min)} | ${kb(withWS.gz)} |`);
  console.log(`| /sdk/sessiond-client.js (core + graphql-ws + graphql-sse) | ${kb(full.length)} | ${kb(fullGz)} |`);
  expect(core.gz).toBeGreaterThan(0);
});

describe.skipIf(!HAVE_CHROMIUM)('in Chromium', () => {
  let s: Sessiond;
  let app: { url: string; close(): Promise<void> };
  let bare: { url: string; close(): Promise<void> };
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    s = await Sessiond.start();
    app = await exampleApp(s.base);
    dir = mkdtempSync(join(tmpdir(), 'sessiond-bench-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><html lang="en"><title>bench</title><script type="module" src="bench.js"></script></html>');
    writeFileSync(
      join(dir, 'bench.js'),
      `import { createClient } from '/sdk/sessiond-client.js';
window.sd = createClient({ url: '/graphql', storage: 'memory' });
window.ended = null;
window.sd.onSessionEnded(() => { window.ended = performance.now(); });`,
    );
    bare = await exampleApp(s.base, dir);
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await bare?.close();
    await s?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(`revokeSession response → onSessionEnded, ${REVOKES} revokes`, async () => {
    const t = await s.tenant('bench');
    const u = await s.user(t, 'bench');
    const page = await (await browser.newContext()).newPage();
    await page.goto(bare.url);
    await page.waitForFunction(() => (window as any).sd?.isLeader);
    const lat: number[] = [];
    let early = 0;
    for (let i = 0; i < REVOKES; i++) {
      const m = await s.mint(u);
      await page.evaluate((tok) => {
        (window as any).ended = null;
        (window as any).sd.setToken(tok);
      }, m.token);
      await page.waitForFunction(() => (window as any).sd.connected && (window as any).sd.getState().status === 'signed-in');
      await sleep(30); // let the subscription reach the server
      const ms = await page.evaluate(
        async ([id, key]) => {
          const res = await fetch('/graphql', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
            body: JSON.stringify({ query: 'mutation($id: ID!) { revokeSession(id: $id) { id } }', variables: { id } }),
          });
          await res.json();
          const answered = performance.now();
          const w = window as any;
          while (w.ended === null) await new Promise((r) => setTimeout(r, 0));
          return w.ended - answered;
        },
        [m.id, s.adminKey],
      );
      if (ms < 0) early++;
      lat.push(Math.max(0, ms));
    }
    lat.sort((a, b) => a - b);
    const q = (p: number) => lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)]!;
    console.log(`revoke→callback over ${REVOKES}: p50 ${q(50).toFixed(1)} ms, p99 ${q(99).toFixed(1)} ms, max ${lat[lat.length - 1]!.toFixed(1)} ms; ${early} callbacks before the response`);
  });

  test(`${TABS} tabs of one origin: websocket connections, leader handover`, async () => {
    const t = await s.tenant('tabs');
    const u = await s.user(t, 'tabs');
    const ctx = await browser.newContext();
    const before = s.upgrades();
    const pages = [];
    for (let i = 0; i < TABS; i++) {
      const p = await ctx.newPage();
      await p.goto(app.url);
      pages.push(p);
    }
    const first = pages[0]!;
    await first.getByLabel('Email').fill(u.email);
    await first.getByLabel('Password').fill(PASSWORD);
    await first.getByRole('button', { name: 'Sign in' }).click();
    for (const p of pages) await p.waitForFunction(() => document.body.dataset['status'] === 'signed-in');
    await sleep(2000);
    console.log(`${TABS} tabs signed in: ${s.upgrades() - before} websocket upgrade(s) on the server`);

    const handovers: number[] = [];
    let open = pages;
    for (let i = 0; i < 5; i++) {
      const flags = await Promise.all(open.map((p) => p.evaluate(() => (window as any).sd.isLeader && (window as any).sd.connected)));
      const leader = open[flags.indexOf(true)]!;
      open = open.filter((p) => p !== leader);
      const t0 = Date.now();
      await leader.close();
      await waitFor('a new leader', async () => {
        const f = await Promise.all(open.map((p) => p.evaluate(() => (window as any).sd.isLeader && (window as any).sd.connected)));
        return f.includes(true);
      });
      handovers.push(Date.now() - t0);
    }
    console.log(`leader tab closed → another tab connected: ${handovers.map((h) => `${h} ms`).join(', ')} (includes the test's polling of the tabs)`);
    await ctx.close();
  });
});
