// <sessiond-login>: the sign-in form while signed out (with the reason the
// last session ended, as role="alert" data-reason), and while signed in who
// is signed in, "Sign out", and the "Stay signed in" dialog on EXPIRING_SOON.
import { html, nothing, type PropertyValues } from 'lit';
import { codeOf } from './connection.js';
import { SessiondElement, reasonText, theme, when } from './base.js';

export class SessiondLogin extends SessiondElement {
  static override styles = [theme];
  static override properties = {
    ...SessiondElement.properties,
    tenants: { attribute: false },
    busy: { state: true },
    error: { state: true },
    needTenant: { state: true },
    retryAt: { state: true },
  };
  /** Optional tenant choices a host app knows of: [{id, name}]. */
  declare tenants: { id: string; name: string }[] | null;
  declare busy: boolean;
  declare error: string;
  declare needTenant: boolean;
  declare retryAt: number;
  private retryTimer = 0;

  constructor() {
    super();
    this.tenants = null;
    this.busy = false;
    this.error = '';
    this.needTenant = false;
    this.retryAt = 0;
  }

  protected override updated(changed: PropertyValues): void {
    super.updated(changed);
    const dlg = this.renderRoot.querySelector<HTMLDialogElement>('dialog');
    if (dlg && !dlg.open) {
      dlg.showModal();
      dlg.querySelector<HTMLButtonElement>('button')?.focus();
    }
  }

  override render() {
    const m = this.member;
    if (m.status === 'loading') return html`<p class="muted" part="status">Loading…</p>`;
    if (m.status === 'signed-in' && m.me) {
      return html`
        <div class="row" part="signed-in">
          <span>Signed in as <strong>${m.me.user.name || m.me.user.email}</strong>
            <span class="muted">(${m.me.user.email}, ${m.me.tenant.name})</span></span>
          <button class="secondary" part="button" @click=${this.signOut}>Sign out</button>
        </div>
        ${m.expiring ? this.renderExpiring(m.expiring.rule, m.expiring.expiresAt) : nothing}`;
    }
    const waiting = this.retryAt > Date.now();
    return html`
      ${m.endedReason
        ? html`<div class="alert" role="alert" part="alert" data-reason=${m.endedReason}>${reasonText(m.endedReason)}</div>`
        : nothing}
      <form part="form" @submit=${this.submit} aria-labelledby="title">
        <h2 id="title">Sign in</h2>
        <label for="email">Email</label>
        <input id="email" name="email" type="email" autocomplete="username" required part="input">
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required part="input">
        ${this.needTenant || this.tenants?.length ? this.renderTenant() : nothing}
        ${this.error ? html`<p class="error" role="alert" part="error">${this.error}</p>` : nothing}
        <p><button type="submit" part="button" ?disabled=${this.busy || waiting}>Sign in</button></p>
      </form>`;
  }

  private renderTenant() {
    if (this.tenants?.length) {
      return html`<label for="tenant">Tenant</label>
        <select id="tenant" name="tenant" part="input">
          ${this.tenants.map((t) => html`<option value=${t.id}>${t.name}</option>`)}
        </select>`;
    }
    // The API does not list a user's tenants before sign-in: ask for the id.
    return html`<label for="tenant">Tenant</label>
      <input id="tenant" name="tenant" required part="input" aria-describedby="tenant-help">
      <p id="tenant-help" class="muted">You belong to several tenants: enter the id of the one to sign in to.</p>`;
  }

  private renderExpiring(rule: 'IDLE' | 'ABSOLUTE', at: string) {
    return html`<dialog role="dialog" aria-modal="true" aria-labelledby="exp-title" aria-describedby="exp-text" part="dialog"
        @cancel=${(e: Event) => e.preventDefault()}>
      <h2 id="exp-title">${rule === 'IDLE' ? 'Are you still there?' : 'Your session ends soon'}</h2>
      <p id="exp-text">${rule === 'IDLE'
        ? `You will be signed out at ${when(at)} because of inactivity.`
        : `Your session reaches its maximum lifetime at ${when(at)}; sign in again after that.`}</p>
      <div class="row">
        ${rule === 'IDLE'
          ? html`<button part="button" @click=${this.stay}>Stay signed in</button>
                 <button class="secondary" part="button" @click=${this.signOut}>Sign out</button>`
          : html`<button part="button" @click=${this.dismiss}>OK</button>`}
      </div>
    </dialog>`;
  }

  private async submit(e: SubmitEvent) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    this.busy = true;
    this.error = '';
    try {
      await this.member.login(String(data.get('email') ?? ''), String(data.get('password') ?? ''), (data.get('tenant') as string | null) || undefined);
      this.needTenant = false;
    } catch (err) {
      this.showError(err);
    } finally {
      this.busy = false;
    }
  }

  private showError(err: unknown) {
    const e = err as { code?: string; field?: string; retryAfter?: number };
    const code = codeOf(err);
    if (code === 'RATE_LIMITED') {
      const secs = Math.max(1, Math.ceil(e.retryAfter ?? 60));
      this.retryAt = Date.now() + secs * 1000;
      this.error = `Too many attempts. Try again in ${secs} second${secs === 1 ? '' : 's'}.`;
      clearTimeout(this.retryTimer);
      this.retryTimer = window.setTimeout(() => { this.retryAt = 0; this.error = ''; }, secs * 1000);
    } else if (code === 'BAD_USER_INPUT' && e.field === 'tenantId') {
      this.needTenant = true;
      this.error = 'Choose the tenant to sign in to.';
    } else if (code === 'UNAUTHENTICATED') {
      this.error = 'The email or password is not correct.';
    } else {
      this.error = err instanceof Error ? err.message : 'Sign-in failed.';
    }
  }

  private async stay() {
    try {
      await this.member.staySignedIn();
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }

  private dismiss() {
    this.member.dismissExpiring();
  }

  private async signOut() {
    await this.member.logout().catch(() => {});
  }
}
