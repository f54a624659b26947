// Runs every snippet README.md's Walkthrough shows (its GraphQL blocks in
// order, and the Node graphql-ws snippet) against the real server, so the
// walkthrough cannot drift from what the server does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { startServer, repo } from './harness.mjs';

function walkthrough() {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const start = readme.indexOf('## Walkthrough');
  const end = readme.indexOf('\n## ', start + 1);
  assert.ok(start >= 0 && end > start, 'README.md has a Walkthrough section');
  const section = readme.slice(start, end);
  const blocks = (lang) => [...section.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
  return { graphql: blocks('graphql'), js: blocks('js'), sh: blocks('sh') };
}

async function post(server, query, token) {
  const r = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query }),
  });
  return r.json();
}

async function ok(server, query, token) {
  const body = await post(server, query, token);
  assert.equal(body.errors, undefined, `${query}\n→ ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** Runs a subscription block over graphql-ws; resolves events and the close code once the socket closes. */
function subscribeBlock(server, query, token) {
  const events = [];
  let closeCode = null;
  let ready;
  const acked = new Promise((r) => { ready = r; });
  const done = new Promise((resolve) => {
    const client = createClient({
      url: server.url.replace('http', 'ws') + '/graphql',
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${token}` },
      lazy: false,
      onNonLazyError: () => {}, // the 4403 close is expected; `closed` records it
      retryAttempts: 0,
      on: {
        connected: () => setTimeout(ready, 300),
        closed: (e) => { closeCode = e.code; resolve({ events, closeCode, reason: e.reason }); },
      },
    });
    client.subscribe({ query }, { next: (v) => events.push(v), error: () => {}, complete: () => {} });
  });
  return { acked, done };
}

test('every snippet of the README walkthrough works against the server', async () => {
  const { graphql, js, sh } = walkthrough();
  // If the walkthrough gains or loses a snippet, this test must learn it.
  assert.equal(graphql.length, 10, 'GraphQL blocks in the walkthrough');
  assert.equal(js.length, 1, 'JS blocks in the walkthrough');
  assert.match(sh[0], /go run \. -demo -db demo\.db/);
  const [login, whoami, revokeOne, revokeAll, preview, limit, unlimit, events, logout, terminated] = graphql;

  const server = await startServer();
  try {
    const signIn = async () => {
      const q = login.replace('admin@demo.example', server.admin.email).replace('<printed password>', server.admin.password);
      return (await ok(server, q)).login;
    };
    const A = await signIn();
    const B = await signIn();
    assert.ok(A.token.startsWith('sds_') && A.session.device);

    const me = await ok(server, whoami, B.token);
    assert.equal(me.me.user.email, server.admin.email);
    assert.equal(me.mySessions.length, 2);
    assert.equal(me.mySessions.filter((s) => s.current).length, 1);

    const revoked = await ok(server, revokeOne.replace('<session id of A>', A.session.id), B.token);
    assert.equal(revoked.revokeSession.endReason, 'REVOKED_BY_USER');
    const withA = await post(server, '{ me { user { email } } }', A.token);
    assert.equal(withA.errors[0].extensions.code, 'UNAUTHENTICATED');
    assert.equal(withA.errors[0].extensions.reason, 'REVOKED_BY_USER');
    await ok(server, '{ me { user { email } } }', B.token);

    await signIn(); // one more, so "all others" has one to end
    assert.equal((await ok(server, revokeAll, B.token)).revokeMySessions, 1);

    const C = await signIn();
    const D = await signIn();
    const pv = await ok(server, preview, D.token);
    assert.equal(pv.previewSessionPolicy.maxConcurrentSessions, 2, 'B and C are older than D');
    const up = await ok(server, limit, D.token);
    assert.equal(up.updateSessionPolicy.terminatedSessions, 2);
    assert.deepEqual(up.updateSessionPolicy.policy.maxConcurrentSessions, { enabled: true, maxSessions: 1, source: 'TENANT' });
    for (const t of [B.token, C.token]) {
      const r = await post(server, '{ me { user { email } } }', t);
      assert.equal(r.errors[0].extensions.reason, 'CONCURRENT_SESSION_LIMIT');
    }
    await ok(server, '{ me { user { email } } }', D.token);
    const off = await ok(server, unlimit, D.token);
    assert.equal(off.updateSessionPolicy.policy.maxConcurrentSessions.enabled, false);

    // Realtime: subscribe with D, log out with D: the event, then 4403.
    const sub = subscribeBlock(server, events, D.token);
    await sub.acked;
    const out = await ok(server, logout, D.token);
    assert.equal(out.logout.endReason, 'LOGOUT');
    const got = await sub.done;
    assert.equal(got.events[0]?.data?.sessionEvents.kind, 'TERMINATED');
    assert.equal(got.events[0]?.data?.sessionEvents.reason, 'LOGOUT');
    assert.equal(got.closeCode, 4403);
    assert.equal(got.reason, 'session ended: LOGOUT');

    const E = await signIn();
    const one = subscribeBlock(server, terminated, E.token);
    await one.acked;
    await ok(server, logout, E.token);
    const t = await one.done;
    assert.equal(t.events[0]?.data?.sessionTerminated.endReason, 'LOGOUT');

    // The Node snippet, as printed, with only the server's address changed.
    const F = await signIn();
    const file = join(repo, 'clients', 'portal', 'test', '.readme-snippet.mjs');
    // The snippet as printed, with the server's address changed and one
    // line added that says when it has connected (so the logout below
    // cannot overtake a slow start).
    const snippet = js[0]
      .replace('ws://localhost:8080/graphql', server.url.replace('http', 'ws') + '/graphql')
      .replace('on: { closed:', "on: { connected: () => console.log('connected'), closed:");
    assert.ok(snippet.includes("console.log('connected')"), 'the snippet still has its on: { closed } hook');
    writeFileSync(file, snippet);
    try {
      const child = spawn(process.execPath, [file], { env: { ...process.env, SESSION_TOKEN: F.token } });
      let stdout = '';
      child.stdout.on('data', (b) => { stdout += b; });
      child.stderr.on('data', (b) => { stdout += b; });
      const exited = new Promise((r) => child.once('exit', r));
      for (const until = Date.now() + 30000; !stdout.includes('connected') && Date.now() < until;) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(stdout, /connected/, 'the snippet connects');
      await new Promise((r) => setTimeout(r, 500)); // its subscribe follows the connection_ack
      await ok(server, logout, F.token);
      const timer = setTimeout(() => child.kill(), 10000);
      await exited;
      clearTimeout(timer);
      assert.match(stdout, /TERMINATED LOGOUT/);
      assert.match(stdout, /socket closed 4403 session ended: LOGOUT/);
    } finally {
      rmSync(file, { force: true });
    }
  } finally {
    await server.stop();
  }
});
