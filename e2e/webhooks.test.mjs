// Webhook signatures checked by a second implementation: the REAL sessiond
// binary delivers to a Node receiver that verifies every request with the
// `standardwebhooks` npm package (the Standard Webhooks reference library
// for JavaScript), as a customer's back end would.
//
// The server runs with `-webhook-allow-insecure` (development/tests only)
// so that it may POST to http://127.0.0.1.
//
// Run: cd e2e && npm ci && node --test

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHTTPServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { Webhook } from 'standardwebhooks';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const WAIT_MS = 10_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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

const server = { proc: null, dir: null, log: [], base: '', adminKey: '' };

async function startServer() {
  server.dir = mkdtempSync(join(tmpdir(), 'sessiond-e2e-webhooks-'));
  const binary = join(server.dir, 'sessiond');
  await promisify(execFile)('go', ['build', '-o', binary, '.'], { cwd: REPO_ROOT, timeout: 240_000, maxBuffer: 16 << 20 });
  const port = await freePort();
  server.base = `http://127.0.0.1:${port}`;
  server.adminKey = 'sdk_admin_' + randomBytes(32).toString('base64url');
  server.proc = spawn(
    binary,
    ['-addr', `127.0.0.1:${port}`, '-db', join(server.dir, 'sessiond.db'), '-webhook-allow-insecure', '-webhook-poll', '50ms'],
    { cwd: server.dir, env: { ...process.env, SESSIOND_ADMIN_KEY: server.adminKey }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  server.proc.stdout.on('data', (b) => server.log.push(b.toString()));
  server.proc.stderr.on('data', (b) => server.log.push(b.toString()));
  process.on('exit', () => server.proc?.kill('SIGKILL'));
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const res = await fetch(`${server.base}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`sessiond did not start:\n${server.log.join('')}`);
    await sleep(50);
  }
}

async function gql(query, variables = {}) {
  const res = await fetch(`${server.base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${server.adminKey}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}\nquery: ${query}`);
  return body.data;
}

/** A receiver that keeps every request: raw body and headers. */
const receiver = {
  srv: null,
  url: '',
  got: [],
  waiters: [],
  async start() {
    this.srv = createHTTPServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        this.got.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
        res.writeHead(204).end();
        for (const w of this.waiters.splice(0)) w();
      });
    });
    await new Promise((resolve) => this.srv.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${this.srv.address().port}/hooks`;
  },
  async waitFor(n) {
    const deadline = Date.now() + WAIT_MS;
    while (this.got.length < n) {
      if (Date.now() > deadline) throw new Error(`got ${this.got.length} webhooks, want ${n}`);
      await new Promise((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return this.got;
  },
};

describe('webhooks verified with the standardwebhooks npm package', () => {
  let secret;
  let endpointId;
  let tenantId;
  let userId;

  before(async () => {
    await receiver.start();
    await startServer();
    const created = await gql(
      'mutation($u: String!) { createWebhookEndpoint(input: {url: $u}) { endpoint { id } secret } }',
      { u: receiver.url },
    );
    secret = created.createWebhookEndpoint.secret;
    endpointId = created.createWebhookEndpoint.endpoint.id;
    tenantId = (await gql('mutation { createTenant(input: {name: "hooks"}) { id } }')).createTenant.id;
    userId = (await gql('mutation($t: ID!) { createUser(input: {email: "hooks@example.com", name: "H", tenantId: $t}) { id } }', { t: tenantId })).createUser.id;
  });

  after(async () => {
    server.proc?.kill('SIGTERM');
    receiver.srv?.close();
    if (process.env.SESSIOND_E2E_LOG) console.log(server.log.join(''));
    if (server.dir) rmSync(server.dir, { recursive: true, force: true });
  });

  test('session.created and session.ended verify, with the payload the docs describe', async () => {
    const ses = (await gql('mutation($u: ID!, $t: ID!) { createSession(input: {userId: $u, tenantId: $t}) { token session { id } } }', { u: userId, t: tenantId })).createSession;
    await gql('mutation($id: ID!) { revokeSession(id: $id) { id } }', { id: ses.session.id });
    const got = await receiver.waitFor(2);
    const wh = new Webhook(secret);
    const payloads = got.map((r) => wh.verify(r.body, r.headers));
    const types = payloads.map((p) => p.type).sort();
    assert.deepEqual(types, ['session.created', 'session.ended']);
    const ended = payloads.find((p) => p.type === 'session.ended');
    assert.equal(ended.data.session.id, ses.session.id);
    assert.equal(ended.data.session.reason, 'REVOKED_BY_ADMIN');
    assert.ok(!got.some((r) => r.body.includes(ses.token)), 'a payload carries the session token');
    for (const r of got) {
      assert.match(r.headers['webhook-id'], /^msg_/);
      assert.match(r.headers['webhook-timestamp'], /^\d+$/);
    }
  });

  test('a tampered body or a wrong secret does not verify', async () => {
    const [r] = await receiver.waitFor(1);
    assert.throws(() => new Webhook(secret).verify(r.body.replace('session', 'sessiom'), r.headers));
    const other = 'whsec_' + randomBytes(32).toString('base64');
    assert.throws(() => new Webhook(other).verify(r.body, r.headers));
  });

  test('after a rotation both the old and the new secret verify during the overlap', async () => {
    const rotated = (await gql('mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }', { id: endpointId })).rotateWebhookSecret.secret;
    const n = receiver.got.length;
    await gql('mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }', { id: endpointId });
    const got = await receiver.waitFor(n + 1);
    const r = got[n];
    assert.equal(r.headers['webhook-signature'].split(' ').length, 2);
    for (const s of [secret, rotated]) {
      const p = new Webhook(s).verify(r.body, r.headers);
      assert.equal(p.type, 'webhook.test');
      assert.equal(p.data.endpointId, endpointId);
    }
  });
});
