// <sessiond-security>: Workspace › Security (and, in the console, the
// environment's policy). Three settings, each a switch, a number with −/+
// and a unit; the inherited value and its source when there is no override;
// the server's recommendation warnings inline; Preview (how many active
// sessions the change would end) and Save (how many it ended).
import { html, nothing, type PropertyValues } from 'lit';
import { codeOf, isHidden } from './connection.js';
import { SessiondElement, theme } from './base.js';

type Unit = 'MINUTES' | 'HOURS' | 'DAYS';
interface Dur { value: number; unit: Unit; seconds: number }
interface Policy {
  tenantId: string | null;
  idleTimeout: { enabled: boolean; duration: Dur; source: string };
  forceRelogin: { enabled: boolean; duration: Dur | null; source: string };
  maxConcurrentSessions: { enabled: boolean; maxSessions: number | null; source: string };
}
interface Warning { field: string; message: string }
type Key = 'idleTimeout' | 'forceRelogin' | 'maxConcurrentSessions';
interface Draft { enabled: boolean; value: number; unit: Unit; dirty: boolean }

const POLICY = `tenantId
  idleTimeout { enabled source duration { value unit seconds } }
  forceRelogin { enabled source duration { value unit seconds } }
  maxConcurrentSessions { enabled source maxSessions }`;

const LABELS: Record<Key, string> = {
  idleTimeout: 'Idle session timeout',
  forceRelogin: 'Force re-login',
  maxConcurrentSessions: 'Maximum concurrent sessions',
};
const HELP: Record<Key, string> = {
  idleTimeout: 'Sign people out after this long without activity. Off: 24 hours.',
  forceRelogin: 'Ask people to sign in again after this long, active or not. Off: never.',
  maxConcurrentSessions: 'How many sessions one person may have at once; signing in beyond it ends the oldest. Off: unlimited.',
};
const UNITS: { unit: Unit; label: string; max: number }[] = [
  { unit: 'MINUTES', label: 'Minutes', max: 525600 },
  { unit: 'HOURS', label: 'Hours', max: 8760 },
  { unit: 'DAYS', label: 'Days', max: 365 },
];
const SOURCES: Record<string, string> = {
  DEFAULT: "sessiond's default",
  ENVIRONMENT: 'the environment',
  TENANT: 'this tenant',
};

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function durText(d: Dur | null): string {
  if (!d) return 'none';
  const u = UNITS.find((x) => x.unit === d.unit)?.label.toLowerCase() ?? '';
  return `${d.value} ${d.value === 1 ? u.replace(/s$/, '') : u}`;
}

export class SessiondSecurity extends SessiondElement {
  static override styles = [theme];
  static override properties = {
    ...SessiondElement.properties,
    tenantId: { type: String, attribute: 'tenant-id' },
    policy: { state: true },
    drafts: { state: true },
    warnings: { state: true },
    result: { state: true },
    error: { state: true },
    busy: { state: true },
  };
  /** The tenant whose policy is edited; in the console, absent means the environment. */
  declare tenantId: string | null;
  declare policy: Policy | null;
  declare drafts: Record<Key, Draft> | null;
  declare warnings: Warning[];
  declare result: string;
  declare error: string;
  declare busy: boolean;
  private scope = '';

  constructor() {
    super();
    this.tenantId = null;
    this.policy = null;
    this.drafts = null;
    this.warnings = [];
    this.result = '';
    this.error = '';
    this.busy = false;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.memberChanged();
  }

  protected override willUpdate(changed: PropertyValues): void {
    if (changed.has('connection') || changed.has('tenantId')) this.memberChanged();
  }

  /** The tenant the calls name: the attribute, or the member's own tenant. */
  private get target(): string | null {
    if (this.admin) return this.tenantId || null;
    return this.member.me?.tenant.id ?? null;
  }

  protected override memberChanged(): void {
    const m = this.member;
    const scope = this.admin ? `admin:${this.tenantId ?? ''}` : m.status === 'signed-in' ? `member:${m.me?.session.id}` : '';
    if (scope === this.scope) return;
    this.scope = scope;
    this.policy = null;
    this.hidden = true;
    if (scope) void this.load(true);
  }

  private async load(probe: boolean) {
    const scope = this.scope;
    try {
      if (probe && !this.admin) {
        // Editing needs the Security switch and the permission: ask the
        // server with an empty preview, which changes nothing.
        await this.conn.request(`query PortalSecurityProbe($t: ID) { previewSessionPolicy(tenantId: $t, input: {}) { total } }`, { t: this.target }, { passive: true });
      }
      const d = await this.conn.request<{ sessionPolicy: Policy }>(`query PortalPolicy($t: ID) { sessionPolicy(tenantId: $t) { ${POLICY} } }`, { t: this.target }, { passive: true });
      if (scope !== this.scope) return;
      this.setPolicy(d.sessionPolicy);
      this.hidden = false;
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

  private setPolicy(p: Policy) {
    this.policy = p;
    const fr = p.forceRelogin.duration ?? { value: 30, unit: 'DAYS' as Unit, seconds: 0 };
    this.drafts = {
      idleTimeout: { enabled: p.idleTimeout.enabled, value: p.idleTimeout.duration.value, unit: p.idleTimeout.duration.unit, dirty: false },
      forceRelogin: { enabled: p.forceRelogin.enabled, value: fr.value, unit: fr.unit, dirty: false },
      maxConcurrentSessions: { enabled: p.maxConcurrentSessions.enabled, value: p.maxConcurrentSessions.maxSessions ?? 3, unit: 'MINUTES', dirty: false },
    };
  }

  private edit(key: Key, change: Partial<Draft>) {
    if (!this.drafts) return;
    const d = { ...this.drafts[key], ...change, dirty: true };
    const max = key === 'maxConcurrentSessions' ? 1000 : UNITS.find((u) => u.unit === d.unit)!.max;
    d.value = Math.min(max, Math.max(1, Math.round(d.value) || 1));
    this.drafts = { ...this.drafts, [key]: d };
    this.result = '';
  }

  /** The settings the user changed, as SessionPolicyInput. */
  private input(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (!this.drafts) return out;
    for (const key of Object.keys(LABELS) as Key[]) {
      const d = this.drafts[key];
      if (!d.dirty) continue;
      if (key === 'maxConcurrentSessions') out[key] = { enabled: d.enabled, maxSessions: d.enabled ? d.value : null };
      else out[key] = { enabled: d.enabled, duration: d.enabled ? { value: d.value, unit: d.unit } : null };
    }
    return out;
  }

  override render() {
    if (this.hidden || !this.policy || !this.drafts) return this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing;
    const env = this.admin && !this.tenantId;
    const dirty = Object.values(this.drafts).some((d) => d.dirty);
    return html`<section part="section" aria-labelledby="h">
      <h2 id="h">${env ? 'Environment session policy' : this.admin ? 'Tenant session policy' : 'Security'}</h2>
      ${(Object.keys(LABELS) as Key[]).map((k) => this.renderSetting(k, env))}
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      <p role="status" part="status" data-role="result">${this.result}</p>
      <div class="row">
        <button class="secondary" part="button" ?disabled=${this.busy || !dirty} @click=${this.preview}>Preview</button>
        <button part="button" ?disabled=${this.busy || !dirty} @click=${this.save}>Save</button>
        ${env ? nothing : html`<button class="secondary" part="button" ?disabled=${this.busy} @click=${this.reset}>Reset to environment defaults</button>`}
      </div>
    </section>`;
  }

  private renderSetting(key: Key, env: boolean) {
    const d = this.drafts![key];
    const p = this.policy![key];
    const label = LABELS[key];
    const id = `s-${key}`;
    const warnings = this.warnings.filter((w) => w.field === key || w.field.startsWith(`${key}.`));
    const inherited = !env && p.source !== 'TENANT';
    let current: string;
    if (key === 'maxConcurrentSessions') current = p.enabled ? plural(this.policy!.maxConcurrentSessions.maxSessions ?? 0, 'session') : 'unlimited';
    else if (key === 'idleTimeout') current = p.enabled ? durText(this.policy!.idleTimeout.duration) : 'off (24 hours)';
    else current = p.enabled ? durText(this.policy!.forceRelogin.duration) : 'off';
    return html`<div class="setting" role="group" aria-labelledby=${`${id}-h`} part="setting" data-setting=${key}>
      <h3 id=${`${id}-h`}>${label}</h3>
      <p class="muted" id=${`${id}-help`}>${HELP[key]}</p>
      <div class="row">
        <button role="switch" aria-checked=${d.enabled ? 'true' : 'false'} aria-label=${label} aria-describedby=${`${id}-help`}
          class=${d.enabled ? '' : 'secondary'} part="switch" @click=${() => this.edit(key, { enabled: !d.enabled })}>${d.enabled ? 'On' : 'Off'}</button>
        <button class="secondary" part="button" aria-describedby=${`${id}-v`} ?disabled=${!d.enabled || d.value <= 1}
          @click=${() => this.edit(key, { value: d.value - 1 })}>−</button>
        <input id=${`${id}-v`} type="number" min="1" inputmode="numeric" part="input" aria-label=${`${label} value`}
          .value=${String(d.value)} ?disabled=${!d.enabled}
          @change=${(e: Event) => this.edit(key, { value: Number((e.target as HTMLInputElement).value) })}>
        <button class="secondary" part="button" aria-describedby=${`${id}-v`} ?disabled=${!d.enabled}
          @click=${() => this.edit(key, { value: d.value + 1 })}>+</button>
        ${key === 'maxConcurrentSessions'
          ? html`<span>${d.value === 1 ? 'session' : 'sessions'}</span>`
          : html`<select aria-label=${`${label} unit`} part="input" ?disabled=${!d.enabled}
              @change=${(e: Event) => this.edit(key, { unit: (e.target as HTMLSelectElement).value as Unit })}>
              ${UNITS.map((u) => html`<option value=${u.unit} ?selected=${u.unit === d.unit}>${u.label}</option>`)}
            </select>`}
      </div>
      <p class="muted">${inherited ? `Inherited from ${SOURCES[p.source] ?? p.source}: ${current}.` : `In force: ${current} (set by ${SOURCES[p.source] ?? p.source}).`}</p>
      ${warnings.map((w) => html`<p class="warning" part="warning">${w.message}</p>`)}
    </div>`;
  }

  private async preview() {
    await this.run(async () => {
      const d = await this.conn.request<{ previewSessionPolicy: { total: number; warnings: Warning[] } }>(
        `query PortalPreview($t: ID, $input: SessionPolicyInput!) { previewSessionPolicy(tenantId: $t, input: $input) { total idleTimeout forceRelogin maxConcurrentSessions warnings { field message } } }`,
        { t: this.target, input: this.input() },
      );
      this.warnings = d.previewSessionPolicy.warnings;
      const n = d.previewSessionPolicy.total;
      this.result = n === 0 ? 'Preview: this change ends no active session.' : `Preview: this change would end ${plural(n, 'active session')}.`;
    });
  }

  private async save() {
    await this.run(async () => {
      const d = await this.conn.request<{ updateSessionPolicy: { policy: Policy; warnings: Warning[]; terminatedSessions: number } }>(
        `mutation PortalSavePolicy($t: ID, $input: SessionPolicyInput!) { updateSessionPolicy(tenantId: $t, input: $input) { policy { ${POLICY} } warnings { field message } terminatedSessions } }`,
        { t: this.target, input: this.input() },
      );
      this.setPolicy(d.updateSessionPolicy.policy);
      this.warnings = d.updateSessionPolicy.warnings;
      this.result = `Saved. ${plural(d.updateSessionPolicy.terminatedSessions, 'session')} ended.`;
    });
  }

  private async reset() {
    const t = this.target;
    if (!t) return;
    await this.run(async () => {
      const d = await this.conn.request<{ resetSessionPolicy: { policy: Policy; terminatedSessions: number } }>(
        `mutation PortalResetPolicy($t: ID!) { resetSessionPolicy(tenantId: $t) { policy { ${POLICY} } terminatedSessions } }`,
        { t },
      );
      this.setPolicy(d.resetSessionPolicy.policy);
      this.warnings = [];
      this.result = `Reset to environment defaults. ${plural(d.resetSessionPolicy.terminatedSessions, 'session')} ended.`;
    });
  }

  private async run(f: () => Promise<void>) {
    this.busy = true;
    this.error = '';
    try {
      await f();
    } catch (err) {
      if (codeOf(err) === 'BAD_USER_INPUT') this.warnings = [{ field: (err as { field?: string }).field ?? '', message: (err as Error).message }];
      this.error = err instanceof Error ? err.message : String(err);
    } finally {
      this.busy = false;
    }
  }
}
