// The signed-in member's state, shared by every element on the page that
// points at the same API. It is the client SDK (@sessiond/client): sign-in,
// the token (sessionStorage), one realtime connection shared by the tabs of
// this origin, the end of a session with its reason (onSessionEnded, after
// reconnects and sleeps too) and EXPIRING_SOON. This class adds what the
// screens need on top: the tenant and permissions from `me`, and a
// Connection for the operations the SDK has no method for.
import { createClient, type SessiondClient, type SessionState } from '@sessiond/client';
import { Connection } from './connection.js';

export interface Me {
  user: { id: string; name: string; email: string };
  tenant: { id: string; name: string };
  session: { id: string; expiresAt: string; idleExpiresAt: string; absoluteExpiresAt?: string | null };
  permissions: string[];
}

export type Status = 'loading' | 'signed-in' | 'signed-out';

export class MemberSession extends EventTarget {
  readonly sd: SessiondClient;
  readonly conn: Connection;
  status: Status = 'loading';
  me: Me | null = null;
  /** The reason code of the session that ended last, for the alert. */
  endedReason: string | null = null;
  expiring: SessionState['expiringSoon'] = null;

  constructor(api: string) {
    super();
    this.sd = createClient({ url: api, storage: 'session', storageKey: `sessiond.token:${api}` });
    this.conn = new Connection(api, () => this.sd.token, (q, v, o) => this.sd.request(q, v, o));
    this.sd.subscribe((s) => void this.sync(s));
    void this.sync(this.sd.getState());
  }

  private async sync(s: SessionState): Promise<void> {
    this.expiring = s.expiringSoon;
    if (s.status === 'signed-in' && s.session) {
      this.endedReason = null;
      if (this.me?.session.id !== s.session.id) {
        try {
          const me = await this.sd.me({ passive: true });
          if (this.sd.getState().session?.id !== me.session.id) return;
          this.me = me;
        } catch {
          return; // the SDK reports an end through its state; a network error leaves things as they are
        }
      }
      this.status = 'signed-in';
    } else if (s.status === 'signed-out') {
      if (this.status === 'signed-in' || s.endedReason) this.endedReason = s.endedReason ?? this.endedReason ?? (this.status === 'signed-in' ? 'UNKNOWN' : null);
      this.me = null;
      this.status = 'signed-out';
      this.conn.reset();
    } else {
      // With no token in this tab the sign-in form can show at once; a
      // token another tab answers with still signs this one in.
      this.status = this.sd.token ? s.status : 'signed-out';
    }
    this.dispatchEvent(new Event('change'));
  }

  /** Signs in; throws SessiondError (UNAUTHENTICATED, RATE_LIMITED with retryAfter, BAD_USER_INPUT field tenantId). */
  async login(email: string, password: string, tenantId?: string): Promise<void> {
    await this.sd.login({ email, password, ...(tenantId ? { tenantId } : {}) });
  }

  async logout(): Promise<void> {
    await this.sd.logout();
  }

  /** Answers EXPIRING_SOON: activity moves the idle deadline. */
  async staySignedIn(): Promise<void> {
    await this.sd.staySignedIn();
  }

  /** Hides the pending warning (absolute deadlines cannot be extended). */
  dismissExpiring(): void {
    this.expiring = null;
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
