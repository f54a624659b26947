// createClient: the SDK's one entry point. See README.md for the behaviour
// this file promises (exactly-once onSessionEnded, cross-tab sharing,
// stay-signed-in) and the server contract in ../../schema.graphqls.
import {
  LOGIN,
  LOGOUT,
  ME,
  MY_SESSIONS,
  RECORD_ACTIVITY,
  REVOKE_MY_SESSIONS,
  REVOKE_SESSION,
} from './operations.js';
import type {
  LoginMutation,
  LogoutMutation,
  MeQuery,
  MySessionsQuery,
  RecordActivityMutation,
  RevokeMySessionsMutation,
  RevokeSessionMutation,
  SessionEndReason,
  SessionFieldsFragment,
  UserFieldsFragment,
} from './generated/graphql.js';
import { SessiondError, fromGraphQLError, type GraphQLErrorLike } from './errors.js';
import { tokenStore, type StorageOption, type TokenStore } from './storage.js';
import { Tabs, type TabMessage } from './tabs.js';
import { Realtime, type SessionEventData, type TransportMode } from './realtime.js';

export type { SessionEndReason, SessionEventKind } from './generated/graphql.js';
export type { StorageOption } from './storage.js';
export type { TransportMode, SessionEventData as SessionEvent } from './realtime.js';

/** A session as the SDK reads it. */
export type Session = SessionFieldsFragment;
/** The signed-in user. */
export type User = UserFieldsFragment;
/** The answer of `me()`: who is calling. */
export type Me = MeQuery['me'];

export interface ClientOptions {
  /** sessiond's GraphQL endpoint, e.g. `https://auth.example.com/graphql` (relative URLs work in browsers). */
  url: string;
  /** The websocket URL; derived from `url` (http→ws, https→wss) when left out. */
  wsUrl?: string;
  /** Where the token is kept (default `'session'`). */
  storage?: StorageOption;
  /** The storage key of the token (default `sessiond.token`). */
  storageKey?: string;
  /** A WebSocket constructor, for Node or tests (default: the global one). */
  webSocketImpl?: unknown;
  /** A fetch function (default: the global one). */
  fetch?: typeof fetch;
  /** `'auto'` (default): websockets, Server-Sent Events after repeated failed upgrades. */
  transport?: TransportMode;
  /** Failed websocket upgrades before `'auto'` switches to SSE (default 3). */
  sseAfterFailures?: number;
  /**
   * Share one connection and the sign-in state with the other tabs of this
   * origin (default true). A string names the group, for several apps on
   * one origin; false keeps this client to itself.
   */
  tabs?: boolean | string;
  /** Reconnect backoff bounds in ms (default 500 and 30 000). */
  reconnect?: { minDelayMs?: number; maxDelayMs?: number };
  /** Client-side websocket ping interval in ms, to notice dead connections (default 10 000). */
  keepAliveMs?: number;
}

export type SessionStatus = 'loading' | 'signed-in' | 'signed-out';

/** Which deadline an EXPIRING_SOON warning is about. */
export type ExpiryRule = 'IDLE' | 'ABSOLUTE';

export interface ExpiringSoon {
  /** When the session ends unless it is extended (idle rule only). */
  expiresAt: string;
  rule: ExpiryRule;
}

export interface SessionEnded {
  /** Why it ended; null when the server no longer knows the token at all. */
  reason: SessionEndReason | null;
  /** The session as last seen (with `endedAt`/`endReason` when the server said). */
  session: Session | null;
}

/** The client's view of the sign-in, as `useSession()` returns it. */
export interface SessionState {
  status: SessionStatus;
  session: Session | null;
  user: User | null;
  /** Why the last session ended, until the next sign-in. */
  endedReason: SessionEndReason | null;
  /** The pending EXPIRING_SOON warning, cleared when the deadline moves or the session ends. */
  expiringSoon: ExpiringSoon | null;
}

export interface RequestOptions {
  /**
   * Send `X-Session-Activity: passive`: the request does not count as user
   * activity, so background polling never keeps an idle session alive.
   */
  passive?: boolean;
}

export interface TrackActivityOptions {
  /** DOM events that count as the user being there (default pointerdown, keydown, wheel, touchstart, scroll). */
  events?: string[];
  /** At most one recordActivity per this many seconds, across tabs (default 60, at least 1: the server writes activity about once a second). */
  throttleSeconds?: number;
  /** Where to listen (default `window`). */
  target?: EventTarget;
}

export interface SessiondClient {
  /** The current token, or null. */
  readonly token: string | null;
  /** Signs in with email and password; keeps the token in the chosen storage. */
  login(input: { email: string; password: string; tenantId?: string }): Promise<{ session: Session }>;
  /** Uses a token minted elsewhere (e.g. by a back end with createSession); null forgets it locally. */
  setToken(token: string | null): void;
  /** Ends the session (LOGOUT) in every tab. */
  logout(): Promise<void>;
  me(options?: RequestOptions): Promise<Me>;
  /** The user's active sessions, the current one flagged `current` (needs Privacy & Security). */
  sessions(options?: RequestOptions): Promise<Session[]>;
  revokeSession(id: string): Promise<Session>;
  /** Ends the user's other sessions; resolves to how many ended. */
  revokeOtherSessions(): Promise<number>;
  /** Counts as activity and returns the session with its new deadlines. */
  recordActivity(): Promise<Session>;
  /** Runs a GraphQL operation with the session's token. */
  request<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, options?: RequestOptions): Promise<T>;
  /** Called once per ended session, whatever ended it; returns an unsubscribe function. */
  onSessionEnded(cb: (e: SessionEnded) => void): () => void;
  /** Called when the server warns that the session is about to end. */
  onExpiringSoon(cb: (e: ExpiringSoon) => void): () => void;
  /** Every sessionEvents event of the user's sessions (CREATED, TERMINATED, EXPIRING_SOON). */
  onSessionEvent(cb: (e: SessionEventData) => void): () => void;
  /** Answers EXPIRING_SOON: records activity, which moves the idle deadline. */
  staySignedIn(): Promise<Session>;
  /** Records activity on user input, throttled; returns stop(). */
  trackActivity(options?: TrackActivityOptions): () => void;
  getState(): SessionState;
  /** Called on every state change; returns an unsubscribe function. */
  subscribe(cb: (s: SessionState) => void): () => void;
  /** Which realtime transport the leader uses now, or null in a follower tab or when signed out. */
  readonly transport: 'websocket' | 'sse' | null;
  /** Whether this tab's realtime connection is up (always false in follower tabs). */
  readonly connected: boolean;
  /** Whether this tab holds the connection for the others. */
  readonly isLeader: boolean;
  /** Stops the connection, leaves the tab group and removes listeners. */
  close(): void;
}

const HELLO_WAIT_MS = 150;

/** Creates a client for one sessiond endpoint. */
export function createClient(options: ClientOptions): SessiondClient {
  return new Client(options);
}

class Client implements SessiondClient {
  private readonly url: string;
  private readonly wsUrl: string;
  private readonly store: TokenStore;
  private readonly tabs: Tabs;
  private tok: string | null;
  private state: SessionState = { status: 'loading', session: null, user: null, endedReason: null, expiringSoon: null };
  private readonly ended = new Set<string>();
  private readonly endedCbs = new Set<(e: SessionEnded) => void>();
  private readonly expiringCbs = new Set<(e: ExpiringSoon) => void>();
  private readonly eventCbs = new Set<(e: SessionEventData) => void>();
  private readonly stateCbs = new Set<(s: SessionState) => void>();
  private rt: Realtime | null = null;
  private checking: Promise<void> | null = null;
  private recheckTimer: ReturnType<typeof setTimeout> | undefined;
  private recheckAttempt = 0;
  // Refused connections whose session `me` still called live: each restart
  // waits longer, so a confused proxy or server cannot make us spin.
  private refusals = 0;
  private lastActivity = 0;
  private closed = false;
  private readonly cleanups: (() => void)[] = [];

  constructor(private readonly o: ClientOptions) {
    const base = (globalThis as { location?: { href: string } }).location?.href;
    this.url = new URL(o.url, base).toString();
    const ws = new URL(o.wsUrl ?? this.url, base);
    if (!o.wsUrl) ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
    this.wsUrl = ws.toString();
    this.store = tokenStore(o.storage ?? 'session', o.storageKey ?? 'sessiond.token');
    this.tok = this.store.get();
    const group = o.tabs === false ? null : typeof o.tabs === 'string' ? o.tabs : `sessiond:${this.url}`;
    this.tabs = new Tabs(group, (leader) => this.leadershipChanged(leader), (m) => this.fromTab(m));

    if (this.tok) {
      void this.check();
    } else if (group !== null && typeof BroadcastChannel !== 'undefined') {
      // Another open tab may hold the token (memory storage, or sessionStorage in a new tab).
      this.tabs.post({ t: 'hello' });
      const t = setTimeout(() => {
        if (!this.tok && this.state.status === 'loading') this.setState({ status: 'signed-out' });
      }, HELLO_WAIT_MS);
      this.cleanups.push(() => clearTimeout(t));
    } else {
      this.state = { ...this.state, status: 'signed-out' };
    }
    this.listen(globalThis.document, 'visibilitychange', () => {
      if (globalThis.document?.visibilityState === 'visible' && this.tok) void this.check();
    });
    this.listen(globalThis as unknown as EventTarget, 'online', () => {
      this.rt?.kick();
      if (this.tok) void this.check();
    });
  }

  get token(): string | null {
    return this.tok;
  }

  get transport(): 'websocket' | 'sse' | null {
    return this.rt ? this.rt.transport : null;
  }

  get connected(): boolean {
    return this.rt?.up ?? false;
  }

  get isLeader(): boolean {
    return this.tabs.leader;
  }

  getState(): SessionState {
    return this.state;
  }

  subscribe(cb: (s: SessionState) => void): () => void {
    this.stateCbs.add(cb);
    return () => this.stateCbs.delete(cb);
  }

  onSessionEnded(cb: (e: SessionEnded) => void): () => void {
    this.endedCbs.add(cb);
    return () => this.endedCbs.delete(cb);
  }

  onExpiringSoon(cb: (e: ExpiringSoon) => void): () => void {
    this.expiringCbs.add(cb);
    return () => this.expiringCbs.delete(cb);
  }

  onSessionEvent(cb: (e: SessionEventData) => void): () => void {
    this.eventCbs.add(cb);
    return () => this.eventCbs.delete(cb);
  }

  async login(input: { email: string; password: string; tenantId?: string }): Promise<{ session: Session }> {
    const d = await this.post<LoginMutation>(LOGIN, { input }, { auth: false });
    const { user, tenant: _tenant, ...session } = d.login.session;
    this.adopt(d.login.token, session, user ?? null);
    this.tabs.post({ t: 'token', token: d.login.token, session, user: user ?? null });
    return { session };
  }

  setToken(token: string | null): void {
    if (token === this.tok) return;
    this.adopt(token, null, null);
    this.tabs.post({ t: 'token', token, session: null, user: null });
  }

  async logout(): Promise<void> {
    const token = this.tok;
    if (!token) return;
    try {
      const d = await this.post<LogoutMutation>(LOGOUT, {});
      this.endSession(token, 'LOGOUT', d.logout);
    } catch (err) {
      // Already ended: post() has reported it; the user is signed out.
      if (err instanceof SessiondError && err.code === 'UNAUTHENTICATED') return;
      throw err;
    }
  }

  async me(options: RequestOptions = {}): Promise<Me> {
    const token = this.tok;
    const d = await this.post<MeQuery>(ME, {}, options);
    if (token === this.tok) {
      this.setState({ status: 'signed-in', session: d.me.session, user: d.me.user, ...this.expiryAfter(d.me.session) });
    }
    return d.me;
  }

  async sessions(options: RequestOptions = {}): Promise<Session[]> {
    const d = await this.post<MySessionsQuery>(MY_SESSIONS, {}, options);
    return d.mySessions;
  }

  async revokeSession(id: string): Promise<Session> {
    const token = this.tok;
    const d = await this.post<RevokeSessionMutation>(REVOKE_SESSION, { id });
    if (token && id === this.state.session?.id) this.endSession(token, d.revokeSession.endReason, d.revokeSession);
    return d.revokeSession;
  }

  async revokeOtherSessions(): Promise<number> {
    const d = await this.post<RevokeMySessionsMutation>(REVOKE_MY_SESSIONS, { includeCurrent: false });
    return d.revokeMySessions;
  }

  async recordActivity(): Promise<Session> {
    const token = this.tok;
    const d = await this.post<RecordActivityMutation>(RECORD_ACTIVITY, {});
    const s = d.recordActivity;
    if (token && token === this.tok) {
      this.refreshed(s);
      this.tabs.post({ t: 'refreshed', token, session: s });
    }
    return s;
  }

  staySignedIn(): Promise<Session> {
    return this.recordActivity();
  }

  request<T = Record<string, unknown>>(query: string, variables: Record<string, unknown> = {}, options: RequestOptions = {}): Promise<T> {
    return this.post<T>(query, variables, options);
  }

  trackActivity(options: TrackActivityOptions = {}): () => void {
    const events = options.events ?? ['pointerdown', 'keydown', 'wheel', 'touchstart', 'scroll'];
    const throttle = Math.max(1, options.throttleSeconds ?? 60) * 1000;
    const target = options.target ?? (globalThis as unknown as EventTarget);
    const onInput = () => {
      if (!this.tok || this.closed) return;
      const now = Date.now();
      if (now - this.lastActivity < throttle) return;
      this.noteActivity(now);
      this.recordActivity().catch(() => {
        // Offline or ended: the realtime connection and `me` report ends.
      });
    };
    const opts: AddEventListenerOptions = { capture: true, passive: true };
    for (const e of events) target.addEventListener(e, onInput, opts);
    const stop = () => {
      for (const e of events) target.removeEventListener(e, onInput, opts);
    };
    this.cleanups.push(stop);
    return stop;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopRealtime();
    clearTimeout(this.recheckTimer);
    this.tabs.close();
    for (const c of this.cleanups.splice(0)) c();
  }

  // ------------------------------------------------------------ internals

  private listen(target: EventTarget | undefined, type: string, fn: () => void): void {
    if (!target || typeof target.addEventListener !== 'function') return;
    target.addEventListener(type, fn);
    this.cleanups.push(() => target.removeEventListener(type, fn));
  }

  private setState(patch: Partial<SessionState>): void {
    const next = { ...this.state, ...patch };
    const keys = Object.keys(next) as (keyof SessionState)[];
    if (keys.every((k) => next[k] === this.state[k])) return;
    this.state = next;
    for (const cb of [...this.stateCbs]) cb(next);
  }

  /** Switches to token (or none) without telling other tabs. */
  private adopt(token: string | null, session: Session | null, user: User | null): void {
    this.tok = token;
    this.store.set(token);
    this.stopRealtime();
    clearTimeout(this.recheckTimer);
    if (!token) {
      this.setState({ status: 'signed-out', session: null, user: null, expiringSoon: null });
      return;
    }
    this.ended.delete(token);
    this.refusals = 0;
    this.noteActivity(Date.now());
    if (session) this.setState({ status: 'signed-in', session, user, endedReason: null, expiringSoon: null });
    else {
      this.setState({ status: 'loading', session: null, user: null, endedReason: null, expiringSoon: null });
      void this.check();
    }
    if (this.tabs.leader) this.startRealtime();
  }

  private noteActivity(at: number): void {
    if (at <= this.lastActivity) return;
    this.lastActivity = at;
  }

  /**
   * The one place a session is declared ended: once per token, in this tab,
   * then told to the other tabs. Ends of a token this tab no longer uses
   * (it signed in again meanwhile) change nothing.
   */
  private endSession(token: string, reason: SessionEndReason | null, session: Session | null, fromTab = false): void {
    if (this.ended.has(token)) return;
    this.ended.add(token);
    if (token !== this.tok) return;
    this.tok = null;
    this.store.set(null);
    this.stopRealtime();
    clearTimeout(this.recheckTimer);
    const last = session ?? this.state.session;
    this.setState({ status: 'signed-out', session: null, user: null, endedReason: reason, expiringSoon: null });
    if (!fromTab) this.tabs.post({ t: 'ended', token, reason, session: last });
    for (const cb of [...this.endedCbs]) {
      try {
        cb({ reason, session: last });
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  private expiring(token: string, e: ExpiringSoon, fromTab = false): void {
    if (token !== this.tok) return;
    const cur = this.state.expiringSoon;
    if (cur && cur.expiresAt === e.expiresAt && cur.rule === e.rule) return;
    this.setState({ expiringSoon: e });
    if (!fromTab) this.tabs.post({ t: 'expiring', token, ...e });
    for (const cb of [...this.expiringCbs]) cb(e);
  }

  /** The session's deadlines moved: a warning about an earlier deadline is void. */
  private refreshed(s: Session): void {
    this.setState({ status: 'signed-in', session: s, ...this.expiryAfter(s) });
  }

  private expiryAfter(s: Session): Partial<SessionState> {
    const w = this.state.expiringSoon;
    if (w && Date.parse(s.expiresAt) > Date.parse(w.expiresAt)) return { expiringSoon: null };
    return {};
  }

  /**
   * Asks `me` (passively) whether the session still lives: after a
   * reconnect, a page becoming visible, or a refused connection. Only an
   * UNAUTHENTICATED answer ends it; a failed network never does.
   */
  private check(afterRefusal = false): Promise<void> {
    if (this.checking) return this.checking;
    const token = this.tok;
    if (!token) return Promise.resolve();
    this.checking = (async () => {
      try {
        await this.me({ passive: true });
        this.recheckAttempt = 0;
        if (afterRefusal && token === this.tok) {
          const delay = Math.min(30_000, 500 * 2 ** this.refusals++);
          this.recheckTimer = setTimeout(() => {
            if (this.tabs.leader && token === this.tok && !this.rt) this.startRealtime();
          }, delay / 2 + (Math.random() * delay) / 2);
        }
      } catch (err) {
        if (token !== this.tok) return;
        if (this.state.status === 'loading') this.setState({ status: 'signed-in' });
        if (afterRefusal) {
          // The connection is down until we know: keep asking, backing off.
          const delay = Math.min(30_000, 500 * 2 ** this.recheckAttempt++);
          this.recheckTimer = setTimeout(() => void this.check(true), delay / 2 + (Math.random() * delay) / 2);
        }
        void err;
      }
    })().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  private leadershipChanged(leader: boolean): void {
    if (leader && this.tok) this.startRealtime();
    if (!leader) this.stopRealtime();
  }

  private startRealtime(): void {
    const token = this.tok;
    if (this.closed || !token || this.rt) return;
    const rc = this.o.reconnect ?? {};
    const rt: Realtime = new Realtime({
      httpUrl: this.url,
      wsUrl: this.wsUrl,
      token,
      mode: this.o.transport ?? 'auto',
      sseAfterFailures: this.o.sseAfterFailures ?? 3,
      minDelayMs: rc.minDelayMs ?? 500,
      maxDelayMs: rc.maxDelayMs ?? 30_000,
      keepAliveMs: this.o.keepAliveMs ?? 10_000,
      webSocketImpl: this.o.webSocketImpl,
      fetch: (...args) => this.fetchImpl()(...args),
      ended: (reason, session) => this.endSession(token, reason, session),
      event: (ev) => this.sessionEvent(token, ev),
      refused: () => {
        if (this.rt === rt) this.rt = null;
        void this.check(true);
      },
      connected: (gap) => {
        // Something may have ended the session while the connection was down.
        if (gap) void this.check();
      },
      reachable: async () => {
        try {
          await this.post(ME, {}, { passive: true });
          return true;
        } catch (err) {
          return err instanceof SessiondError && err.code !== 'NETWORK';
        }
      },
    });
    this.rt = rt;
    rt.start();
  }

  private stopRealtime(): void {
    this.rt?.stop();
    this.rt = null;
  }

  private sessionEvent(token: string, ev: SessionEventData): void {
    const mine = ev.session.id === this.state.session?.id;
    if (mine && ev.kind === 'TERMINATED') this.endSession(token, ev.reason, ev.session);
    if (mine && ev.kind === 'EXPIRING_SOON') {
      const s = ev.session;
      const rule: ExpiryRule = s.absoluteExpiresAt && s.absoluteExpiresAt <= s.idleExpiresAt ? 'ABSOLUTE' : 'IDLE';
      this.expiring(token, { expiresAt: s.expiresAt, rule });
    }
    this.tabs.post({ t: 'event', token, ev });
    for (const cb of [...this.eventCbs]) cb(ev);
  }

  private fromTab(m: TabMessage): void {
    const token = typeof m['token'] === 'string' ? m['token'] : null;
    switch (m.t) {
      case 'hello':
        if (this.tok) this.tabs.post({ t: 'token', token: this.tok, session: this.state.session, user: this.state.user });
        break;
      case 'token':
        if (token !== this.tok && !(token && this.ended.has(token))) {
          this.adopt(token, (m['session'] as Session | null) ?? null, (m['user'] as User | null) ?? null);
        }
        break;
      case 'ended':
        if (token) this.endSession(token, (m['reason'] as SessionEndReason | null) ?? null, (m['session'] as Session | null) ?? null, true);
        break;
      case 'expiring':
        if (token) this.expiring(token, { expiresAt: String(m['expiresAt']), rule: m['rule'] as ExpiryRule }, true);
        break;
      case 'refreshed':
        if (token && token === this.tok) this.refreshed(m['session'] as Session);
        break;
      case 'activity':
        this.noteActivity(Number(m['at']) || 0);
        break;
      case 'event':
        if (token && token === this.tok) for (const cb of [...this.eventCbs]) cb(m['ev'] as SessionEventData);
        break;
    }
  }

  private fetchImpl(): typeof fetch {
    return this.o.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** POSTs an operation; maps errors to SessiondError and reports ended sessions. */
  private async post<T>(query: string, variables: Record<string, unknown>, opts: RequestOptions & { auth?: boolean } = {}): Promise<T> {
    const token = opts.auth === false ? null : this.tok;
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      Accept: 'application/graphql-response+json, application/json',
    };
    if (token) headers['Authorization'] = `Bearer ${token}`;
    if (opts.passive) headers['X-Session-Activity'] = 'passive';
    let res: Response;
    try {
      res = await this.fetchImpl()(this.url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    } catch (err) {
      throw new SessiondError('NETWORK', 'sessiond could not be reached', { cause: err });
    }
    let body: { data?: T | null; errors?: GraphQLErrorLike[] };
    try {
      body = (await res.json()) as typeof body;
    } catch (err) {
      throw new SessiondError('NETWORK', `sessiond answered HTTP ${res.status} without a GraphQL response`, { status: res.status, cause: err });
    }
    const first = body.errors?.[0];
    if (first) {
      const e = fromGraphQLError(first, res.status);
      if (e.code === 'UNAUTHENTICATED' && token) {
        // With a reason the session ended. Without one either the token is
        // unknown (as `me` tells) or the operation itself refused, e.g. a
        // wrong password sent through request(): ask `me` to know which.
        if (e.reason) this.endSession(token, e.reason as SessionEndReason, null);
        else if (query === ME) this.endSession(token, null, null);
        else void this.check();
      }
      throw e;
    }
    if (token && !opts.passive) {
      this.noteActivity(Date.now());
      this.tabs.post({ t: 'activity', at: Date.now() });
    }
    if (body.data == null) throw new SessiondError('INTERNAL', 'sessiond answered without data', { status: res.status });
    return body.data;
  }
}
