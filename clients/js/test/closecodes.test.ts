// How the SDK treats websocket close codes the real server sends rarely or
// not on demand (a slow-consumer close, codes added later). The websocket
// end is a small graphql-transport-ws endpoint under the test's control;
// HTTP (`me`, the judge of whether a session ended) is the real sessiond.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';

import { createClient, type SessionEnded, type SessiondClient } from '../src/index.js';
import { PASSWORD, Sessiond, sleep, waitFor } from './harness.js';

let s: Sessiond;
let wss: WebSocketServer;
let wsUrl = '';
/** What the endpoint does with the n-th connection after connection_ack (0-based). */
let script: (n: number, ws: WebSocket) => void = () => {};
let connections = 0;
const open: SessiondClient[] = [];

beforeAll(async () => {
  s = await Sessiond.start();
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'graphql-transport-ws' });
  await new Promise<void>((r) => wss.on('listening', () => r()));
  wsUrl = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/graphql`;
  wss.on('connection', (ws) => {
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw)) as { type: string };
      if (m.type === 'connection_init') {
        ws.send(JSON.stringify({ type: 'connection_ack' }));
        script(connections++, ws);
      }
      if (m.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
    });
  });
});

afterAll(async () => {
  wss?.close();
  await s?.stop();
});

afterEach(() => {
  for (const c of open.splice(0)) c.close();
  connections = 0;
});

async function signedIn(): Promise<SessiondClient & { ends: SessionEnded[] }> {
  const t = await s.tenant();
  const u = await s.user(t, 'closes');
  const c = createClient({ url: s.graphql, wsUrl, storage: 'memory', webSocketImpl: WebSocket, tabs: false, reconnect: { minDelayMs: 50, maxDelayMs: 200 } });
  open.push(c);
  const ends: SessionEnded[] = [];
  c.onSessionEnded((e) => ends.push(e));
  await c.login({ email: u.email, password: PASSWORD });
  return Object.assign(c, { ends });
}

describe('close codes', () => {
  test('a slow-consumer close (4429) and unknown 44xx codes reconnect with backoff and end nothing', async () => {
    script = (n, ws) => {
      if (n === 0) ws.close(4429, 'too slow: session events were dropped; reconnect and resync');
      if (n === 1) ws.close(4456, 'a code this SDK has never heard of');
    };
    const c = await signedIn();
    await waitFor('a third connection that stays', () => connections >= 3 && c.connected);
    await sleep(300);
    expect(connections).toBe(3);
    expect(c.ends).toEqual([]);
    expect(c.getState().status).toBe('signed-in');
  });

  test('1012 (service restart: an instance draining) reconnects and ends nothing', async () => {
    script = (n, ws) => {
      if (n === 0) ws.close(1012, 'service restart: reconnect');
    };
    const c = await signedIn();
    await waitFor('a second connection', () => connections >= 2 && c.connected);
    expect(c.ends).toEqual([]);
    expect(c.getState().status).toBe('signed-in');
  });

  test('4403 for a session the server still calls live ends nothing, and reconnects later', async () => {
    script = (n, ws) => {
      if (n === 0) ws.close(4403, 'session ended: REVOKED_BY_ADMIN');
    };
    const c = await signedIn();
    await waitFor('the reconnect after asking me', () => connections >= 2 && c.connected);
    expect(c.ends).toEqual([]);
    expect(await s.live(c.token!)).toBe(true);
  });

  test('4401 for an ended session reports the reason the server stored, not the one in the close', async () => {
    let close: (() => void) | null = null;
    script = (n, ws) => {
      if (n === 0) close = () => ws.close(4401, 'unauthorized: the session has ended (LOGOUT)');
    };
    const c = await signedIn();
    await waitFor('the connection', () => close !== null);
    await s.gql('mutation($id: ID!) { revokeSession(id: $id) { id } }', { id: c.getState().session!.id });
    close!();
    await waitFor('onSessionEnded', () => c.ends.length > 0);
    expect(c.ends.map((e) => e.reason)).toEqual(['REVOKED_BY_ADMIN']);
    await sleep(300);
    expect(c.ends).toHaveLength(1);
    expect(connections).toBe(1); // no reconnect after the end
  });
});
