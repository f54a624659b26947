// The SDK in Node against the real sessiond binary: every end reason
// reaches onSessionEnded once with the right reason, ends during an outage
// are reported after it, live sessions never are, errors are typed.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type Server as HttpServer } from 'node:http';
import WebSocket from 'ws';

import { createClient, SessiondError, type ClientOptions, type SessionEnded, type SessiondClient } from '../src/index.js';
import { Outage, PASSWORD, Sessiond, freePort, portOf, sleep, waitFor, type User } from './harness.js';

const TIME_SCALE = 60; // one policy minute passes in one real second

let s: Sessiond;
let tenantId: string;
let admin: User;
let member: User;
const open: SessiondClient[] = [];

beforeAll(async () => {
  s = await Sessiond.start({ timeScale: TIME_SCALE, expiringSoon: '90s' });
  tenantId = await s.tenant();
  admin = await s.user(tenantId, 'admin', ['admin']);
  member = await s.user(tenantId, 'member');
  await s.portalOn();
});

afterAll(async () => {
  await s?.stop();
});

afterEach((ctx) => {
  for (const c of open.splice(0)) c.close();
  if (ctx.task.result?.state === 'fail') console.log(`--- sessiond log (tail) ---\n${s.logTail()}`);
});

/** A client as one browser tab would have it (no other tabs unless `tabs` names a group). */
function client(extra: Partial<ClientOptions> = {}): SessiondClient & { ends: SessionEnded[] } {
  const c = createClient({
    url: s.graphql,
    storage: 'memory',
    webSocketImpl: WebSocket,
    tabs: false,
    reconnect: { minDelayMs: 50, maxDelayMs: 400 },
    ...extra,
  });
  open.push(c);
  const ends: SessionEnded[] = [];
  c.onSessionEnded((e) => ends.push(e));
  return Object.assign(c, { ends });
}

async function signedIn(u: User, extra: Partial<ClientOptions> = {}) {
  const c = client(extra);
  await c.login({ email: u.email, password: PASSWORD, tenantId: u.tenantId });
  await waitFor('the realtime connection', () => c.connected);
  return c;
}

/** Waits for the one end, then a while longer to prove no second report comes. */
async function endedOnce(c: { ends: SessionEnded[] }, reason: string | null, ms = 10_000) {
  await waitFor(`onSessionEnded (${reason})`, () => c.ends.length > 0, ms);
  expect(c.ends[0]!.reason).toBe(reason);
  await sleep(400); // the 4403 close and the sessionEvents copy come after the push
  expect(c.ends.map((e) => e.reason)).toEqual([reason]);
}

describe('login and typed errors', () => {
  test('login keeps the token in the chosen storage and signs in', async () => {
    const store = new Map<string, string>();
    const storage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
      removeItem: (k: string) => void store.delete(k),
      clear: () => store.clear(),
      key: () => null,
      length: 0,
    } as Storage;
    const c = client({ storage });
    const { session } = await c.login({ email: member.email, password: PASSWORD, tenantId });
    expect(session.id).toMatch(/\S/);
    expect(c.token).toMatch(/^sds_/);
    expect(store.get('sessiond.token')).toBe(c.token);
    expect(c.getState()).toMatchObject({ status: 'signed-in', user: { email: member.email }, endedReason: null });
    const me = await c.me();
    expect(me.user.id).toBe(member.id);
    expect(me.session.id).toBe(session.id);
    expect(me.session.current).toBe(true);
    expect(me.tenant.id).toBe(tenantId);
  });

  test('a wrong password is UNAUTHENTICATED and leaves the client signed out', async () => {
    const c = client();
    const err = await c.login({ email: member.email, password: 'wrong password!', tenantId }).catch((e) => e);
    expect(err).toBeInstanceOf(SessiondError);
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(c.token).toBeNull();
    expect(c.ends).toEqual([]);
  });

  test('repeated failures are RATE_LIMITED with retryAfter', async () => {
    // On a server of its own: the limit also counts per IP address.
    const other = await Sessiond.start();
    try {
      const t = await other.tenant();
      const u = await other.user(t, 'limited');
      const c = client({ url: other.graphql });
      let err: SessiondError | null = null;
      for (let i = 0; i < 30 && !err; i++) {
        const e = (await c.login({ email: u.email, password: 'not the password', tenantId: t }).catch((x) => x)) as SessiondError;
        if (e.code === 'RATE_LIMITED') err = e;
      }
      expect(err).toBeInstanceOf(SessiondError);
      expect(err?.code).toBe('RATE_LIMITED');
      expect(err?.retryAfter).toBeGreaterThan(0);
    } finally {
      await other.stop();
    }
  });

  test('NOT_FOUND, FEATURE_DISABLED and BAD_USER_INPUT map extensions one to one', async () => {
    const c = await signedIn(member);
    const nf = await c.revokeSession('no-such-session').catch((e) => e);
    expect(nf).toBeInstanceOf(SessiondError);
    expect(nf.code).toBe('NOT_FOUND');

    // A wrong password sent through request() is not the session's end.
    const wrong = await c
      .request('mutation($in: LoginInput!) { login(input: $in) { token } }', { in: { email: member.email, password: 'nope nope' } })
      .catch((e) => e);
    expect(wrong.code).toBe('UNAUTHENTICATED');

    const a = await signedIn(admin);
    const bad = await a
      .request('mutation($in: SessionPolicyInput!) { updateSessionPolicy(input: $in) { terminatedSessions } }', {
        in: { idleTimeout: { enabled: true, duration: { value: 0, unit: 'MINUTES' } } },
      })
      .catch((e) => e);
    expect(bad).toBeInstanceOf(SessiondError);
    expect(bad.code).toBe('BAD_USER_INPUT');
    expect(bad.field).toMatch(/idleTimeout/);

    await s.gql('mutation { updateAdminPortal(input: {privacyAndSecurity: false}) { privacyAndSecurity } }');
    try {
      const fd = await c.sessions().catch((e) => e);
      expect(fd).toBeInstanceOf(SessiondError);
      expect(fd.code).toBe('FEATURE_DISABLED');
      expect(c.getState().status).toBe('signed-in'); // a refusal is not an end
    } finally {
      await s.gql('mutation { updateAdminPortal(input: {privacyAndSecurity: true}) { privacyAndSecurity } }');
    }
    await sleep(200);
    expect(c.ends).toEqual([]);
    expect(a.ends).toEqual([]);
    expect(await s.live(c.token!)).toBe(true);
  });

  test('a token the server does not know ends with reason null, once', async () => {
    const c = client();
    c.setToken('sds_' + 'x'.repeat(43));
    await endedOnce(c, null);
    expect(c.getState().status).toBe('signed-out');
  });
});

describe('every end reason reaches onSessionEnded once', () => {
  test('REVOKED_BY_USER: the user ends it from another session', async () => {
    const c = await signedIn(member);
    const other = await signedIn(member);
    const id = c.getState().session!.id;
    const listed = await other.sessions();
    expect(listed.find((x) => x.id === id)?.current).toBe(false);
    await other.revokeSession(id);
    await endedOnce(c, 'REVOKED_BY_USER');
    expect(c.ends[0]!.session?.id).toBe(id);
    expect(c.getState()).toMatchObject({ status: 'signed-out', endedReason: 'REVOKED_BY_USER' });
    expect(c.token).toBeNull();
    expect(other.ends).toEqual([]);
  });

  test('REVOKED_BY_ADMIN: the admin key signs the user out (signOutUser)', async () => {
    const u = await s.user(tenantId, 'signed-out');
    const c = await signedIn(u);
    await s.gql('mutation($u: ID!) { signOutUser(userId: $u) }', { u: u.id });
    await endedOnce(c, 'REVOKED_BY_ADMIN');
  });

  test('CONCURRENT_SESSION_LIMIT: a newer login over the limit', async () => {
    const t = await s.tenant('concurrent');
    const u = await s.user(t, 'concurrent');
    const c = await signedIn(u);
    await s.policy(t, { maxConcurrentSessions: { enabled: true, maxSessions: 1 } });
    const newer = client();
    await newer.login({ email: u.email, password: PASSWORD });
    await endedOnce(c, 'CONCURRENT_SESSION_LIMIT');
    expect(newer.ends).toEqual([]);
  });

  test('IDLE_TIMEOUT: no activity for a policy minute', async () => {
    const t = await s.tenant('idle');
    const u = await s.user(t, 'idle');
    await s.policy(t, { idleTimeout: { enabled: true, duration: { value: 1, unit: 'MINUTES' } } });
    const c = await signedIn(u);
    await endedOnce(c, 'IDLE_TIMEOUT', 15_000);
  });

  test('FORCE_RELOGIN: ends despite steady activity', async () => {
    const t = await s.tenant('relogin');
    const u = await s.user(t, 'relogin');
    await s.policy(t, {
      idleTimeout: { enabled: true, duration: { value: 30, unit: 'MINUTES' } },
      forceRelogin: { enabled: true, duration: { value: 2, unit: 'MINUTES' } },
    });
    const c = await signedIn(u);
    let recorded = 0;
    while (!c.ends.length) {
      await c.recordActivity().then(
        () => recorded++,
        () => {},
      );
      await sleep(300);
    }
    await endedOnce(c, 'FORCE_RELOGIN', 15_000);
    expect(recorded).toBeGreaterThan(2);
  });

  test('USER_REMOVED: the user is removed from the tenant', async () => {
    const u = await s.user(tenantId, 'removed');
    const c = await signedIn(u);
    await s.gql('mutation($u: ID!, $t: ID!) { removeUserFromTenant(userId: $u, tenantId: $t) }', { u: u.id, t: tenantId });
    await endedOnce(c, 'USER_REMOVED');
  });

  test('LOGOUT: a logout in one tab ends the session in every tab', async () => {
    const group = s.unique('tabs');
    const a = client({ tabs: group });
    const b = client({ tabs: group });
    await waitFor('both tabs to settle', () => a.getState().status !== 'loading' && b.getState().status !== 'loading');
    await a.login({ email: member.email, password: PASSWORD, tenantId });
    // Login in one tab is seen by the other.
    await waitFor('tab b to see the login', () => b.getState().status === 'signed-in');
    expect(b.token).toBe(a.token);
    await waitFor('one leader', () => [a, b].filter((c) => c.isLeader).length === 1 && (a.connected || b.connected));
    await a.logout();
    await endedOnce(a, 'LOGOUT');
    await endedOnce(b, 'LOGOUT');
    expect(b.token).toBeNull();
  });
});

describe('outages, reconnects and live sessions', () => {
  test('an end during a dropped connection is reported after the reconnect, with its reason', async () => {
    const net = new Outage(portOf(s.graphql));
    await net.up();
    try {
      const u = await s.user(tenantId, 'outage');
      const c = await signedIn(u, { url: net.url });
      await net.down();
      await waitFor('the client to notice the drop', () => !c.connected);
      const me = await c.me().catch((e) => e);
      expect(me.code).toBe('NETWORK'); // a failed network …
      expect(c.getState().status).toBe('signed-in'); // … never logs out
      expect(c.token).not.toBeNull();
      await s.gql('mutation($u: ID!) { signOutUser(userId: $u) }', { u: u.id });
      await sleep(300);
      expect(c.ends).toEqual([]);
      await net.up();
      await endedOnce(c, 'REVOKED_BY_ADMIN');
    } finally {
      await net.down();
    }
  });

  test('no event for a live session: other sessions end, the connection drops and comes back', async () => {
    const net = new Outage(portOf(s.graphql));
    await net.up();
    try {
      const u = await s.user(tenantId, 'live');
      const c = await signedIn(u, { url: net.url });
      const other = await signedIn(u);
      const seen: string[] = [];
      c.onSessionEvent((e) => seen.push(`${e.kind}:${e.session.id}`));
      await c.revokeOtherSessions();
      await endedOnce(other, 'REVOKED_BY_USER');
      await waitFor('the other session end as a sessionEvents event', () => seen.some((x) => x.startsWith('TERMINATED:')));
      const someoneElse = await signedIn(member);
      await s.gql('mutation($u: ID!) { signOutUser(userId: $u) }', { u: member.id });
      await endedOnce(someoneElse, 'REVOKED_BY_ADMIN');
      await net.down();
      await waitFor('the drop', () => !c.connected);
      await net.up();
      await waitFor('the reconnect', () => c.connected);
      await sleep(500);
      expect(c.ends).toEqual([]);
      expect(c.getState().status).toBe('signed-in');
      expect(await s.live(c.token!)).toBe(true);
    } finally {
      await net.down();
    }
  });

  test('onExpiringSoon → staySignedIn keeps the session past its idle deadline', async () => {
    const t = await s.tenant('expiring');
    const u = await s.user(t, 'expiring');
    // Warned (90 s ahead) 1.5 real seconds after the last activity: time to connect first.
    await s.policy(t, { idleTimeout: { enabled: true, duration: { value: 3, unit: 'MINUTES' } } });
    const c = await signedIn(u);
    const warnings: { expiresAt: string; rule: string }[] = [];
    let kept = 0;
    c.onExpiringSoon((w) => {
      warnings.push(w);
      if (kept++ < 3) void c.staySignedIn();
    });
    const firstDeadline = c.getState().session!.expiresAt;
    await waitFor('EXPIRING_SOON', () => warnings.length > 0, 10_000);
    expect(warnings[0]!.rule).toBe('IDLE');
    // Three warnings answered: the session lived three idle timeouts and more.
    await waitFor('three warnings', () => warnings.length >= 3, 20_000);
    expect(c.ends).toEqual([]);
    expect(Date.parse(c.getState().session!.expiresAt)).toBeGreaterThan(Date.parse(firstDeadline));
    // Unanswered, the next one is followed by the end.
    await endedOnce(c, 'IDLE_TIMEOUT', 15_000);
  }, 60_000);
});

describe('transports', () => {
  test('Server-Sent Events when configured', async () => {
    const u = await s.user(tenantId, 'sse');
    const c = await signedIn(u, { transport: 'sse' });
    expect(c.transport).toBe('sse');
    await s.gql('mutation($u: ID!) { signOutUser(userId: $u) }', { u: u.id });
    await endedOnce(c, 'REVOKED_BY_ADMIN');
  });

  test('automatic switch to SSE after repeated failed websocket upgrades', async () => {
    // A proxy that refuses every upgrade, as some corporate proxies do.
    const blocker: HttpServer = createServer((_, res) => res.writeHead(404).end());
    blocker.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\n\r\n'));
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    try {
      const u = await s.user(tenantId, 'blocked');
      const c = client({ wsUrl: `ws://127.0.0.1:${port}/graphql` });
      await c.login({ email: u.email, password: PASSWORD, tenantId });
      await waitFor('the switch to SSE', () => c.transport === 'sse' && c.connected);
      await s.gql('mutation($u: ID!) { signOutUser(userId: $u) }', { u: u.id });
      await endedOnce(c, 'REVOKED_BY_ADMIN');
    } finally {
      blocker.close();
    }
  });
});
