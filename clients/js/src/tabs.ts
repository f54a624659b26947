// Cross-tab coordination: one leader per group of tabs (same origin, same
// sessiond URL) holds the realtime connection; every tab hears the others'
// messages. The Web Locks API elects the leader where it exists (the lock is
// released by the browser the moment a tab closes or crashes); elsewhere a
// BroadcastChannel heartbeat does, with a resign message on page hide.

/** A message between tabs of one group. */
export type TabMessage = Record<string, unknown> & { t: string };

const HEARTBEAT_MS = 400;
// Without Web Locks a crashed leader (no resign message) is replaced after
// this long; background tabs' timers may run only once a second.
const LEADER_TIMEOUT_MS = 2500;

interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal }, cb: () => Promise<void>): Promise<unknown>;
}

/** The tab group: leadership and messages. */
export class Tabs {
  readonly id = Math.random().toString(36).slice(2) + Date.now().toString(36);
  leader = false;
  private channel: BroadcastChannel | null = null;
  private release: (() => void) | null = null;
  private abort: AbortController | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastLead = 0;
  private leaderId = '';
  private closed = false;
  private unlisten: (() => void) | null = null;

  constructor(
    name: string | null,
    private readonly onLeader: (leader: boolean) => void,
    private readonly onMessage: (msg: TabMessage) => void,
  ) {
    if (name !== null && typeof BroadcastChannel !== 'undefined') {
      this.channel = new BroadcastChannel(name);
      this.channel.onmessage = (e: MessageEvent) => this.receive(e.data as TabMessage);
      unref(this.channel);
    }
    // Leadership is decided after the caller has wired its handlers.
    queueMicrotask(() => this.elect(name));
  }

  /** Sends msg to every other tab of the group. */
  post(msg: TabMessage): void {
    if (this.closed || !this.channel) return;
    try {
      this.channel.postMessage({ ...msg, from: this.id });
    } catch {
      // A closed channel (page going away): nothing to tell.
    }
  }

  /** Leaves the group: gives up leadership at once so another tab takes over. */
  close(): void {
    if (this.closed) return;
    if (this.leader && !this.release) this.post({ t: '_resign', id: this.id });
    this.closed = true;
    clearInterval(this.timer);
    this.unlisten?.();
    this.abort?.abort();
    this.release?.();
    this.channel?.close();
    this.setLeader(false);
  }

  private elect(name: string | null): void {
    if (this.closed) return;
    const locks = (globalThis.navigator as { locks?: LockManagerLike } | undefined)?.locks;
    if (name === null || !this.channel) {
      this.setLeader(true); // alone: no other tab to share with
      return;
    }
    if (locks && typeof locks.request === 'function') {
      this.abort = new AbortController();
      locks
        .request(name + ':leader', { signal: this.abort.signal }, () =>
          new Promise<void>((resolve) => {
            this.release = resolve;
            if (this.closed) resolve();
            else this.setLeader(true);
          }),
        )
        .catch(() => {
          // Aborted because this tab left the group.
        });
      return;
    }
    this.heartbeatElection();
  }

  // Fallback election: the leader announces itself every HEARTBEAT_MS; a tab
  // that hears no leader for LEADER_TIMEOUT_MS (or hears it resign) claims
  // leadership; of two claimants the one with the smaller id stays.
  private heartbeatElection(): void {
    // A leader answers the probe at once; with no answer, claim at the first tick.
    this.lastLead = Date.now() - LEADER_TIMEOUT_MS + 200;
    this.post({ t: '_probe' });
    this.timer = setInterval(() => this.tick(), HEARTBEAT_MS);
    unref(this.timer);
    if (typeof addEventListener === 'function') {
      const hide = () => {
        if (this.leader) {
          this.post({ t: '_resign', id: this.id });
          this.setLeader(false);
          this.lastLead = Date.now();
        }
      };
      addEventListener('pagehide', hide);
      this.unlisten = () => removeEventListener('pagehide', hide);
    }
  }

  private tick(): void {
    if (this.leader) this.post({ t: '_lead', id: this.id });
    else if (Date.now() - this.lastLead > LEADER_TIMEOUT_MS) this.claim();
  }

  private claim(): void {
    if (this.closed || this.leader) return;
    this.leaderId = this.id;
    this.setLeader(true);
    this.post({ t: '_lead', id: this.id });
  }

  private receive(msg: TabMessage): void {
    if (this.closed || !msg || typeof msg.t !== 'string') return;
    if (msg.t.startsWith('_')) {
      if (this.release || this.abort) return; // Web Locks decide
      const id = String(msg['id'] ?? '');
      if (msg.t === '_probe' && this.leader) this.post({ t: '_lead', id: this.id });
      if (msg.t === '_lead') {
        if (this.leader && id < this.id) this.setLeader(false);
        if (this.leader) this.post({ t: '_lead', id: this.id });
        else {
          this.leaderId = id;
          this.lastLead = Date.now();
        }
      }
      if (msg.t === '_resign' && id === this.leaderId) {
        // Spread the claims so that usually one tab wins outright.
        this.lastLead = 0;
        const t = setTimeout(() => {
          if (this.lastLead === 0) this.claim();
        }, Math.random() * 100);
        unref(t);
      }
      return;
    }
    this.onMessage(msg);
  }

  private setLeader(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    this.onLeader(leader);
  }
}

/** Lets Node exit while a channel or timer is open (browsers ignore this). */
function unref(x: unknown): void {
  const u = (x as { unref?: () => void } | null)?.unref;
  if (typeof u === 'function') u.call(x);
}
