// Browser tests of the portal, the console and the playground: the real
// sessiond binary, Debian's headless Chromium, every flow of issue 11.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, context, signIn, axe, shot } from './harness.mjs';

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function noProblems(ctx) {
  assert.deepEqual(ctx.problems, [], 'no CSP violation or page error');
}

async function assertAxe(page, state) {
  assert.deepEqual(await axe(page), [], `axe: no serious or critical violation (${state})`);
}

test('"Sign out" of another session ends it there within a second, with REVOKED_BY_USER', async () => {
  const a = await context(browser);
  const b = await context(browser);
  const pa = await a.newPage();
  const pb = await b.newPage();
  await pb.goto(`${server.url}/portal/`);
  await pb.locator('sessiond-login').getByLabel('Email').waitFor();
  await assertAxe(pb, 'sign-in form');
  await shot(pb, 'portal-sign-in');
  await signIn(pb, server, server.admin);
  await signIn(pa, server, server.admin);
  const list = pa.locator('sessiond-sessions');
  // B's session is in A's list, live or loaded: the row that is not this device.
  const other = list.locator('tr[data-session-id]').filter({ hasNotText: 'This device' });
  await other.first().waitFor();
  assert.equal(await list.locator('tr[data-session-id]').count(), 2);
  await assertAxe(pa, 'portal signed in');
  await shot(pa, 'portal-sessions');

  // Keyboard only: focus the button and press Enter.
  await other.getByRole('button', { name: 'Sign out' }).focus();
  const t0 = Date.now();
  await pa.keyboard.press('Enter');
  const alert = pb.locator('sessiond-login [role="alert"][data-reason="REVOKED_BY_USER"]');
  await alert.waitFor({ timeout: 1000 });
  assert.ok(Date.now() - t0 < 1000, 'the alert came within a second');
  await pb.locator('sessiond-login').getByLabel('Email').waitFor();
  assert.match(await alert.textContent(), /signed out/i);
  await list.locator('tr[data-session-id]').nth(1).waitFor({ state: 'detached' });
  await assertAxe(pb, 'session ended alert');
  await shot(pb, 'portal-ended-alert');

  // A session started elsewhere appears in the list live.
  await signIn(pb, server, server.admin);
  await list.locator('tr[data-session-id]').nth(1).waitFor({ timeout: 1000 });
  await noProblems(a);
  await noProblems(b);
  await a.close();
  await b.close();
});

test('the console signs a user out of all sessions: REVOKED_BY_ADMIN on the page, counts drop live', async () => {
  const m = await context(browser);
  const adm = await context(browser);
  const c = await context(browser);
  const pm = await m.newPage();
  const pAdmin = await adm.newPage();
  const pc = await c.newPage();
  await signIn(pm, server, server.member);
  await signIn(pAdmin, server, server.admin);
  const memberRow = pAdmin.locator('sessiond-users tr', { hasText: server.member.email });
  await memberRow.locator('[data-col="active-sessions"]', { hasText: '1' }).waitFor();

  await pc.goto(`${server.url}/console/`);
  await pc.getByLabel('Admin key').waitFor();
  await assertAxe(pc, 'console sign-in');
  await shot(pc, 'console-sign-in');
  await pc.getByLabel('Admin key').fill(server.adminKey);
  await pc.getByLabel('Admin key').press('Enter');
  const count = pc.locator('[data-role="active-count"]');
  await pc.getByRole('switch', { name: 'Users' }).waitFor();
  await assertAxe(pc, 'console signed in');
  await shot(pc, 'console');
  const before = Number(await count.textContent());
  assert.ok(before >= 2, `at least the member's and the admin's sessions are counted, got ${before}`);
  // The admin key lives in sessionStorage only: no cookie, nothing in the URL.
  assert.equal((await c.cookies()).length, 0);
  assert.ok(!pc.url().includes(server.adminKey));
  assert.equal(await pc.evaluate(() => localStorage.length), 0);

  const row = pc.locator('sessiond-users tr', { hasText: server.member.email });
  await row.getByRole('button', { name: /Sign out from all sessions/ }).click();
  const dialog = pc.locator('sessiond-users [role="dialog"]');
  await dialog.waitFor();
  await assertAxe(pc, 'confirm dialog');
  await shot(pc, 'console-confirm-sign-out');
  await dialog.getByRole('button', { name: 'Sign out', exact: true }).press('Enter');

  await pm.locator('sessiond-login [role="alert"][data-reason="REVOKED_BY_ADMIN"]').waitFor({ timeout: 1000 });
  await memberRow.locator('[data-col="active-sessions"]', { hasText: '0' }).waitFor({ timeout: 1000 });
  await pc.waitForFunction((n) => {
    const el = document.querySelector('sessiond-console')?.shadowRoot?.querySelector('[data-role="active-count"]');
    return el && Number(el.textContent) === n - 1;
  }, before, { timeout: 2000 });
  await shot(pAdmin, 'portal-users');
  for (const x of [m, adm, c]) {
    await noProblems(x);
    await x.close();
  }
});

test('Security: "−", Preview and Save end the oldest session with CONCURRENT_SESSION_LIMIT', async () => {
  const old = await context(browser);
  const cur = await context(browser);
  const po = await old.newPage();
  const pc = await cur.newPage();
  await server.gql(`mutation { signOutUser(userId: "${(await adminUserId())}") }`);
  await signIn(po, server, server.admin);
  await signIn(pc, server, server.admin);
  const sec = pc.locator('sessiond-security');
  const group = sec.getByRole('group', { name: 'Maximum concurrent sessions' });
  await group.getByRole('switch', { name: 'Maximum concurrent sessions' }).press('Space');
  assert.equal(await group.getByRole('switch').getAttribute('aria-checked'), 'true');
  const value = group.getByLabel('Maximum concurrent sessions value');
  while (Number(await value.inputValue()) > 1) await group.getByRole('button', { name: '−' }).click();
  assert.equal(await value.inputValue(), '1');
  await sec.getByRole('button', { name: 'Preview' }).click();
  await sec.locator('[data-role="result"]', { hasText: 'would end 1 active session' }).waitFor();
  await assertAxe(pc, 'security preview');
  await shot(pc, 'portal-security-preview');
  await sec.getByRole('button', { name: 'Save' }).click();
  await sec.locator('[data-role="result"]', { hasText: 'Saved. 1 session ended.' }).waitFor();
  await po.locator('sessiond-login [role="alert"][data-reason="CONCURRENT_SESSION_LIMIT"]').waitFor({ timeout: 1000 });
  // The caller's own (newest) session stays.
  await pc.locator('sessiond-login').getByText('Signed in as').waitFor();
  await sec.getByText('In force: 1 session (set by this tenant).').waitFor();
  await sec.getByRole('button', { name: 'Reset to environment defaults' }).click();
  await sec.getByText('Inherited from', { exact: false }).first().waitFor();
  for (const x of [old, cur]) {
    await noProblems(x);
    await x.close();
  }
});

async function adminUserId() {
  const d = await server.gql(`{ users(search: "admin@demo") { edges { node { id } } } }`);
  return d.users.edges[0].node.id;
}

test('the console assigns fe.secure.delete.sessions and turns switches on: the member sees the sections', async () => {
  await server.gql(`mutation { updateAdminPortal(input: {privacyAndSecurity: false, users: false, security: false}) { users } }`);
  const m = await context(browser);
  const c = await context(browser);
  const pm = await m.newPage();
  const pc = await c.newPage();
  await signIn(pm, server, server.member);
  // Switches off, no permission: no section, no error.
  for (const tag of ['sessiond-sessions', 'sessiond-users', 'sessiond-security']) {
    assert.equal(await pm.locator(tag).isVisible(), false, `${tag} hidden`);
  }
  assert.equal(await pm.locator('[role="alert"]').count(), 0);
  await assertAxe(pm, 'portal with every section off');

  await pc.goto(`${server.url}/console/`);
  await pc.getByLabel('Admin key').fill(server.adminKey);
  await pc.getByRole('button', { name: 'Sign in' }).click();
  await pc.getByRole('button', { name: 'fe.secure.delete.sessions' }).click();
  await pc.getByRole('button', { name: 'Assign roles' }).click();
  const dialog = pc.locator('sessiond-console [role="dialog"]');
  const memberRole = (await server.gql(`{ me: users(search: "member@demo") { edges { node { memberships { roles { key name } } } } } }`)).me.edges[0].node.memberships[0].roles[0];
  await dialog.getByLabel(new RegExp(memberRole.name)).check();
  await assertAxe(pc, 'assign roles dialog');
  await shot(pc, 'console-assign-roles');
  await dialog.getByRole('button', { name: 'Assign' }).click();
  await pc.getByRole('button', { name: `Remove role ${memberRole.name}` }).waitFor();
  for (const name of ['Privacy & Security', 'Users', 'Security']) {
    const sw = pc.getByRole('switch', { name, exact: true });
    await sw.focus();
    await pc.keyboard.press('Space');
    await pc.waitForFunction((n) => [...document.querySelector('sessiond-console').shadowRoot.querySelectorAll('[role="switch"]')]
      .some((e) => e.getAttribute('aria-label') === n && e.getAttribute('aria-checked') === 'true'), name);
  }
  await pm.reload();
  await pm.locator('sessiond-sessions').getByText('This device').waitFor();
  await pm.locator('sessiond-users').getByText(server.admin.email).waitFor();
  await pm.locator('sessiond-security').getByRole('switch', { name: 'Idle session timeout' }).waitFor();

  // Removing the role again hides Users and Security (the API refuses them).
  await pc.getByRole('button', { name: `Remove role ${memberRole.name}` }).click();
  await pc.getByRole('button', { name: `Remove role ${memberRole.name}` }).waitFor({ state: 'detached' });
  await pm.reload();
  await pm.locator('sessiond-sessions').getByText('This device').waitFor();
  assert.equal(await pm.locator('sessiond-users').isVisible(), false);
  assert.equal(await pm.locator('sessiond-security').isVisible(), false);

  // Audit log: filter by action.
  await pc.getByLabel('Action').selectOption('permission.roles_assigned').catch(async () => {
    const opts = await pc.getByLabel('Action').locator('option').allTextContents();
    throw new Error(`no permission.roles_assigned action among ${opts}`);
  });
  assert.ok(await pc.locator('sessiond-console tr[data-action]').count() >= 1);
  assert.equal(await pc.locator('sessiond-console tr[data-action]:not([data-action="permission.roles_assigned"])').count(), 0);
  await shot(pc, 'console-audit');
  for (const x of [m, c]) {
    await noProblems(x);
    await x.close();
  }
});

test('user-supplied text is rendered as text', async () => {
  const evil = '<img src=x onerror="window.__pwned=1">';
  const d = await server.gql(`mutation($n: String!) { createUser(input: {email: "evil@demo.example", name: $n, password: "password-123", tenantId: "${server.tenantId}"}) { id } }`, { n: evil });
  const ctx = await context(browser);
  const p = await ctx.newPage();
  await signIn(p, server, server.admin);
  await p.locator('sessiond-users').getByText(evil).waitFor();
  assert.equal(await p.evaluate(() => window.__pwned), undefined);
  await server.gql(`mutation { deleteUser(id: "${d.createUser.id}") }`);
  await ctx.close();
});

test('GraphiQL at / works with every other host blocked; a subscription typed there gets its push', async () => {
  const ctx = await context(browser);
  const blocked = [];
  await ctx.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.origin === server.url) return route.continue();
    blocked.push(u.href);
    return route.abort();
  });
  const p = await ctx.newPage();
  await p.goto(`${server.url}/`);
  await p.locator('.graphiql-container .CodeMirror').first().waitFor({ timeout: 10000 });
  const login = await server.gql(`mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }`, { e: server.member.email, p: server.member.password });
  const token = login.login.token;
  // Headers pane and query editor (CodeMirror), then run.
  await p.evaluate(({ token }) => {
    const query = document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror;
    const headers = document.querySelector('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror').CodeMirror;
    headers.setValue(JSON.stringify({ Authorization: `Bearer ${token}` }));
    query.setValue('subscription { sessionEvents { kind reason session { id } } }');
  }, { token });
  // Wait until the socket is acknowledged and the subscription sent.
  const subscribed = new Promise((resolve) => {
    p.on('websocket', (ws) => {
      let acked = false;
      ws.on('framereceived', (f) => { if (String(f.payload).includes('connection_ack')) acked = true; });
      ws.on('framesent', (f) => { if (acked && String(f.payload).includes('"subscribe"')) resolve(); });
    });
  });
  // GraphiQL takes the editors' text into its state asynchronously: a click
  // that comes before it does runs nothing (seen on a loaded CI machine), so
  // click again until the subscription is on the wire, within a bound.
  let started = false;
  subscribed.then(() => { started = true; });
  for (let i = 0; i < 10 && !started; i++) {
    // A running operation turns the button into "Stop query": never stop it.
    if ((await p.getByRole('button', { name: /Stop query/ }).count()) === 0) {
      await p.getByRole('button', { name: /Execute query/ }).click();
    }
    await Promise.race([subscribed, p.waitForTimeout(2000)]);
  }
  if (!started) {
    await shot(p, 'playground-failure');
    assert.fail('the playground never sent the subscription (see docs/screenshots/playground-failure.png)');
  }
  await p.waitForTimeout(300); // the server has registered the stream
  await server.gql(`mutation { logout { id } }`, {}, token);
  const result = p.locator('.result-window');
  await result.getByText('TERMINATED').waitFor({ timeout: 3000 }).catch(async (e) => {
    await shot(p, 'playground-failure');
    throw e;
  });
  await result.getByText('"LOGOUT"', { exact: true }).waitFor();
  await result.getByText(/4403/).waitFor({ timeout: 3000 }).catch(async (e) => {
    await shot(p, 'playground-failure');
    throw e;
  });
  // A dialog locks the page's scrolling with a <style> element of GraphiQL's
  // (react-remove-scroll-bar): the page's style nonce must let it apply.
  await p.getByRole('button', { name: 'Open settings dialog' }).click();
  await p.getByRole('dialog').waitFor();
  assert.equal(await p.evaluate(() => getComputedStyle(document.body).overflow), 'hidden', "the dialog's scroll lock applied");
  await p.keyboard.press('Escape');
  await p.getByRole('dialog').waitFor({ state: 'detached' });
  // The CSP is checked on what the flow did, before the scans.
  const problemsBeforeScans = [...ctx.problems];
  await assertAxe(p, 'playground with a subscription result');
  await shot(p, 'playground-subscription');
  // The page as loaded and with the documentation explorer open, in a page
  // of their own: after an axe scan or an explorer toggle, GraphiQL 4.1.2
  // driven at machine speed here no longer started the operation typed in by
  // the flow above (not seen by hand; not investigated further).
  const scanCtx = await context(browser);
  const docs = await scanCtx.newPage();
  await docs.goto(`${server.url}/`);
  await docs.locator('.graphiql-container .CodeMirror').first().waitFor({ timeout: 10000 });
  await assertAxe(docs, 'playground loaded');
  // Keyboard users reach each editor's scroll area.
  assert.ok(await docs.locator('.graphiql-query-editor .CodeMirror-scroll[tabindex="0"]').count() > 0, 'the query editor scrolls by keyboard');
  await docs.getByRole('button', { name: 'Show Documentation Explorer' }).click();
  await docs.locator('.graphiql-doc-explorer').waitFor();
  await assertAxe(docs, 'playground with the documentation explorer open');
  await scanCtx.close();
  assert.deepEqual(blocked, [], 'the playground requested nothing from another host');
  const stored = await p.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  assert.ok(!stored.includes(token), `the Headers pane is not kept in browser storage: ${stored.slice(0, 3000)}`);
  // GraphiQL's scroll lock adds a <style> element; the page's nonce lets
  // it through (graph/pages.go noncePage). Any violation fails the test.
  assert.deepEqual(problemsBeforeScans, [], 'no CSP violation or page error');
  await ctx.close();
});
