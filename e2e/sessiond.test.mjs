// End-to-end interoperability check: the REAL sessiond binary against GraphQL
// clients we did not write (graphql-ws over websockets, graphql-sse over
// Server-Sent Events).
//
// The suite builds the server (`go build` from the repo root), starts it on a
// free loopback port with a fresh SQLite file in a temp dir and a random admin
// key, sets up tenants and users over plain HTTP, then ends sessions in every
// way the API knows and checks that each push arrives with the right reason.
//
// The server runs with `-time-scale 60`. That flag is for TESTS ONLY: the
// server's clock runs 60× faster than real time, so a one-minute idle timeout
// passes in one real second. Never use it in production.
//
// Run: cd e2e && npm ci && node --test
// Set SESSIOND_E2E_LOG=1 to print the server log after the run.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { createClient as createWSClient } from 'graphql-ws';
import { createClient as createSSEClient } from 'graphql-sse';
import WebSocket from 'ws';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TIME_SCALE = 60; // test-only flag: one policy minute = one real second
const BUILD_TIMEOUT_MS = 240_000;
const START_TIMEOUT_MS = 15_000;
const PUSH_TIMEOUT_MS = 5_000; // pushes triggered by a request
const EXPIRY_TIMEOUT_MS = 15_000; // pushes from the expiry scheduler
const CLOSE_TIMEOUT_MS = 5_000;
const PASSWORD = 'correct horse battery staple';

// ---------------------------------------------------------------- utilities

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects with `message` unless `promise` settles within `ms`. */
function within(ms, promise, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${message}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Items arriving over time (pushes, close events) that a test can wait for.
 * waitFor resolves with the first item, past or future, matching pred.
 */
class Stream {
  constructor(name) {
    this.name = name;
    this.items = [];
    this.waiters = [];
    this.failure = null;
    this.done = false;
    // Settles when the stream completes (resolves) or fails (rejects).
    this.finished = new Promise((resolve, reject) => {
      this.resolveFinished = resolve;
      this.rejectFinished = reject;
    });
    this.finished.catch(() => {}); // observed through waitFor or finished
  }
  push(item) {
    this.items.push(item);
    for (const w of [...this.waiters]) {
      if (w.pred(item)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(item);
      }
    }
  }
  fail(err) {
    this.failure = err;
    this.#settle();
    this.rejectFinished(this.#endError());
  }
  complete() {
    this.done = true;
    this.#settle();
    this.resolveFinished();
  }
  #settle() {
    for (const w of this.waiters.splice(0)) w.reject(this.#endError());
  }
  #endError() {
    const seen = JSON.stringify(this.items);
    if (this.failure) return new Error(`${this.name} failed: ${describeError(this.failure)}; received so far: ${seen}`);
    return new Error(`${this.name} completed without the expected item; received: ${seen}`);
  }
  waitFor(pred, ms, what) {
    const hit = this.items.find(pred);
    if (hit !== undefined) return Promise.resolve(hit);
    if (this.failure || this.done) return Promise.reject(this.#endError());
    const p = new Promise((resolve, reject) => this.waiters.push({ pred, resolve, reject }));
    return within(ms, p, `${what} (on ${this.name}; received so far: ${JSON.stringify(this.items)})`);
  }
}

function describeError(err) {
  if (Array.isArray(err)) return err.map(describeError).join('; ');
  if (err && typeof err === 'object' && 'code' in err && 'reason' in err) return `close ${err.code} ${err.reason}`;
  if (err instanceof Error) return err.message;
  return JSON.stringify(err);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- the server

const server = {
  proc: null,
  dir: null,
  log: [],
  exited: null,
  base: '',
  graphql: '',
  ws: '',
  adminKey: '',
};

function serverLogTail(lines = 40) {
  return server.log.join('').split('\n').slice(-lines).join('\n');
}

async function buildServer(binary) {
  try {
    await promisify(execFile)('go', ['build', '-o', binary, '.'], {
      cwd: REPO_ROOT,
      timeout: BUILD_TIMEOUT_MS,
      maxBuffer: 16 << 20,
    });
  } catch (err) {
    throw new Error(`go build failed: ${err.message}\n${err.stderr ?? ''}`);
  }
}

async function startServer() {
  server.dir = mkdtempSync(join(tmpdir(), 'sessiond-e2e-'));
  const binary = join(server.dir, 'sessiond');
  await buildServer(binary);

  const port = await freePort();
  server.base = `http://127.0.0.1:${port}`;
  server.graphql = `${server.base}/graphql`;
  server.ws = `ws://127.0.0.1:${port}/graphql`;
  // A valid admin key: the prefix and 32 random bytes, base64url (43 chars).
  server.adminKey = 'sdk_admin_' + randomBytes(32).toString('base64url');

  const env = { ...process.env, SESSIOND_ADMIN_KEY: server.adminKey };
  server.proc = spawn(
    binary,
    ['-addr', `127.0.0.1:${port}`, '-db', join(server.dir, 'sessiond.db'), '-time-scale', String(TIME_SCALE)],
    { cwd: server.dir, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  server.proc.stdout.on('data', (b) => server.log.push(b.toString()));
  server.proc.stderr.on('data', (b) => server.log.push(b.toString()));
  server.exited = new Promise((resolve) => server.proc.on('exit', (code, signal) => resolve({ code, signal })));
  // Last resort if the runner dies without running the after hook.
  process.on('exit', () => server.proc?.kill('SIGKILL'));

  const deadline = Date.now() + START_TIMEOUT_MS;
  let early = null;
  server.exited.then((r) => (early = r));
  for (;;) {
    if (early) throw new Error(`sessiond exited during start-up (${JSON.stringify(early)}):\n${serverLogTail()}`);
    try {
      const res = await fetch(`${server.base}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`sessiond did not answer /healthz within ${START_TIMEOUT_MS} ms:\n${serverLogTail()}`);
    }
    await sleep(50);
  }
}

async function stopServer() {
  const proc = server.proc;
  if (proc && proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGTERM');
    const stopped = await Promise.race([server.exited, sleep(5000).then(() => null)]);
    if (!stopped) {
      proc.kill('SIGKILL');
      await server.exited;
    }
  }
  if (process.env.SESSIOND_E2E_LOG) console.log(`--- sessiond log ---\n${server.log.join('')}`);
  if (server.dir) rmSync(server.dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------- GraphQL over HTTP

/** Posts a GraphQL request; returns data, throwing on transport or GraphQL errors. */
async function gql(query, variables = {}, token = server.adminKey) {
  let res;
  try {
    res = await fetch(server.graphql, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new Error(`POST /graphql failed: ${err.message}\nquery: ${query}`);
  }
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`POST /graphql answered ${res.status} with non-JSON: ${text}`);
  }
  if (body.errors?.length) {
    const err = new Error(`GraphQL errors (HTTP ${res.status}): ${JSON.stringify(body.errors)}\nquery: ${query}`);
    err.graphQLErrors = body.errors;
    throw err;
  }
  return body.data;
}

let uniq = 0;
const unique = (what) => `${what}-${process.pid}-${++uniq}`;

async function createTenant(name) {
  const d = await gql('mutation($n: String!) { createTenant(input: {name: $n}) { id } }', { n: unique(name) });
  return d.createTenant.id;
}

async function createUser(tenantId, name, roleKeys = null) {
  const email = `${unique(name)}@example.com`;
  const d = await gql(
    `mutation($email: String!, $name: String!, $password: String, $tenantId: ID!, $roleKeys: [String!]) {
      createUser(input: {email: $email, name: $name, password: $password, tenantId: $tenantId, roleKeys: $roleKeys}) { id } }`,
    { email, name, password: PASSWORD, tenantId, roleKeys },
  );
  return { id: d.createUser.id, email, tenantId };
}

/** Logs a user in with email and password; returns { token, id, createdAt }. */
async function login(user) {
  const d = await gql(
    `mutation($e: String!, $p: String!, $t: ID) {
      login(input: {email: $e, password: $p, tenantId: $t}) { token session { id createdAt lastActiveAt } } }`,
    { e: user.email, p: PASSWORD, t: user.tenantId },
    '',
  );
  return { token: d.login.token, ...d.login.session };
}

async function setPolicy(tenantId, input) {
  const d = await gql(
    `mutation($t: ID, $in: SessionPolicyInput!) {
      updateSessionPolicy(tenantId: $t, input: $in) { terminatedSessions } }`,
    { t: tenantId, in: input },
  );
  return d.updateSessionPolicy;
}

// ---------------------------------------------------------------- subscriptions

const TERMINATED_QUERY = 'subscription { sessionTerminated { id endedAt endReason } }';
const EVENTS_QUERY = 'subscription { sessionEvents { kind reason at session { id } } }';

const wsClients = new Set();
const sseClients = new Set();

/**
 * Opens a graphql-ws client authenticated with token. It is not lazy (the
 * socket stays open when subscriptions complete, so the server's close code
 * is observable) and never retries.
 */
function openWS(token) {
  const closed = new Stream('websocket close events');
  const connected = new Stream('websocket connection');
  const client = createWSClient({
    url: server.ws,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    lazy: false,
    retryAttempts: 0,
    shouldRetry: () => false,
    onNonLazyError: () => {}, // the close event is observed through on.closed
    on: {
      connected: () => connected.push(true),
      closed: (event) => closed.push({ code: event.code, reason: event.reason }),
    },
  });
  wsClients.add(client);
  return { client, closed, connected };
}

function subscribeWS(client, query, name) {
  const stream = new Stream(name);
  client.subscribe(
    { query },
    {
      next: (result) => (result.errors ? stream.fail(result.errors) : stream.push(result.data)),
      error: (err) => stream.fail(err),
      complete: () => stream.complete(),
    },
  );
  return stream;
}

/**
 * Watches a session over graphql-ws: sessionTerminated and sessionEvents on
 * one socket. With probe, it first proves the subscriptions are live: it
 * opens and revokes a throwaway session of the same user (admin key) and
 * waits for that TERMINATED event on sessionEvents.
 */
async function watch(session, { userId, tenantId, probe = true } = {}) {
  const ws = openWS(session.token);
  await Promise.race([
    ws.connected.waitFor(() => true, PUSH_TIMEOUT_MS, 'connection_ack for a valid session token'),
    ws.closed.waitFor(() => true, PUSH_TIMEOUT_MS + 1000, 'never: only a close before connection_ack counts').then((close) => {
      throw new Error(`the server closed the websocket instead of acknowledging a valid session: ${close.code} ${close.reason}`);
    }),
  ]);
  const terminated = subscribeWS(ws.client, TERMINATED_QUERY, 'sessionTerminated');
  const events = subscribeWS(ws.client, EVENTS_QUERY, 'sessionEvents');
  if (probe) {
    // The client sends `subscribe` asynchronously: a probe made before the
    // server registered the subscription is missed, so probe until one lands.
    const deadline = Date.now() + PUSH_TIMEOUT_MS;
    for (;;) {
      const d = await gql(
        'mutation($u: ID!, $t: ID!) { createSession(input: {userId: $u, tenantId: $t}) { session { id } } }',
        { u: userId, t: tenantId },
      );
      const probeId = d.createSession.session.id;
      await gql('mutation($id: ID!) { revokeSession(id: $id) { id } }', { id: probeId });
      try {
        await events.waitFor(
          (e) => e.sessionEvents.kind === 'TERMINATED' && e.sessionEvents.session.id === probeId,
          Math.min(1000, Math.max(1, deadline - Date.now())),
          'the probe session TERMINATED event (is sessionEvents live?)',
        );
        break;
      } catch (err) {
        if (Date.now() >= deadline) throw err;
      }
    }
  }
  return { ...ws, terminated, events };
}

/**
 * Asserts the pushes for a session that ended with reason: sessionTerminated
 * emits it once and completes, sessionEvents emits TERMINATED with the
 * reason, and the server closes the socket with 4403.
 */
async function expectEnded(w, session, reason, ms = PUSH_TIMEOUT_MS) {
  const pushed = await w.terminated.waitFor(() => true, ms, `sessionTerminated push (expected ${reason})`);
  assert.equal(pushed.sessionTerminated.id, session.id, 'sessionTerminated is about the watched session');
  assert.equal(pushed.sessionTerminated.endReason, reason, `sessionTerminated.endReason should be ${reason}`);
  assert.ok(pushed.sessionTerminated.endedAt, 'sessionTerminated.endedAt is set');

  const ev = await w.events.waitFor(
    (e) => e.sessionEvents.kind === 'TERMINATED' && e.sessionEvents.session.id === session.id,
    PUSH_TIMEOUT_MS,
    `sessionEvents TERMINATED for ${session.id} (expected ${reason})`,
  );
  assert.equal(ev.sessionEvents.reason, reason, `sessionEvents.reason should be ${reason}`);

  const close = await w.closed.waitFor(() => true, CLOSE_TIMEOUT_MS, `the server closing the websocket with 4403 after ${reason}`);
  assert.equal(close.code, 4403, `close code after the session ended (reason: ${close.reason})`);
  assert.match(close.reason, new RegExp(reason), 'the close reason names the end reason');

  await within(PUSH_TIMEOUT_MS, w.terminated.finished, 'sessionTerminated completing after its one push');
  assert.equal(w.terminated.items.length, 1, 'sessionTerminated emits exactly once');
  return pushed.sessionTerminated;
}

/** Runs fn; on failure appends the server log tail to the error. */
async function withServerLog(fn) {
  try {
    await fn();
  } catch (err) {
    err.message += `\n--- sessiond log (tail) ---\n${serverLogTail()}`;
    throw err;
  }
}

// ---------------------------------------------------------------- the suite

describe('sessiond end to end with graphql-ws and graphql-sse', () => {
  let tenantId;
  let admin;
  let member;

  before(async () => {
    await startServer();
    tenantId = await createTenant('acme');
    admin = await createUser(tenantId, 'admin', ['admin']);
    member = await createUser(tenantId, 'member');
    await gql('mutation { assignRolesToPermission(permissionKey: "fe.secure.delete.sessions", roleKeys: ["admin"]) { key } }');
    await gql('mutation { updateAdminPortal(input: {privacyAndSecurity: true, users: true, security: true}) { privacyAndSecurity users security } }');
  });

  after(async () => {
    for (const c of wsClients) await c.dispose();
    for (const c of sseClients) c.dispose();
    await stopServer();
  });

  test('a bad token is refused with close code 4401', () =>
    withServerLog(async () => {
      const ws = openWS('sds_this-is-not-a-valid-session-token');
      const close = await ws.closed.waitFor(() => true, CLOSE_TIMEOUT_MS, 'close 4401 for a bad token');
      assert.equal(close.code, 4401, `close code for a bad token (reason: ${close.reason})`);
      assert.match(close.reason, /unauthorized/, 'the 4401 reason says what is wrong');
      assert.equal(ws.connected.items.length, 0, 'no connection_ack for a bad token');
    }));

  test('LOGOUT: logout pushes the end and closes with 4403; the ended token then gets 4401', () =>
    withServerLog(async () => {
      const s = await login(member);
      const w = await watch(s, { userId: member.id, tenantId });
      await gql('mutation { logout { id } }', {}, s.token);
      await expectEnded(w, s, 'LOGOUT');

      const again = openWS(s.token);
      const close = await again.closed.waitFor(() => true, CLOSE_TIMEOUT_MS, 'close 4401 for an ended session token');
      assert.equal(close.code, 4401, `close code for an ended session (reason: ${close.reason})`);
      assert.match(close.reason, /LOGOUT/, 'the 4401 reason says why the session ended');
    }));

  test('REVOKED_BY_USER: another session of the same user revokes it', () =>
    withServerLog(async () => {
      const s = await login(member);
      const w = await watch(s, { userId: member.id, tenantId });
      const other = await login(member);
      await gql('mutation($id: ID!) { revokeSession(id: $id) { id endReason } }', { id: s.id }, other.token);
      await expectEnded(w, s, 'REVOKED_BY_USER');
      await gql('mutation { logout { id } }', {}, other.token);
    }));

  test('REVOKED_BY_ADMIN: the admin user signs the member out', () =>
    withServerLog(async () => {
      const s = await login(member);
      const w = await watch(s, { userId: member.id, tenantId });
      const a = await login(admin);
      const d = await gql('mutation($u: ID!) { signOutUser(userId: $u) }', { u: member.id }, a.token);
      assert.ok(d.signOutUser >= 1, `signOutUser ended ${d.signOutUser} sessions`);
      await expectEnded(w, s, 'REVOKED_BY_ADMIN');
      await gql('mutation { logout { id } }', {}, a.token);
    }));

  test('CONCURRENT_SESSION_LIMIT: a new login over maxSessions 1 ends the older session', () =>
    withServerLog(async () => {
      const t = await createTenant('concurrent');
      const u = await createUser(t, 'concurrent');
      const s = await login(u);
      const w = await watch(s, { userId: u.id, tenantId: t });
      const p = await setPolicy(t, { maxConcurrentSessions: { enabled: true, maxSessions: 1 } });
      assert.equal(p.terminatedSessions, 0, 'with one active session the limit of 1 ends nothing at once');
      await login(u);
      await expectEnded(w, s, 'CONCURRENT_SESSION_LIMIT');
    }));

  test('IDLE_TIMEOUT: no activity for 1 policy minute (~1 real second)', () =>
    withServerLog(async () => {
      const t = await createTenant('idle');
      const u = await createUser(t, 'idle');
      await setPolicy(t, { idleTimeout: { enabled: true, duration: { value: 1, unit: 'MINUTES' } } });
      const s = await login(u);
      // No probe and no requests with the token: only the scheduler ends it.
      const w = await watch(s, { probe: false });
      const ended = await expectEnded(w, s, 'IDLE_TIMEOUT', EXPIRY_TIMEOUT_MS);
      const idleFor = Date.parse(ended.endedAt) - Date.parse(s.lastActiveAt);
      assert.ok(idleFor >= 59_000, `ended after ${idleFor} ms of server time idle; the timeout is 60 000`);
    }));

  test('FORCE_RELOGIN: ends after 2 policy minutes despite steady activity', () =>
    withServerLog(async () => {
      const t = await createTenant('relogin');
      const u = await createUser(t, 'relogin');
      await setPolicy(t, {
        idleTimeout: { enabled: true, duration: { value: 30, unit: 'MINUTES' } },
        forceRelogin: { enabled: true, duration: { value: 2, unit: 'MINUTES' } },
      });
      const s = await login(u);
      const w = await watch(s, { probe: false });
      // Keep the session busy (every ~30 policy seconds) until it ends.
      let active = true;
      let recorded = 0;
      const activity = (async () => {
        while (active && !w.terminated.items.length) {
          try {
            await gql('mutation { recordActivity { id } }', {}, s.token);
            recorded++;
          } catch (err) {
            if (!/UNAUTHENTICATED/.test(err.message)) throw err;
            return; // ended: the push says why
          }
          await sleep(500);
        }
      })();
      try {
        const ended = await expectEnded(w, s, 'FORCE_RELOGIN', EXPIRY_TIMEOUT_MS);
        const lived = Date.parse(ended.endedAt) - Date.parse(s.createdAt);
        assert.ok(lived >= 119_000, `ended after ${lived} ms of server time; forced re-login is at 120 000`);
        assert.ok(recorded >= 2, `recordActivity succeeded ${recorded} times before the end; want steady activity`);
      } finally {
        active = false;
        await activity;
      }
    }));

  test('USER_REMOVED: removing the user from the tenant ends the session', () =>
    withServerLog(async () => {
      const u = await createUser(tenantId, 'removed');
      const s = await login(u);
      const w = await watch(s, { userId: u.id, tenantId });
      await gql('mutation($u: ID!, $t: ID!) { removeUserFromTenant(userId: $u, tenantId: $t) }', { u: u.id, t: tenantId });
      await expectEnded(w, s, 'USER_REMOVED');
    }));

  test('graphql-sse: sessionTerminated over Server-Sent Events on an admin-key revoke', () =>
    withServerLog(async () => {
      const s = await login(member);
      const client = createSSEClient({
        url: server.graphql,
        headers: { Authorization: `Bearer ${s.token}` },
        retryAttempts: 0,
      });
      sseClients.add(client);
      const pushes = new Stream('sessionTerminated over SSE');
      const connected = new Stream('SSE connection');
      client.subscribe(
        { query: TERMINATED_QUERY },
        {
          next: (result) => (result.errors ? pushes.fail(result.errors) : pushes.push(result.data)),
          error: (err) => pushes.fail(err),
          complete: () => pushes.complete(),
        },
        { connected: () => connected.push(true) },
      );
      // Once the stream is open the token has been authenticated; an end
      // after that is pushed (or emitted at once if it beat the subscription).
      await connected.waitFor(() => true, PUSH_TIMEOUT_MS, 'the SSE response to start');
      await gql('mutation($id: ID!) { revokeSession(id: $id) { id } }', { id: s.id });
      const pushed = await pushes.waitFor(() => true, PUSH_TIMEOUT_MS, 'sessionTerminated over SSE (expected REVOKED_BY_ADMIN)');
      assert.equal(pushed.sessionTerminated.id, s.id);
      assert.equal(pushed.sessionTerminated.endReason, 'REVOKED_BY_ADMIN');
      assert.ok(pushed.sessionTerminated.endedAt, 'endedAt is set');
      await within(PUSH_TIMEOUT_MS, pushes.finished, 'the SSE subscription completing after its one push');
    }));
});
