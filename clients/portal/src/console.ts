// <sessiond-console>: the environment owner's console at /console/, signed
// in with the admin key (kept in this tab's sessionStorage only). Portal
// switches, permissions and the roles holding them ("Assign roles", remove),
// roles with their permissions, tenants with their users and policy, the
// environment's session policy, a live count of active sessions, and the
// audit log filtered by action and tenant.
import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { ApiError, Connection } from './connection.js';
import { theme, when } from './base.js';
import './elements.js';

interface Role { key: string; name: string; description: string; permissions: { key: string }[] }
interface Permission { key: string; name: string; description: string; category: string; builtIn: boolean; roles: { key: string; name: string }[] }
interface Tenant { id: string; name: string }
interface Portal { privacyAndSecurity: boolean; users: boolean; security: boolean }
interface Audit { id: string; tenantId: string | null; action: string; targetType: string; targetId: string; createdAt: string; actor: { kind: string; userId: string | null } }

const KEY = 'sessiond.adminKey';
const SWITCHES: { key: keyof Portal; label: string; help: string }[] = [
  { key: 'privacyAndSecurity', label: 'Privacy & Security', help: 'Members see and end their own sessions.' },
  { key: 'users', label: 'Users', help: 'Holders of the permission list the tenant’s users and sign them out.' },
  { key: 'security', label: 'Security', help: 'Holders of the permission edit the tenant’s session settings.' },
];

function readKey(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export class SessiondConsole extends LitElement {
  static override styles = [theme, css`
    section { margin: 0 0 2em; }
    sessiond-users, sessiond-security { margin-top: 1.5em; }
  `];
  static override properties = {
    api: { type: String },
    signedIn: { state: true },
    error: { state: true },
    portal: { state: true },
    permissions: { state: true },
    roles: { state: true },
    tenants: { state: true },
    openPermission: { state: true },
    assigning: { state: true },
    tenantId: { state: true },
    activeCount: { state: true },
    audit: { state: true },
    auditNext: { state: true },
    actionFilter: { state: true },
    tenantFilter: { state: true },
    notice: { state: true },
  };
  declare api: string | null;
  declare signedIn: boolean;
  declare error: string;
  declare portal: Portal | null;
  declare permissions: Permission[];
  declare roles: Role[];
  declare tenants: Tenant[];
  declare openPermission: string;
  declare assigning: boolean;
  declare tenantId: string;
  declare activeCount: number | null;
  declare audit: Audit[];
  declare auditNext: string | null;
  declare actionFilter: string;
  declare tenantFilter: string;
  declare notice: string;
  private key: string | null = readKey();
  private conn: Connection | null = null;
  private stopCount: (() => void) | null = null;
  private countTimer = 0;

  constructor() {
    super();
    this.api = null;
    this.signedIn = false;
    this.error = '';
    this.portal = null;
    this.permissions = [];
    this.roles = [];
    this.tenants = [];
    this.openPermission = '';
    this.assigning = false;
    this.tenantId = '';
    this.activeCount = null;
    this.audit = [];
    this.auditNext = null;
    this.actionFilter = '';
    this.tenantFilter = '';
    this.notice = '';
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.conn = new Connection(this.api || '/graphql', () => this.key);
    if (this.key) void this.loadAll();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.stopCount?.();
    this.conn?.reset();
  }

  protected override updated(changed: PropertyValues): void {
    super.updated(changed);
    const dlg = this.renderRoot.querySelector<HTMLDialogElement>('dialog');
    if (dlg && !dlg.open) {
      dlg.showModal();
      dlg.querySelector<HTMLInputElement>('input')?.focus();
    }
  }

  private async q<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
    try {
      return await this.conn!.request<T>(query, variables);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') this.signOut('The admin key was not accepted. It may have been rotated.');
      throw err;
    }
  }

  private async loadAll() {
    try {
      const d = await this.q<{ adminPortal: Portal; tenants: Tenant[] }>(`query ConsoleStart { adminPortal { privacyAndSecurity users security } tenants { id name } }`);
      this.portal = d.adminPortal;
      this.tenants = d.tenants;
      if (!this.tenantId && d.tenants.length) this.tenantId = d.tenants[0]!.id;
      this.signedIn = true;
      this.error = '';
      await Promise.all([this.loadEntitlements(), this.loadAudit(true), this.countSessions()]);
      this.followCount();
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }

  private async loadEntitlements() {
    const d = await this.q<{ permissions: Permission[]; roles: Role[] }>(`query ConsoleEntitlements {
      permissions { key name description category builtIn roles { key name } }
      roles { key name description permissions { key } } }`);
    this.permissions = d.permissions;
    this.roles = d.roles;
  }

  /** Sums every user's active sessions (the API has no environment-wide count). */
  private async countSessions() {
    let after: string | null = null;
    let total = 0;
    for (;;) {
      const d: { users: { pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: { activeSessionCount: number } }[] } } =
        await this.q(`query ConsoleCount($after: String) { users(first: 500, after: $after) { pageInfo { hasNextPage endCursor } edges { node { activeSessionCount } } } }`, { after });
      for (const e of d.users.edges) total += e.node.activeSessionCount;
      if (!d.users.pageInfo.hasNextPage) break;
      after = d.users.pageInfo.endCursor;
    }
    this.activeCount = total;
  }

  private followCount() {
    this.stopCount?.();
    this.stopCount = this.conn!.subscribe<{ sessionEvents: { kind: string } }>(
      `subscription ConsoleEvents { sessionEvents { kind } }`, undefined, {
        next: (d) => {
          if (d.sessionEvents.kind === 'EXPIRING_SOON') return;
          clearTimeout(this.countTimer);
          this.countTimer = window.setTimeout(() => {
            void this.countSessions().catch(() => {});
            void this.loadAudit(true).catch(() => {});
          }, 100);
        },
      });
  }

  private async loadAudit(fresh: boolean) {
    const d = await this.q<{ auditLog: { pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: Audit }[] } }>(
      `query ConsoleAudit($t: ID, $after: String) { auditLog(tenantId: $t, first: 50, after: $after) {
        pageInfo { hasNextPage endCursor } edges { node { id tenantId action targetType targetId createdAt actor { kind userId } } } } }`,
      { t: this.tenantFilter || null, after: fresh ? null : this.auditNext },
    );
    const rows = d.auditLog.edges.map((e) => e.node);
    this.audit = fresh ? rows : [...this.audit, ...rows];
    this.auditNext = d.auditLog.pageInfo.hasNextPage ? d.auditLog.pageInfo.endCursor : null;
  }

  override render() {
    if (!this.signedIn) return this.renderSignIn();
    return html`
      <div class="row" part="signed-in"><span>Signed in with the admin key.</span>
        <button class="secondary" part="button" @click=${() => this.signOut('')}>Sign out</button></div>
      <p class="sr-only" role="status">${this.notice}</p>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      <section aria-labelledby="live-h" part="section">
        <h2 id="live-h">Active sessions</h2>
        <p><strong data-role="active-count" aria-live="polite">${this.activeCount ?? '…'}</strong> active sessions in the environment, updated live.</p>
      </section>
      ${this.renderSwitches()}
      ${this.renderPermissions()}
      ${this.renderRoles()}
      ${this.renderTenants()}
      <section aria-labelledby="env-h" part="section">
        <h2 id="env-h" class="sr-only">Environment policy</h2>
        <sessiond-security .connection=${this.conn}></sessiond-security>
      </section>
      ${this.renderAudit()}`;
  }

  private renderSignIn() {
    return html`<form @submit=${this.submit} aria-labelledby="si-h" part="form">
      <h2 id="si-h">Sign in to the console</h2>
      <label for="key">Admin key</label>
      <input id="key" name="key" type="password" autocomplete="off" required part="input" size="60" aria-describedby="key-help">
      <p id="key-help" class="muted">The key printed at the first start (or set by SESSIOND_ADMIN_KEY). It stays in this tab only.</p>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      <p><button type="submit" part="button">Sign in</button></p>
    </form>`;
  }

  private renderSwitches() {
    const p = this.portal;
    if (!p) return nothing;
    return html`<section aria-labelledby="sw-h" part="section">
      <h2 id="sw-h">Admin portal</h2>
      ${SWITCHES.map((s) => html`<div class="row">
        <button role="switch" aria-checked=${p[s.key] ? 'true' : 'false'} aria-label=${s.label} aria-describedby=${`sw-${s.key}`}
          class=${p[s.key] ? '' : 'secondary'} part="switch" @click=${() => this.toggle(s.key)}>${p[s.key] ? 'On' : 'Off'}</button>
        <span><strong>${s.label}</strong> <span class="muted" id=${`sw-${s.key}`}>${s.help}</span></span>
      </div>`)}
    </section>`;
  }

  private renderPermissions() {
    const open = this.permissions.find((p) => p.key === this.openPermission);
    const missing = open ? this.roles.filter((r) => !open.roles.some((x) => x.key === r.key)) : [];
    return html`<section aria-labelledby="perm-h" part="section">
      <h2 id="perm-h">Permissions</h2>
      <table part="table">
        <thead><tr><th scope="col">Permission</th><th scope="col">Name</th><th scope="col">Category</th><th scope="col">Roles</th></tr></thead>
        <tbody>${this.permissions.map((p) => html`<tr>
          <td><button class="secondary" part="button" aria-expanded=${p.key === this.openPermission ? 'true' : 'false'}
            @click=${() => { this.openPermission = p.key === this.openPermission ? '' : p.key; }}>${p.key}</button></td>
          <td>${p.name}</td><td>${p.category}</td><td>${p.roles.length}</td></tr>`)}</tbody>
      </table>
      ${open ? html`<div part="details" aria-labelledby="open-h">
        <h3 id="open-h">${open.name} <span class="muted">(${open.key})</span></h3>
        ${open.description ? html`<p>${open.description}</p>` : nothing}
        ${open.roles.length
          ? html`<ul>${open.roles.map((r) => html`<li class="row">${r.name} <span class="muted">(${r.key})</span>
              <button class="secondary" part="button" aria-label=${`Remove role ${r.name}`} @click=${() => this.removeRole(open.key, r.key)}>Remove</button></li>`)}</ul>`
          : html`<p class="muted">No role holds this permission yet.</p>`}
        <button part="button" ?disabled=${missing.length === 0} @click=${() => { this.assigning = true; }}>Assign roles</button>
        ${this.assigning ? html`<dialog role="dialog" aria-modal="true" aria-labelledby="as-h" part="dialog" @cancel=${(e: Event) => { e.preventDefault(); this.assigning = false; }}>
          <form @submit=${(e: SubmitEvent) => this.assign(e, open.key)}>
            <h2 id="as-h">Assign roles to ${open.key}</h2>
            <fieldset><legend>Roles</legend>
              ${missing.map((r) => html`<label class="check"><input type="checkbox" name="role" value=${r.key}> ${r.name} <span class="muted">(${r.key})</span></label>`)}
            </fieldset>
            <div class="row"><button type="submit" part="button">Assign</button>
              <button type="button" class="secondary" part="button" @click=${() => { this.assigning = false; }}>Cancel</button></div>
          </form>
        </dialog>` : nothing}
      </div>` : nothing}
    </section>`;
  }

  private renderRoles() {
    return html`<section aria-labelledby="roles-h" part="section">
      <h2 id="roles-h">Roles</h2>
      <table part="table">
        <thead><tr><th scope="col">Role</th><th scope="col">Key</th><th scope="col">Permissions</th></tr></thead>
        <tbody>${this.roles.map((r) => html`<tr><td>${r.name}</td><td>${r.key}</td>
          <td>${r.permissions.length ? r.permissions.map((p) => p.key).join(', ') : html`<span class="muted">none</span>`}</td></tr>`)}</tbody>
      </table>
    </section>`;
  }

  private renderTenants() {
    return html`<section aria-labelledby="ten-h" part="section">
      <h2 id="ten-h">Tenants</h2>
      <label for="tenant">Tenant</label>
      <select id="tenant" part="input" @change=${(e: Event) => { this.tenantId = (e.target as HTMLSelectElement).value; }}>
        ${this.tenants.map((t) => html`<option value=${t.id} ?selected=${t.id === this.tenantId}>${t.name}</option>`)}
      </select>
      ${this.tenantId ? html`
        <sessiond-users .connection=${this.conn} tenant-id=${this.tenantId}></sessiond-users>
        <sessiond-security .connection=${this.conn} tenant-id=${this.tenantId}></sessiond-security>` : nothing}
    </section>`;
  }

  private renderAudit() {
    const actions = [...new Set(this.audit.map((a) => a.action))].sort();
    const rows = this.actionFilter ? this.audit.filter((a) => a.action === this.actionFilter) : this.audit;
    const tenantName = (id: string | null) => (id ? this.tenants.find((t) => t.id === id)?.name ?? id : '—');
    return html`<section aria-labelledby="audit-h" part="section">
      <h2 id="audit-h">Audit log</h2>
      <div class="row">
        <label for="f-action">Action</label>
        <select id="f-action" part="input" @change=${(e: Event) => { this.actionFilter = (e.target as HTMLSelectElement).value; }}>
          <option value="">All actions</option>
          ${actions.map((a) => html`<option value=${a} ?selected=${a === this.actionFilter}>${a}</option>`)}
        </select>
        <label for="f-tenant">Tenant</label>
        <select id="f-tenant" part="input" @change=${this.filterTenant}>
          <option value="">All tenants</option>
          ${this.tenants.map((t) => html`<option value=${t.id} ?selected=${t.id === this.tenantFilter}>${t.name}</option>`)}
        </select>
      </div>
      <table part="table">
        <thead><tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">Tenant</th><th scope="col">Actor</th><th scope="col">Target</th></tr></thead>
        <tbody>${rows.map((a) => html`<tr data-action=${a.action}><td>${when(a.createdAt)}</td><td>${a.action}</td><td>${tenantName(a.tenantId)}</td>
          <td>${a.actor.kind.toLowerCase()}${a.actor.userId ? html` <span class="muted">${a.actor.userId}</span>` : nothing}</td>
          <td>${a.targetType} <span class="muted">${a.targetId}</span></td></tr>`)}</tbody>
      </table>
      ${this.auditNext ? html`<p><button class="secondary" part="button" @click=${() => this.loadAudit(false)}>Load more</button></p>` : nothing}
    </section>`;
  }

  private async submit(e: SubmitEvent) {
    e.preventDefault();
    const key = String(new FormData(e.currentTarget as HTMLFormElement).get('key') ?? '').trim();
    this.key = key;
    try {
      sessionStorage.setItem(KEY, key);
    } catch {
      /* kept in memory only */
    }
    this.conn?.reset();
    await this.loadAll();
  }

  private signOut(message: string) {
    this.key = null;
    try {
      sessionStorage.removeItem(KEY);
    } catch {
      /* nothing stored */
    }
    this.stopCount?.();
    this.stopCount = null;
    this.conn?.reset();
    this.signedIn = false;
    this.error = message;
  }

  private async toggle(key: keyof Portal) {
    if (!this.portal) return;
    try {
      const d = await this.q<{ updateAdminPortal: Portal }>(
        `mutation ConsoleSwitch($input: UpdateAdminPortalInput!) { updateAdminPortal(input: $input) { privacyAndSecurity users security } }`,
        { input: { [key]: !this.portal[key] } });
      this.portal = d.updateAdminPortal;
      await this.loadAudit(true);
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }

  private async assign(e: SubmitEvent, permissionKey: string) {
    e.preventDefault();
    const roleKeys = new FormData(e.currentTarget as HTMLFormElement).getAll('role').map(String);
    this.assigning = false;
    if (!roleKeys.length) return;
    try {
      await this.q(`mutation ConsoleAssign($p: String!, $r: [String!]!) { assignRolesToPermission(permissionKey: $p, roleKeys: $r) { key } }`, { p: permissionKey, r: roleKeys });
      await Promise.all([this.loadEntitlements(), this.loadAudit(true)]);
      this.notice = `Assigned ${roleKeys.join(', ')} to ${permissionKey}.`;
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }

  private async removeRole(permissionKey: string, roleKey: string) {
    try {
      await this.q(`mutation ConsoleRemove($p: String!, $r: [String!]!) { removeRolesFromPermission(permissionKey: $p, roleKeys: $r) { key } }`, { p: permissionKey, r: [roleKey] });
      await Promise.all([this.loadEntitlements(), this.loadAudit(true)]);
      this.notice = `Removed ${roleKey} from ${permissionKey}.`;
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }

  private async filterTenant(e: Event) {
    this.tenantFilter = (e.target as HTMLSelectElement).value;
    await this.loadAudit(true).catch((err) => { this.error = err instanceof Error ? err.message : String(err); });
  }
}

if (!customElements.get('sessiond-console')) customElements.define('sessiond-console', SessiondConsole);
