// Shared by the browser tests: start the real sessiond binary on a temporary
// SQLite file (built once by the Go test that runs `npm test`, or here), and
// Debian's headless Chromium through playwright-core. Nothing is downloaded.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const screenshots = join(repo, 'docs', 'screenshots');

let builtBinary = process.env.SESSIOND_BIN || '';

function binary() {
  if (!builtBinary) {
    builtBinary = join(mkdtempSync(join(tmpdir(), 'sessiond-portal-bin-')), 'sessiond');
    execFileSync('go', ['build', '-o', builtBinary, '.'], { cwd: repo, stdio: 'inherit' });
  }
  return builtBinary;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Starts sessiond -demo; resolves with its URL, admin key, demo users and a stop function. */
export async function startServer(extraArgs = []) {
  const dir = mkdtempSync(join(tmpdir(), 'sessiond-portal-'));
  const port = await freePort();
  const adminKey = 'sdk_admin_' + randomBytes(32).toString('base64url');
  const child = spawn(binary(), ['-demo', '-db', join(dir, 'sessiond.db'), '-addr', `127.0.0.1:${port}`, '-log-level', 'warn', ...extraArgs], {
    env: { ...process.env, SESSIOND_ADMIN_KEY: adminKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => { out += b; });
  child.stderr.on('data', (b) => { out += b; });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.ok && /member:/.test(out)) break;
    } catch { /* not yet */ }
    if (i > 200 || child.exitCode !== null) throw new Error(`sessiond did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const admin = /admin\s+\(.*\):\s+(\S+) \/ (\S+)/.exec(out);
  const member = /member:\s+(\S+) \/ (\S+)/.exec(out);
  const tenant = /id ([0-9a-f-]{36})/.exec(out);
  const server = {
    url, adminKey, tenantId: tenant[1],
    admin: { email: admin[1], password: admin[2] },
    member: { email: member[1], password: member[2] },
    log: () => out,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    },
    /** A GraphQL request with the admin key (or a given token). */
    async gql(query, variables = {}, token = adminKey) {
      const r = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = await r.json();
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data;
    },
  };
  return server;
}

export const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Debian's Chromium; each launch has a fresh profile (playwright's temporary user-data-dir). */
export async function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: chromiumArgs, headless: true });
}

/** A new browser context whose pages fail the test on any CSP violation or page error. */
export async function context(browser, t) {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  ctx.problems = [];
  ctx.on('page', (p) => watch(p, ctx));
  return ctx;
}

function watch(page, ctx) {
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) ctx.problems.push(`CSP: ${m.text()}`);
  });
  page.on('pageerror', (e) => ctx.problems.push(`page error: ${e.message}`));
}

/** Runs axe-core on the page; returns serious and critical violations. */
export async function axe(page) {
  const src = readFileSync(join(repo, 'clients', 'portal', 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  // evaluate runs over the DevTools protocol, outside the page's CSP.
  await page.evaluate(src);
  const res = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  return res.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`);
}

export async function shot(page, name) {
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

/** Signs in on /portal/ by keyboard: focus, type, Enter. */
export async function signIn(page, server, who) {
  await page.goto(`${server.url}/portal/`);
  const login = page.locator('sessiond-login');
  await login.getByLabel('Email').fill(who.email);
  await login.getByLabel('Password').fill(who.password);
  await login.getByLabel('Password').press('Enter');
  await login.getByText('Signed in as').waitFor();
}
