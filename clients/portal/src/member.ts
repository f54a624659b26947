// The signed-in member's state, shared by every element on the page that
// points at the same API: the token (sessionStorage of this tab only), who
// is signed in, why the last session ended, and whether it expires soon.
// Ends are learned three ways, whichever comes first: the sessionTerminated
// push, the socket's 4403 close, and an UNAUTHENTICATED answer (whose
// extensions.reason says why); a page becoming visible again re-checks `me`.
import { ApiError, Connection } from './connection.js';

export interface Me {
  user: { id: string; name: string; email: string };
  tenant: { id: string; name: string };
  session: { id: string; expiresAt: string; idleExpiresAt: string; absoluteExpiresAt: string | null };
  permissions: string[];
}

export interface Expiring {
  expiresAt: string;
  /** IDLE: activity keeps the session ("Stay signed in"); ABSOLUTE: only a new sign-in helps. */
  rule: 'IDLE' | 'ABSOLUTE';
}

export type Status = 'loading' | 'signed-in' | 'signed-out';

const ME = `query PortalMe { me { user { id name email } tenant { id name }
  session { id expiresAt idleExpiresAt absoluteExpiresAt } permissions } }`;

export class MemberSession extends EventTarget {
  readonly conn: Connection;
  status: Status = 'loading';
  me: Me | null = null;
  /** The reason code of the session that ended last, for the alert. */
  endedReason: string | null = null;
  expiring: Expiring | null = null;
  private readonly key: string;
  private stops: (() => void)[] = [];

  constructor(api: string) {
    super();
    this.conn = new Connection(api, () => this.token);
    this.key = `sessiond.token:${this.conn.url}`;
    this.conn.onClose((code) => {
      if (code === 4403 && this.status === 'signed-in') void this.check();
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.status === 'signed-in') void this.check();
    });
    void this.check();
  }

  get token(): string | null {
    try {
      return sessionStorage.getItem(this.key);
    } catch {
      return null;
    }
  }

  private setToken(t: string | null): void {
    try {
      if (t) sessionStorage.setItem(this.key, t);
      else sessionStorage.removeItem(this.key);
    } catch {
      /* storage refused (private mode): the token lives only as long as the page */
    }
  }

  /** Signs in; throws ApiError (UNAUTHENTICATED, RATE_LIMITED with retryAfter, BAD_USER_INPUT field tenantId). */
  async login(email: string, password: string, tenantId?: string): Promise<void> {
    const data = await this.conn.request<{ login: { token: string } }>(
      `mutation PortalLogin($input: LoginInput!) { login(input: $input) { token } }`,
      { input: { email, password, ...(tenantId ? { tenantId } : {}) } },
    );
    this.setToken(data.login.token);
    this.endedReason = null;
    this.conn.reset();
    await this.check();
  }

  async logout(): Promise<void> {
    try {
      await this.conn.request(`mutation PortalLogout { logout { id endReason } }`);
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 'UNAUTHENTICATED') throw err;
    }
    this.ended('LOGOUT');
  }

  /** Answers EXPIRING_SOON: activity moves the idle deadline. */
  async staySignedIn(): Promise<void> {
    await this.conn.request(`mutation PortalStay { recordActivity { id expiresAt } }`);
    this.expiring = null;
    this.changed();
  }

  /** Re-reads `me`: signed in, or ended with the server's reason. */
  async check(): Promise<void> {
    if (!this.token) {
      if (this.status !== 'signed-out') {
        this.status = 'signed-out';
        this.changed();
      }
      return;
    }
    try {
      const d = await this.conn.request<{ me: Me }>(ME, undefined, { passive: true });
      const first = this.status !== 'signed-in' || this.me?.session.id !== d.me.session.id;
      this.me = d.me;
      this.status = 'signed-in';
      if (first) this.watch();
      this.changed();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') this.ended(err.reason ?? null);
      else if (this.status === 'loading') {
        // The server is unreachable: keep the token, show the form with the error.
        this.status = 'signed-out';
        this.changed();
      }
    }
  }

  private watch(): void {
    this.unwatch();
    const id = this.me?.session.id;
    this.stops.push(
      this.conn.subscribe<{ sessionTerminated: { id: string; endReason: string | null } }>(
        `subscription PortalEnd { sessionTerminated { id endReason } }`,
        undefined,
        { next: (d) => this.ended(d.sessionTerminated.endReason) },
      ),
    );
    // EXPIRING_SOON arrives on sessionEvents, which needs Privacy & Security;
    // without it the stream is refused and there is no warning to show.
    this.stops.push(
      this.conn.subscribe<{ sessionEvents: { kind: string; session: Me['session'] } }>(
        `subscription PortalExpiring { sessionEvents { kind session { id expiresAt idleExpiresAt absoluteExpiresAt } } }`,
        undefined,
        {
          next: (d) => {
            const ev = d.sessionEvents;
            if (ev.kind !== 'EXPIRING_SOON' || ev.session.id !== id) return;
            const abs = ev.session.absoluteExpiresAt;
            this.expiring = {
              expiresAt: ev.session.expiresAt,
              rule: abs !== null && new Date(abs).getTime() <= new Date(ev.session.idleExpiresAt).getTime() ? 'ABSOLUTE' : 'IDLE',
            };
            this.changed();
          },
        },
      ),
    );
  }

  private unwatch(): void {
    for (const s of this.stops) s();
    this.stops = [];
  }

  private ended(reason: string | null): void {
    if (this.status === 'signed-out' && !this.token) return;
    this.unwatch();
    this.setToken(null);
    this.conn.reset();
    this.me = null;
    this.expiring = null;
    this.endedReason = reason ?? 'UNKNOWN';
    this.status = 'signed-out';
    this.changed();
  }

  private changed(): void {
    this.dispatchEvent(new Event('change'));
  }
}

const members = new Map<string, MemberSession>();

/** The one MemberSession of this page for an API URL (default: this origin's /graphql). */
export function memberFor(api: string | null | undefined): MemberSession {
  const url = new URL(api || '/graphql', document.baseURI).href;
  let m = members.get(url);
  if (!m) {
    m = new MemberSession(url);
    members.set(url, m);
  }
  return m;
}
