import{i as l,theme as d,a as c,Connection as h,ApiError as u,A as a,b as n,when as p}from"./elements.js";const o="sessiond.adminKey",m=[{key:"privacyAndSecurity",label:"Privacy & Security",help:"Members see and end their own sessions."},{key:"users",label:"Users",help:"Holders of the permission list the tenant’s users and sign them out."},{key:"security",label:"Security",help:"Holders of the permission edit the tenant’s session settings."}];function y(){try{return sessionStorage.getItem(o)}catch{return null}}class g extends l{constructor(){super(),this.key=y(),this.conn=null,this.stopCount=null,this.countTimer=0,this.api=null,this.signedIn=!1,this.error="",this.portal=null,this.permissions=[],this.roles=[],this.tenants=[],this.openPermission="",this.assigning=!1,this.tenantId="",this.activeCount=null,this.audit=[],this.auditNext=null,this.actionFilter="",this.tenantFilter="",this.notice=""}static{this.styles=[d,c`
    section { margin: 0 0 2em; }
    sessiond-users, sessiond-security { margin-top: 1.5em; }
  `]}static{this.properties={api:{type:String},signedIn:{state:!0},error:{state:!0},portal:{state:!0},permissions:{state:!0},roles:{state:!0},tenants:{state:!0},openPermission:{state:!0},assigning:{state:!0},tenantId:{state:!0},activeCount:{state:!0},audit:{state:!0},auditNext:{state:!0},actionFilter:{state:!0},tenantFilter:{state:!0},notice:{state:!0}}}connectedCallback(){super.connectedCallback(),this.conn=new h(this.api||"/graphql",()=>this.key),this.key&&this.loadAll()}disconnectedCallback(){super.disconnectedCallback(),this.stopCount?.(),this.conn?.reset()}updated(t){super.updated(t);const e=this.renderRoot.querySelector("dialog");e&&!e.open&&(e.showModal(),e.querySelector("input")?.focus())}async q(t,e){try{return await this.conn.request(t,e)}catch(s){throw s instanceof u&&s.code==="UNAUTHENTICATED"&&this.signOut("The admin key was not accepted. It may have been rotated."),s}}async loadAll(){try{const t=await this.q("query ConsoleStart { adminPortal { privacyAndSecurity users security } tenants { id name } }");this.portal=t.adminPortal,this.tenants=t.tenants,!this.tenantId&&t.tenants.length&&(this.tenantId=t.tenants[0].id),this.signedIn=!0,this.error="",await Promise.all([this.loadEntitlements(),this.loadAudit(!0),this.countSessions()]),this.followCount()}catch(t){this.error=t instanceof Error?t.message:String(t)}}async loadEntitlements(){const t=await this.q(`query ConsoleEntitlements {
      permissions { key name description category builtIn roles { key name } }
      roles { key name description permissions { key } } }`);this.permissions=t.permissions,this.roles=t.roles}async countSessions(){let t=null,e=0;for(;;){const s=await this.q("query ConsoleCount($after: String) { users(first: 500, after: $after) { pageInfo { hasNextPage endCursor } edges { node { activeSessionCount } } } }",{after:t});for(const i of s.users.edges)e+=i.node.activeSessionCount;if(!s.users.pageInfo.hasNextPage)break;t=s.users.pageInfo.endCursor}this.activeCount=e}followCount(){this.stopCount?.(),this.stopCount=this.conn.subscribe("subscription ConsoleEvents { sessionEvents { kind } }",void 0,{next:t=>{t.sessionEvents.kind!=="EXPIRING_SOON"&&(clearTimeout(this.countTimer),this.countTimer=window.setTimeout(()=>{this.countSessions().catch(()=>{}),this.loadAudit(!0).catch(()=>{})},100))}})}async loadAudit(t){const e=await this.q(`query ConsoleAudit($t: ID, $after: String) { auditLog(tenantId: $t, first: 50, after: $after) {
        pageInfo { hasNextPage endCursor } edges { node { id tenantId action targetType targetId createdAt actor { kind userId } } } } }`,{t:this.tenantFilter||null,after:t?null:this.auditNext}),s=e.auditLog.edges.map(i=>i.node);this.audit=t?s:[...this.audit,...s],this.auditNext=e.auditLog.pageInfo.hasNextPage?e.auditLog.pageInfo.endCursor:null}render(){return this.signedIn?n`
      <div class="row" part="signed-in"><span>Signed in with the admin key.</span>
        <button class="secondary" part="button" @click=${()=>this.signOut("")}>Sign out</button></div>
      <p class="sr-only" role="status">${this.notice}</p>
      ${this.error?n`<p class="error" role="alert">${this.error}</p>`:a}
      <section aria-labelledby="live-h" part="section">
        <h2 id="live-h">Active sessions</h2>
        <p><strong data-role="active-count" aria-live="polite">${this.activeCount??"…"}</strong> active sessions in the environment, updated live.</p>
      </section>
      ${this.renderSwitches()}
      ${this.renderPermissions()}
      ${this.renderRoles()}
      ${this.renderTenants()}
      <section aria-labelledby="env-h" part="section">
        <h2 id="env-h" class="sr-only">Environment policy</h2>
        <sessiond-security .connection=${this.conn}></sessiond-security>
      </section>
      ${this.renderAudit()}`:this.renderSignIn()}renderSignIn(){return n`<form @submit=${this.submit} aria-labelledby="si-h" part="form">
      <h2 id="si-h">Sign in to the console</h2>
      <label for="key">Admin key</label>
      <input id="key" name="key" type="password" autocomplete="off" required part="input" size="60" aria-describedby="key-help">
      <p id="key-help" class="muted">The key printed at the first start (or set by SESSIOND_ADMIN_KEY). It stays in this tab only.</p>
      ${this.error?n`<p class="error" role="alert">${this.error}</p>`:a}
      <p><button type="submit" part="button">Sign in</button></p>
    </form>`}renderSwitches(){const t=this.portal;return t?n`<section aria-labelledby="sw-h" part="section">
      <h2 id="sw-h">Admin portal</h2>
      ${m.map(e=>n`<div class="row">
        <button role="switch" aria-checked=${t[e.key]?"true":"false"} aria-label=${e.label} aria-describedby=${`sw-${e.key}`}
          class=${t[e.key]?"":"secondary"} part="switch" @click=${()=>this.toggle(e.key)}>${t[e.key]?"On":"Off"}</button>
        <span><strong>${e.label}</strong> <span class="muted" id=${`sw-${e.key}`}>${e.help}</span></span>
      </div>`)}
    </section>`:a}renderPermissions(){const t=this.permissions.find(s=>s.key===this.openPermission),e=t?this.roles.filter(s=>!t.roles.some(i=>i.key===s.key)):[];return n`<section aria-labelledby="perm-h" part="section">
      <h2 id="perm-h">Permissions</h2>
      <table part="table">
        <thead><tr><th scope="col">Permission</th><th scope="col">Name</th><th scope="col">Category</th><th scope="col">Roles</th></tr></thead>
        <tbody>${this.permissions.map(s=>n`<tr>
          <td><button class="secondary" part="button" aria-expanded=${s.key===this.openPermission?"true":"false"}
            @click=${()=>{this.openPermission=s.key===this.openPermission?"":s.key}}>${s.key}</button></td>
          <td>${s.name}</td><td>${s.category}</td><td>${s.roles.length}</td></tr>`)}</tbody>
      </table>
      ${t?n`<div part="details" aria-labelledby="open-h">
        <h3 id="open-h">${t.name} <span class="muted">(${t.key})</span></h3>
        ${t.description?n`<p>${t.description}</p>`:a}
        ${t.roles.length?n`<ul>${t.roles.map(s=>n`<li class="row">${s.name} <span class="muted">(${s.key})</span>
              <button class="secondary" part="button" aria-label=${`Remove role ${s.name}`} @click=${()=>this.removeRole(t.key,s.key)}>Remove</button></li>`)}</ul>`:n`<p class="muted">No role holds this permission yet.</p>`}
        <button part="button" ?disabled=${e.length===0} @click=${()=>{this.assigning=!0}}>Assign roles</button>
        ${this.assigning?n`<dialog role="dialog" aria-modal="true" aria-labelledby="as-h" part="dialog" @cancel=${s=>{s.preventDefault(),this.assigning=!1}}>
          <form @submit=${s=>this.assign(s,t.key)}>
            <h2 id="as-h">Assign roles to ${t.key}</h2>
            <fieldset><legend>Roles</legend>
              ${e.map(s=>n`<label class="check"><input type="checkbox" name="role" value=${s.key}> ${s.name} <span class="muted">(${s.key})</span></label>`)}
            </fieldset>
            <div class="row"><button type="submit" part="button">Assign</button>
              <button type="button" class="secondary" part="button" @click=${()=>{this.assigning=!1}}>Cancel</button></div>
          </form>
        </dialog>`:a}
      </div>`:a}
    </section>`}renderRoles(){return n`<section aria-labelledby="roles-h" part="section">
      <h2 id="roles-h">Roles</h2>
      <table part="table">
        <thead><tr><th scope="col">Role</th><th scope="col">Key</th><th scope="col">Permissions</th></tr></thead>
        <tbody>${this.roles.map(t=>n`<tr><td>${t.name}</td><td>${t.key}</td>
          <td>${t.permissions.length?t.permissions.map(e=>e.key).join(", "):n`<span class="muted">none</span>`}</td></tr>`)}</tbody>
      </table>
    </section>`}renderTenants(){return n`<section aria-labelledby="ten-h" part="section">
      <h2 id="ten-h">Tenants</h2>
      <label for="tenant">Tenant</label>
      <select id="tenant" part="input" @change=${t=>{this.tenantId=t.target.value}}>
        ${this.tenants.map(t=>n`<option value=${t.id} ?selected=${t.id===this.tenantId}>${t.name}</option>`)}
      </select>
      ${this.tenantId?n`
        <sessiond-users .connection=${this.conn} tenant-id=${this.tenantId}></sessiond-users>
        <sessiond-security .connection=${this.conn} tenant-id=${this.tenantId}></sessiond-security>`:a}
    </section>`}renderAudit(){const t=[...new Set(this.audit.map(i=>i.action))].sort(),e=this.actionFilter?this.audit.filter(i=>i.action===this.actionFilter):this.audit,s=i=>i?this.tenants.find(r=>r.id===i)?.name??i:"—";return n`<section aria-labelledby="audit-h" part="section">
      <h2 id="audit-h">Audit log</h2>
      <div class="row">
        <label for="f-action">Action</label>
        <select id="f-action" part="input" @change=${i=>{this.actionFilter=i.target.value}}>
          <option value="">All actions</option>
          ${t.map(i=>n`<option value=${i} ?selected=${i===this.actionFilter}>${i}</option>`)}
        </select>
        <label for="f-tenant">Tenant</label>
        <select id="f-tenant" part="input" @change=${this.filterTenant}>
          <option value="">All tenants</option>
          ${this.tenants.map(i=>n`<option value=${i.id} ?selected=${i.id===this.tenantFilter}>${i.name}</option>`)}
        </select>
      </div>
      <table part="table">
        <thead><tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">Tenant</th><th scope="col">Actor</th><th scope="col">Target</th></tr></thead>
        <tbody>${e.map(i=>n`<tr data-action=${i.action}><td>${p(i.createdAt)}</td><td>${i.action}</td><td>${s(i.tenantId)}</td>
          <td>${i.actor.kind.toLowerCase()}${i.actor.userId?n` <span class="muted">${i.actor.userId}</span>`:a}</td>
          <td>${i.targetType} <span class="muted">${i.targetId}</span></td></tr>`)}</tbody>
      </table>
      ${this.auditNext?n`<p><button class="secondary" part="button" @click=${()=>this.loadAudit(!1)}>Load more</button></p>`:a}
    </section>`}async submit(t){t.preventDefault();const e=String(new FormData(t.currentTarget).get("key")??"").trim();this.key=e;try{sessionStorage.setItem(o,e)}catch{}this.conn?.reset(),await this.loadAll()}signOut(t){this.key=null;try{sessionStorage.removeItem(o)}catch{}this.stopCount?.(),this.stopCount=null,this.conn?.reset(),this.signedIn=!1,this.error=t}async toggle(t){if(this.portal)try{const e=await this.q("mutation ConsoleSwitch($input: UpdateAdminPortalInput!) { updateAdminPortal(input: $input) { privacyAndSecurity users security } }",{input:{[t]:!this.portal[t]}});this.portal=e.updateAdminPortal,await this.loadAudit(!0)}catch(e){this.error=e instanceof Error?e.message:String(e)}}async assign(t,e){t.preventDefault();const s=new FormData(t.currentTarget).getAll("role").map(String);if(this.assigning=!1,!!s.length)try{await this.q("mutation ConsoleAssign($p: String!, $r: [String!]!) { assignRolesToPermission(permissionKey: $p, roleKeys: $r) { key } }",{p:e,r:s}),await Promise.all([this.loadEntitlements(),this.loadAudit(!0)]),this.notice=`Assigned ${s.join(", ")} to ${e}.`}catch(i){this.error=i instanceof Error?i.message:String(i)}}async removeRole(t,e){try{await this.q("mutation ConsoleRemove($p: String!, $r: [String!]!) { removeRolesFromPermission(permissionKey: $p, roleKeys: $r) { key } }",{p:t,r:[e]}),await Promise.all([this.loadEntitlements(),this.loadAudit(!0)]),this.notice=`Removed ${e} from ${t}.`}catch(s){this.error=s instanceof Error?s.message:String(s)}}async filterTenant(t){this.tenantFilter=t.target.value,await this.loadAudit(!0).catch(e=>{this.error=e instanceof Error?e.message:String(e)})}}customElements.get("sessiond-console")||customElements.define("sessiond-console",g);export{g as SessiondConsole};
