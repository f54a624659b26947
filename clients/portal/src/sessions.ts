// <sessiond-sessions>: Privacy & Security. The member's active sessions,
// live: sessionEvents adds new ones and drops ended ones as they happen.
// Hidden (not broken) when the switch is off or the member is signed out.
import { html, nothing } from 'lit';
import { isHidden } from './connection.js';
import { SessiondElement, theme, when } from './base.js';

interface Row {
  id: string; device: string; ipAddress: string; createdAt: string; lastActiveAt: string; current: boolean;
}


export class SessiondSessions extends SessiondElement {
  static override styles = [theme];
  static override properties = {
    ...SessiondElement.properties,
    rows: { state: true },
    error: { state: true },
    notice: { state: true },
  };
  declare rows: Row[] | null;
  declare error: string;
  declare notice: string;
  private stop: (() => void) | null = null;
  private forSession = '';

  constructor() {
    super();
    this.rows = null;
    this.error = '';
    this.notice = '';
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.memberChanged();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.unsubscribe();
  }

  protected override memberChanged(): void {
    const m = this.member;
    const sid = m.status === 'signed-in' ? m.me?.session.id ?? '' : '';
    if (sid === this.forSession) return;
    this.forSession = sid;
    this.unsubscribe();
    this.rows = null;
    this.hidden = true;
    if (sid) void this.load();
  }

  private unsubscribe() {
    this.stop?.();
    this.stop = null;
  }

  private async load() {
    try {
      this.rows = await this.member.sd.sessions({ passive: true });
      this.hidden = false;
      this.error = '';
      this.live();
    } catch (err) {
      this.hidden = true;
      if (!isHidden(err)) {
        this.hidden = false;
        this.error = err instanceof Error ? err.message : String(err);
      }
    }
  }

  private live() {
    this.unsubscribe();
    // The SDK's one connection carries the member's sessionEvents.
    this.stop = this.member.sd.onSessionEvent((ev) => {
      const rest = (this.rows ?? []).filter((r) => r.id !== ev.session.id);
      if (ev.kind === 'CREATED') this.rows = [{ ...ev.session, current: ev.session.id === this.forSession }, ...rest];
      else if (ev.kind === 'TERMINATED') this.rows = rest;
    });
  }

  override render() {
    if (this.hidden) return nothing;
    const rows = this.rows ?? [];
    const others = rows.filter((r) => !r.current).length;
    return html`<section part="section" aria-labelledby="h">
      <h2 id="h">Privacy & Security</h2>
      <h3>Your sessions</h3>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      <p class="sr-only" role="status">${this.notice}</p>
      <table part="table">
        <thead><tr><th scope="col">Device</th><th scope="col">IP address</th><th scope="col">Signed in</th><th scope="col">Last active</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          ${rows.map((r) => html`<tr data-session-id=${r.id}>
            <td>${r.device || 'Unknown device'}${r.current ? html`<span class="badge" part="badge">This device</span>` : nothing}</td>
            <td>${r.ipAddress || '—'}</td>
            <td>${when(r.createdAt)}</td>
            <td>${when(r.lastActiveAt)}</td>
            <td>${r.current ? nothing : html`<button class="secondary" part="button"
                aria-label=${`Sign out ${r.device || 'Unknown device'}, signed in ${when(r.createdAt)}`}
                @click=${() => this.revoke(r)}>Sign out</button>`}</td>
          </tr>`)}
        </tbody>
      </table>
      <p><button part="button" ?disabled=${others === 0} @click=${this.revokeOthers}>Sign out all other sessions</button></p>
    </section>`;
  }

  private async revoke(r: Row) {
    try {
      await this.member.sd.revokeSession(r.id);
      this.rows = (this.rows ?? []).filter((x) => x.id !== r.id);
      this.notice = `Signed out ${r.device || 'the session'}.`;
      this.shadowRoot?.querySelector<HTMLButtonElement>('p > button')?.focus();
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }

  private async revokeOthers() {
    try {
      const n = await this.member.sd.revokeOtherSessions();
      this.rows = (this.rows ?? []).filter((x) => x.current);
      this.notice = `Signed out ${n} other session${n === 1 ? '' : 's'}.`;
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }
}
