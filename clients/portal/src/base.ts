// What every sessiond element shares: the `api` attribute, the member state
// it follows, the theme (CSS custom properties, with ::part on the pieces a
// host app may restyle), and text helpers. Everything renders in shadow DOM
// through lit templates, so user text is always text, never markup.
import { LitElement, css } from 'lit';
import { Connection } from './connection.js';
import { memberFor, type MemberSession } from './member.js';

export const theme = css`
  :host {
    --_fg: var(--sessiond-color, #1d2330);
    --_bg: var(--sessiond-background, #ffffff);
    --_muted: var(--sessiond-muted-color, #4f5666);
    --_accent: var(--sessiond-accent, #2150c9);
    --_accent-fg: var(--sessiond-accent-contrast, #ffffff);
    --_danger: var(--sessiond-danger, #b3261e);
    --_border: var(--sessiond-border-color, #c9ceda);
    --_radius: var(--sessiond-radius, 6px);
    --_warn-bg: var(--sessiond-warning-background, #fff4ce);
    display: block;
    color: var(--_fg);
    background: var(--_bg);
    font-family: var(--sessiond-font, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif);
    font-size: var(--sessiond-font-size, 15px);
    line-height: 1.45;
  }
  :host([hidden]) { display: none; }
  *, *::before, *::after { box-sizing: border-box; }
  h2 { font-size: 1.25em; margin: 0 0 0.75em; }
  h3 { font-size: 1.05em; margin: 0 0 0.5em; }
  button {
    font: inherit; cursor: pointer; border-radius: var(--_radius);
    border: 1px solid var(--_accent); background: var(--_accent); color: var(--_accent-fg);
    padding: 0.35em 0.9em; min-height: 2.2em;
  }
  button.secondary { background: var(--_bg); color: var(--_accent); }
  button.danger { background: var(--_danger); border-color: var(--_danger); color: #fff; }
  button:disabled { opacity: 0.6; cursor: default; }
  button:focus-visible, input:focus-visible, select:focus-visible, a:focus-visible, [tabindex]:focus-visible {
    outline: 3px solid var(--sessiond-focus-color, #ffb000); outline-offset: 2px;
  }
  input, select {
    font: inherit; color: var(--_fg); background: var(--_bg);
    border: 1px solid var(--_border); border-radius: var(--_radius); padding: 0.35em 0.5em; min-height: 2.2em;
  }
  label { display: block; font-weight: 600; margin: 0.6em 0 0.2em; }
  input[type='number'] { width: 6em; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 0.45em 0.6em; border-bottom: 1px solid var(--_border); vertical-align: top; }
  th { font-weight: 600; color: var(--_muted); font-size: 0.9em; }
  .muted { color: var(--_muted); }
  .error { color: var(--_danger); }
  .badge {
    display: inline-block; font-size: 0.8em; padding: 0.05em 0.5em; border-radius: 999px;
    background: var(--_accent); color: var(--_accent-fg); margin-left: 0.4em;
  }
  .alert { border: 1px solid var(--_danger); border-left-width: 6px; padding: 0.6em 0.8em; border-radius: var(--_radius); margin-bottom: 1em; }
  .warning { background: var(--_warn-bg); padding: 0.3em 0.6em; border-radius: var(--_radius); margin: 0.3em 0; }
  .row { display: flex; gap: 0.5em; align-items: center; flex-wrap: wrap; }
  dialog { border: 1px solid var(--_border); border-radius: var(--_radius); color: var(--_fg); background: var(--_bg); max-width: 28em; }
  dialog::backdrop { background: rgb(0 0 0 / 0.35); }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

/** Words a person understands for each end reason. */
export function reasonText(reason: string | null): string {
  switch (reason) {
    case 'LOGOUT': return 'You signed out.';
    case 'REVOKED_BY_USER': return 'This session was signed out from another of your sessions.';
    case 'REVOKED_BY_ADMIN': return 'An administrator signed you out.';
    case 'IDLE_TIMEOUT': return 'You were signed out after a period of inactivity.';
    case 'FORCE_RELOGIN': return 'Your session reached its maximum lifetime. Please sign in again.';
    case 'CONCURRENT_SESSION_LIMIT': return 'You were signed out because you are signed in on more devices than allowed; your oldest session ended.';
    case 'USER_REMOVED': return 'Your account was removed from this workspace.';
    default: return 'Your session ended. Please sign in again.';
  }
}

// Made on first use, not when the module loads: a new renderer's first
// Intl.DateTimeFormat loads locale data (25–40 ms measured in headless
// Chromium), and the sign-in form shows no date.
let dateFmt: Intl.DateTimeFormat | undefined;

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  dateFmt ??= new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  return dateFmt.format(d);
}

/** An element bound to one API: as a member (api attribute) or, in the console, through a given connection. */
export class SessiondElement extends LitElement {
  static override properties = {
    api: { type: String },
    connection: { attribute: false },
  };
  declare api: string | null;
  /** Set by the console: act with this connection (the admin key) instead of the member's session. */
  declare connection: Connection | null;

  private bound: MemberSession | null = null;
  private readonly onChange = () => this.memberChanged();

  constructor() {
    super();
    this.api = null;
    this.connection = null;
  }

  /** The member state this element follows. */
  get member(): MemberSession {
    const m = memberFor(this.api);
    if (m !== this.bound) {
      this.bound?.removeEventListener('change', this.onChange);
      this.bound = m;
      if (this.isConnected) m.addEventListener('change', this.onChange);
    }
    return m;
  }

  /** The connection requests go through. */
  get conn(): Connection {
    return this.connection ?? this.member.conn;
  }

  /** True when the element acts with the admin key (in the console). */
  get admin(): boolean {
    return this.connection !== null;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.member.addEventListener('change', this.onChange);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.bound?.removeEventListener('change', this.onChange);
  }

  /** Called when the member signs in or out; elements reload here. */
  protected memberChanged(): void {
    this.requestUpdate();
  }
}
