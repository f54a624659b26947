// The leader tab's realtime connection for one session token:
// graphql-transport-ws (graphql-ws) with backoff and jitter, or Server-Sent
// Events (graphql-sse) when websockets are blocked. It reports what the
// server pushes and hands authentication closes (4401/4403) to the client,
// which asks `me` before it believes a session ended.
import type { Client as WSClient, ClientOptions as WSClientOptions } from 'graphql-ws/client';
import type { Client as SSEClient } from 'graphql-sse';

import { SESSION_EVENTS, SESSION_TERMINATED } from './operations.js';
import type {
  SessionEndReason,
  SessionEventsSubscription,
  SessionFieldsFragment,
  SessionTerminatedSubscription,
} from './generated/graphql.js';
import type { GraphQLErrorLike } from './errors.js';

/** How the realtime connection is made. */
export type TransportMode = 'auto' | 'websocket' | 'sse';

export type SessionEventData = SessionEventsSubscription['sessionEvents'];

export interface RealtimeOptions {
  httpUrl: string;
  wsUrl: string;
  token: string;
  mode: TransportMode;
  sseAfterFailures: number;
  minDelayMs: number;
  maxDelayMs: number;
  keepAliveMs: number;
  webSocketImpl?: unknown;
  fetch: typeof fetch;
  /** The session ended, as the server pushed it. */
  ended(reason: SessionEndReason | null, session: SessionFieldsFragment): void;
  /** Any event of sessionEvents (all of the user's sessions). */
  event(ev: SessionEventData): void;
  /** The server refused the token (4401, UNAUTHENTICATED) or closed for an ended session (4403). */
  refused(hint: SessionEndReason | null): void;
  /** Connected; `gap` when an earlier connection of this token was lost. */
  connected(gap: boolean, transport: 'websocket' | 'sse'): void;
  /** Whether sessiond answers plain HTTP (for the switch to SSE). */
  reachable(): Promise<boolean>;
}

const REASON = /\b(LOGOUT|REVOKED_BY_USER|REVOKED_BY_ADMIN|IDLE_TIMEOUT|FORCE_RELOGIN|CONCURRENT_SESSION_LIMIT|USER_REMOVED)\b/;

/** The end reason named in a close reason or error message, if any. */
export function reasonIn(text: string | undefined): SessionEndReason | null {
  const m = text ? REASON.exec(text) : null;
  return m ? (m[1] as SessionEndReason) : null;
}

export class Realtime {
  /** The transport in use now. */
  transport: 'websocket' | 'sse';
  /** Whether the connection is up (acknowledged by the server). */
  up = false;
  private attempt = 0;
  private failedUpgrades = 0;
  private everConnected = false;
  private wsWorked = false;
  private stopped = false;
  private gen = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private dispose: (() => void) | null = null;
  private eventsUnavailable = false;

  constructor(private readonly o: RealtimeOptions) {
    this.transport = o.mode === 'sse' ? 'sse' : 'websocket';
  }

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.up = false;
    clearTimeout(this.timer);
    this.gen++;
    this.dispose?.();
    this.dispose = null;
  }

  /** Reconnects now if waiting out a backoff (the browser came back online). */
  kick(): void {
    if (this.stopped || this.dispose) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    const gen = ++this.gen;
    this.dispose?.();
    this.dispose = null;
    // The transports load on first use: a signed-out page (a sign-in form)
    // never needs them, and they are a third of the SDK's code. The module
    // system caches them, so later connections wait only a microtask.
    const open =
      this.transport === 'websocket'
        ? import('graphql-ws/client').then(({ createClient }) => () => this.connectWS(gen, createClient))
        : import('graphql-sse').then(({ createClient }) => () => this.connectSSE(gen, createClient));
    open.then(
      (connect) => {
        if (gen === this.gen && !this.stopped) this.dispose = connect();
      },
      () => this.retry(gen), // the chunk did not load (offline): back off as after a failed connection
    );
  }

  /** Drops the current connection and tries again after a backoff. */
  private retry(gen: number): void {
    if (this.stopped || gen !== this.gen) return;
    this.up = false;
    this.gen++;
    this.dispose?.();
    this.dispose = null;
    // Exponential backoff with jitter in [delay/2, delay), so tabs of many
    // browsers that lost the server together do not come back together.
    const delay = Math.min(this.o.maxDelayMs, this.o.minDelayMs * 2 ** this.attempt);
    this.attempt++;
    this.timer = setTimeout(() => this.connect(), delay / 2 + (Math.random() * delay) / 2);
  }

  private onConnected(transport: 'websocket' | 'sse'): void {
    this.up = true;
    const gap = this.everConnected;
    this.everConnected = true;
    this.attempt = 0;
    this.failedUpgrades = 0;
    this.o.connected(gap, transport);
  }

  /** Handles GraphQL errors of a subscription; true when the stream is done for. */
  private errors(gen: number, errs: readonly GraphQLErrorLike[], stream: 'terminated' | 'events'): void {
    if (gen !== this.gen) return;
    const unauth = errs.find((e) => e.extensions?.['code'] === 'UNAUTHENTICATED');
    if (unauth) {
      this.stopDueToRefusal(reasonOfError(unauth));
      return;
    }
    if (stream === 'events') {
      // Privacy & Security off (FEATURE_DISABLED) or similar: sessionTerminated
      // still reports ends; only EXPIRING_SOON and other sessions' events are lost.
      this.eventsUnavailable = true;
      return;
    }
    this.retry(gen);
  }

  private stopDueToRefusal(hint: SessionEndReason | null): void {
    if (this.stopped) return;
    this.stop();
    this.o.refused(hint);
  }

  private next(gen: number, stream: 'terminated' | 'events', data: unknown): void {
    if (gen !== this.gen || !data) return;
    if (stream === 'terminated') {
      const s = (data as SessionTerminatedSubscription).sessionTerminated;
      if (s) this.o.ended(s.endReason, s);
      return;
    }
    const ev = (data as SessionEventsSubscription).sessionEvents;
    if (!ev) return;
    this.o.event(ev);
  }

  private connectWS(gen: number, createWSClient: (o: WSClientOptions) => WSClient): () => void {
    let opened = false;
    let pongTimer: ReturnType<typeof setTimeout> | undefined;
    let socket: { close(code?: number, reason?: string): void; readyState: number } | null = null;
    const opts: WSClientOptions = {
      url: this.o.wsUrl,
      connectionParams: { Authorization: `Bearer ${this.o.token}` },
      retryAttempts: 0,
      shouldRetry: () => false,
      keepAlive: this.o.keepAliveMs,
      on: {
        opened: (s) => {
          opened = true;
          socket = s as typeof socket;
        },
        connected: () => {
          if (gen !== this.gen) return;
          this.wsWorked = true;
          this.onConnected('websocket');
        },
        // A ping without a pong in time means the connection is dead (a
        // laptop lid, a NAT timeout): close it so the backoff starts.
        ping: (received) => {
          if (received) return;
          clearTimeout(pongTimer);
          pongTimer = setTimeout(() => {
            if (socket && socket.readyState === 1) socket.close(4499, 'Terminated');
          }, Math.max(1000, this.o.keepAliveMs / 2));
        },
        pong: (received) => {
          if (received) clearTimeout(pongTimer);
        },
        closed: (event) => {
          clearTimeout(pongTimer);
          if (gen !== this.gen) return;
          const ev = event as { code?: number; reason?: string };
          if (ev.code === 4401 || ev.code === 4403) {
            this.stopDueToRefusal(reasonIn(ev.reason));
            return;
          }
          if (!opened) this.failedUpgrades++;
          if (this.o.mode === 'auto' && !this.wsWorked && this.failedUpgrades >= this.o.sseAfterFailures) {
            void this.maybeSwitchToSSE(gen);
            return;
          }
          // Unknown 44xx codes (a slow-consumer close among them), 1006 and
          // the rest: the session is fine, the connection is not.
          this.retry(gen);
        },
      },
    };
    if (this.o.webSocketImpl) opts.webSocketImpl = this.o.webSocketImpl;
    let client: WSClient;
    try {
      client = createWSClient(opts);
    } catch {
      // No WebSocket in this environment at all.
      if (this.o.mode === 'auto') {
        this.transport = 'sse';
        queueMicrotask(() => gen === this.gen && this.connect());
      }
      return () => {};
    }
    const sink = (stream: 'terminated' | 'events') => ({
      next: (r: { data?: unknown; errors?: readonly GraphQLErrorLike[] }) =>
        r.errors?.length ? this.errors(gen, r.errors, stream) : this.next(gen, stream, r.data),
      error: (err: unknown) => {
        if (Array.isArray(err)) this.errors(gen, err as GraphQLErrorLike[], stream);
        // Close events arrive through on.closed.
      },
      complete: () => {},
    });
    const unsubs = [client.subscribe({ query: SESSION_TERMINATED }, sink('terminated'))];
    if (!this.eventsUnavailable) unsubs.push(client.subscribe({ query: SESSION_EVENTS }, sink('events')));
    return () => {
      clearTimeout(pongTimer);
      unsubs.forEach((u) => u());
      // dispose() rejects when the connection attempt failed: nothing to clean up then.
      Promise.resolve(client.dispose()).catch(() => {});
    };
  }

  private async maybeSwitchToSSE(gen: number): Promise<void> {
    // Only when plain HTTP works: offline is not "websockets are blocked".
    const ok = await this.o.reachable();
    if (gen !== this.gen || this.stopped) return;
    if (ok) {
      this.transport = 'sse';
      this.attempt = 0;
      this.connect();
    } else this.retry(gen);
  }

  private connectSSE(gen: number, createSSEClient: typeof import('graphql-sse').createClient): () => void {
    const client: SSEClient = createSSEClient({
      url: this.o.httpUrl,
      headers: { Authorization: `Bearer ${this.o.token}` },
      retryAttempts: 0,
      fetchFn: this.o.fetch,
    });
    let live = 0;
    const sink = (stream: 'terminated' | 'events') => ({
      next: (r: { data?: unknown; errors?: readonly GraphQLErrorLike[] }) =>
        r.errors?.length ? this.errors(gen, r.errors, stream) : this.next(gen, stream, r.data),
      error: (err: unknown) => {
        if (Array.isArray(err)) this.errors(gen, err as GraphQLErrorLike[], stream);
        else this.retry(gen);
      },
      complete: () => {
        // sessionTerminated completes after its one event; a stream that
        // just stops (a proxy's timeout) is reopened.
        if (stream === 'events' && !this.stopped) this.retry(gen);
      },
    });
    const on = {
      connected: () => {
        if (gen === this.gen && ++live === 1) this.onConnected('sse');
      },
    };
    const unsubs = [client.subscribe({ query: SESSION_TERMINATED }, sink('terminated'), on)];
    if (!this.eventsUnavailable) unsubs.push(client.subscribe({ query: SESSION_EVENTS }, sink('events'), on));
    return () => {
      unsubs.forEach((u) => u());
      client.dispose();
    };
  }
}

function reasonOfError(e: GraphQLErrorLike): SessionEndReason | null {
  const r = e.extensions?.['reason'];
  return typeof r === 'string' ? (r as SessionEndReason) : reasonIn(e.message);
}
