// <sessiond-users>: Workspace › Users. The tenant's users with their roles
// and active sessions, search and paging, and "Sign out from all sessions"
// behind a confirmation dialog. Counts follow sessionEvents live. Members
// see it with the Users switch and fe.secure.delete.sessions; the console
// sets `connection` (admin key) and `tenant-id`.
import { html, nothing, type PropertyValues } from 'lit';
import { isHidden } from './connection.js';
import { SessiondElement, theme } from './base.js';

interface UserRow {
  id: string; name: string; email: string; activeSessionCount: number;
  memberships: { tenant: { id: string }; roles: { key: string; name: string }[] }[];
}

const PAGE = 20;

export class SessiondUsers extends SessiondElement {
  static override styles = [theme];
  static override properties = {
    ...SessiondElement.properties,
    tenantId: { type: String, attribute: 'tenant-id' },
    rows: { state: true },
    total: { state: true },
    hasNext: { state: true },
    error: { state: true },
    notice: { state: true },
    confirming: { state: true },
  };
  declare tenantId: string | null;
  declare rows: UserRow[] | null;
  declare total: number;
  declare hasNext: boolean;
  declare error: string;
  declare notice: string;
  declare confirming: UserRow | null;
  private search = '';
  /** endCursor of each page before the current one; [] on the first page. */
  private cursors: (string | null)[] = [];
  private afterCursor: string | null = null;
  private endCursor: string | null = null;
  private stops: (() => void)[] = [];
  private watching = '';
  private refetchTimer = 0;
  private scope = '';
  private searchTimer = 0;

  constructor() {
    super();
    this.tenantId = null;
    this.rows = null;
    this.total = 0;
    this.hasNext = false;
    this.error = '';
    this.notice = '';
    this.confirming = null;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.memberChanged();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.unwatch();
  }

  protected override willUpdate(changed: PropertyValues): void {
    if (changed.has('connection') || changed.has('tenantId')) this.memberChanged();
  }

  protected override updated(changed: PropertyValues): void {
    super.updated(changed);
    const dlg = this.renderRoot.querySelector<HTMLDialogElement>('dialog');
    if (dlg && !dlg.open) {
      dlg.showModal();
      dlg.querySelector<HTMLButtonElement>('button.danger')?.focus();
    }
  }

  protected override memberChanged(): void {
    const m = this.member;
    const scope = this.admin ? `admin:${this.tenantId ?? ''}` : m.status === 'signed-in' ? `member:${m.me?.session.id}` : '';
    if (scope === this.scope) return;
    this.scope = scope;
    this.unwatch();
    this.rows = null;
    this.hidden = true;
    this.cursors = [];
    this.afterCursor = null;
    if (scope) void this.load();
  }

  private unwatch() {
    for (const s of this.stops) s();
    this.stops = [];
    this.watching = '';
  }

  private async load() {
    const scope = this.scope;
    try {
      const d = await this.conn.request<{ users: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: UserRow }[] } }>(
        `query PortalUsers($tenantId: ID, $search: String, $first: Int, $after: String) {
          users(tenantId: $tenantId, search: $search, first: $first, after: $after) {
            totalCount pageInfo { hasNextPage endCursor }
            edges { node { id name email activeSessionCount memberships { tenant { id } roles { key name } } } }
          } }`,
        { tenantId: this.admin ? this.tenantId : null, search: this.search || null, first: PAGE, after: this.afterCursor },
        { passive: true },
      );
      if (scope !== this.scope) return;
      this.rows = d.users.edges.map((e) => e.node);
      this.total = d.users.totalCount;
      this.hasNext = d.users.pageInfo.hasNextPage;
      this.endCursor = d.users.pageInfo.endCursor;
      this.hidden = false;
      this.error = '';
      this.watch();
    } catch (err) {
      if (scope !== this.scope) return;
      if (isHidden(err)) {
        this.hidden = true;
        this.requestUpdate();
      } else {
        this.hidden = false;
        this.error = err instanceof Error ? err.message : String(err);
      }
    }
  }

  /** Follows the sessions of the users on this page; any change refetches the page. */
  private watch() {
    const ids = (this.rows ?? []).map((r) => r.id);
    const key = this.admin ? 'all' : ids.join(',');
    if (key === this.watching) return;
    this.unwatch();
    this.watching = key;
    const sink = {
      next: (d: { sessionEvents: { kind: string; session: { user: { id: string } | null } } }) => {
        const ev = d.sessionEvents;
        if (ev.kind === 'EXPIRING_SOON') return;
        if (this.admin && !ids.includes(ev.session.user?.id ?? '')) return;
        clearTimeout(this.refetchTimer);
        this.refetchTimer = window.setTimeout(() => void this.load(), 50);
      },
    };
    const q = `subscription PortalUserEvents($userId: ID) { sessionEvents(userId: $userId) { kind session { id user { id } } } }`;
    if (this.admin) this.stops.push(this.conn.subscribe(q, {}, sink));
    else for (const id of ids) this.stops.push(this.conn.subscribe(q, { userId: id }, sink));
  }

  private rolesOf(u: UserRow): string {
    const tid = this.admin ? this.tenantId : this.member.me?.tenant.id;
    const ms = tid ? u.memberships.filter((m) => m.tenant.id === tid) : u.memberships;
    const names = ms.flatMap((m) => m.roles.map((r) => r.name || r.key));
    return names.length ? [...new Set(names)].join(', ') : '—';
  }

  override render() {
    if (this.hidden) return nothing;
    const rows = this.rows ?? [];
    const page = this.cursors.length + 1;
    return html`<section part="section" aria-labelledby="h">
      <h2 id="h">Users</h2>
      <div class="row">
        <label for="search" class="sr-only">Search users</label>
        <input id="search" type="search" placeholder="Search by name or email" part="input" .value=${this.search} @input=${this.onSearch}>
        <span class="muted" role="status">${this.total} user${this.total === 1 ? '' : 's'}</span>
      </div>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      <p class="sr-only" role="status">${this.notice}</p>
      <table part="table">
        <thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Roles</th><th scope="col">Active sessions</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          ${rows.map((u) => html`<tr data-user-id=${u.id}>
            <td>${u.name}</td><td>${u.email}</td><td>${this.rolesOf(u)}</td>
            <td data-col="active-sessions">${u.activeSessionCount}</td>
            <td><button class="secondary" part="button" aria-label=${`Sign out from all sessions: ${u.name || u.email}`}
              @click=${() => { this.confirming = u; }}>Sign out from all sessions</button></td>
          </tr>`)}
        </tbody>
      </table>
      <div class="row" role="group" aria-label="Pages">
        <button class="secondary" part="button" ?disabled=${page === 1} @click=${this.prev}>Previous page</button>
        <span class="muted">Page ${page}</span>
        <button class="secondary" part="button" ?disabled=${!this.hasNext} @click=${this.next}>Next page</button>
      </div>
      ${this.confirming ? html`<dialog role="dialog" aria-modal="true" aria-labelledby="c-title" aria-describedby="c-text" part="dialog"
          @cancel=${this.cancel}>
        <h2 id="c-title">Sign out from all sessions?</h2>
        <p id="c-text">${this.confirming.name || this.confirming.email} will be signed out on every device at once.</p>
        <div class="row">
          <button class="danger" part="button" @click=${this.confirm}>Sign out</button>
          <button class="secondary" part="button" @click=${this.cancel}>Cancel</button>
        </div>
      </dialog>` : nothing}
    </section>`;
  }

  private onSearch(e: Event) {
    this.search = (e.target as HTMLInputElement).value;
    clearTimeout(this.searchTimer);
    this.searchTimer = window.setTimeout(() => {
      this.cursors = [];
      this.afterCursor = null;
      void this.load();
    }, 200);
  }

  private next() {
    this.cursors.push(this.afterCursor);
    this.afterCursor = this.endCursor;
    void this.load();
  }

  private prev() {
    this.afterCursor = this.cursors.pop() ?? null;
    void this.load();
  }

  private cancel(e?: Event) {
    e?.preventDefault();
    const id = this.confirming?.id;
    this.confirming = null;
    void this.updateComplete.then(() => this.focusRow(id));
  }

  private focusRow(id: string | undefined) {
    this.renderRoot.querySelector<HTMLButtonElement>(`tr[data-user-id="${CSS.escape(id ?? '')}"] button`)?.focus();
  }

  private async confirm() {
    const u = this.confirming;
    if (!u) return;
    this.confirming = null;
    try {
      const d = await this.conn.request<{ signOutUser: number }>(
        `mutation PortalSignOutUser($userId: ID!, $tenantId: ID) { signOutUser(userId: $userId, tenantId: $tenantId) }`,
        { userId: u.id, tenantId: this.admin ? this.tenantId : null },
      );
      this.notice = `${u.name || u.email}: ${d.signOutUser} session${d.signOutUser === 1 ? '' : 's'} signed out.`;
      await this.load();
      this.focusRow(u.id);
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }
}
