// Browser tests that need a server of their own: a short idle timeout on a
// fast clock ("Stay signed in"), and the elements embedded by another origin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, launch, context, signIn, axe, shot } from './harness.mjs';

test('a short idle timeout: "Stay signed in" keeps the session; not pressing it ends with IDLE_TIMEOUT', async () => {
  // -time-scale 5: the 1-minute idle timeout lasts 12 s, EXPIRING_SOON comes at half of it.
  const server = await startServer(['-time-scale', '5']);
  const browser = await launch();
  try {
    await server.gql(`mutation { updateSessionPolicy(input: {idleTimeout: {enabled: true, duration: {value: 1, unit: MINUTES}}}) { terminatedSessions } }`);
    const ctx = await context(browser);
    const p = await ctx.newPage();
    const t0 = Date.now();
    await signIn(p, server, server.admin);
    const login = p.locator('sessiond-login');
    const dialog = login.getByRole('dialog');
    await dialog.waitFor({ timeout: 12000 });
    await dialog.getByRole('button', { name: 'Stay signed in' }).press('Enter');
    await dialog.waitFor({ state: 'detached' });
    // Past the first deadline (12 s after sign-in) the session still lives.
    const wait = 12500 - (Date.now() - t0);
    if (wait > 0) await p.waitForTimeout(wait);
    assert.equal(await login.locator('[role="alert"]').count(), 0, 'no end after "Stay signed in"');
    const me = await p.evaluate(async () => {
      const tok = Object.entries(sessionStorage).find(([k]) => k.startsWith('sessiond.token:'))?.[1];
      const r = await fetch('/graphql', { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${tok}`, 'X-Session-Activity': 'passive' }, body: JSON.stringify({ query: '{ me { session { active } } }' }) });
      return r.json();
    });
    assert.equal(me.data?.me.session.active, true, 'the server still has the session');
    // The next warning is left unanswered.
    await dialog.waitFor({ timeout: 12000 });
    await shot(p, 'portal-stay-signed-in');
    assert.deepEqual(await axe(p), [], 'axe: expiring-soon dialog');
    await login.locator('[role="alert"][data-reason="IDLE_TIMEOUT"]').waitFor({ timeout: 15000 });
    await login.getByLabel('Email').waitFor();
    assert.deepEqual(ctx.problems, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('elements.js works from another origin with an api attribute, themed through custom properties and ::part', async () => {
  const page = (api) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Embedding app</title>
<style>
  button { background: rgb(255, 0, 0) !important; }
  sessiond-sessions { --sessiond-accent: rgb(1, 2, 3); }
  sessiond-login::part(button) { border-radius: 0px; }
</style>
<script type="module" src="${api.replace('/graphql', '/portal/elements.js')}"></script></head>
<body><main><h1>Embedding app</h1><sessiond-login api="${api}"></sessiond-login><sessiond-sessions api="${api}"></sessiond-sessions></main></body></html>`;
  let appURL = '';
  const app = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(page(app.api));
  });
  await new Promise((r) => app.listen(0, 'localhost', r));
  appURL = `http://localhost:${app.address().port}`;
  const server = await startServer(['-allowed-origins', appURL]);
  app.api = `${server.url}/graphql`;
  const browser = await launch();
  try {
    const ctx = await context(browser);
    const p = await ctx.newPage();
    await p.goto(`${appURL}/`);
    const login = p.locator('sessiond-login');
    await login.getByLabel('Email').fill(server.member.email);
    await login.getByLabel('Password').fill(server.member.password);
    await login.getByRole('button', { name: 'Sign in' }).click();
    const sessions = p.locator('sessiond-sessions');
    await sessions.getByText('This device').waitFor();
    const styles = await p.evaluate(() => {
      const b = document.querySelector('sessiond-sessions').shadowRoot.querySelector('p > button');
      const l = document.querySelector('sessiond-login').shadowRoot.querySelector('button');
      return { bg: getComputedStyle(b).backgroundColor, radius: getComputedStyle(l).borderTopLeftRadius };
    });
    assert.equal(styles.bg, 'rgb(1, 2, 3)', 'the custom property themes the element, the page\'s button rule does not leak in');
    assert.equal(styles.radius, '0px', '::part(button) styles the element');
    assert.deepEqual(ctx.problems, []);
  } finally {
    await browser.close();
    await server.stop();
    app.close();
  }
});

test('sign-in: a wrong password says so; RATE_LIMITED says when to retry', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const ctx = await context(browser);
    const p = await ctx.newPage();
    await p.goto(`${server.url}/portal/`);
    const login = p.locator('sessiond-login');
    await login.getByLabel('Email').fill(server.member.email);
    await login.getByLabel('Password').fill('not-the-password');
    await login.getByRole('button', { name: 'Sign in' }).click();
    await login.getByText('The email or password is not correct.').waitFor();
    let limited = false;
    for (let i = 0; i < 6 && !limited; i++) {
      await login.getByRole('button', { name: 'Sign in' }).click();
      limited = await login.getByText(/Too many attempts\. Try again in \d+ seconds?\./).waitFor({ timeout: 3000 }).then(() => true, () => false);
    }
    assert.ok(limited, 'repeated failures show when to retry');
    assert.equal(await login.getByRole('button', { name: 'Sign in' }).isDisabled(), true, 'the button waits');
    assert.deepEqual(await axe(p), [], 'axe: rate-limited form');
    assert.deepEqual(ctx.problems, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
