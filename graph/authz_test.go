package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/app"
)

// Outcomes of one operation: success, or the extensions.code of the error.
const (
	allowed   = "OK"
	unauth    = "UNAUTHENTICATED"
	forbidden = "FORBIDDEN"
	disabled  = "FEATURE_DISABLED"
	notFound  = "NOT_FOUND"
)

// outcomes is what each caller gets from one operation. Every field must be
// set: an empty one fails the test rather than meaning success.
type outcomes struct {
	anonymous string
	// member holds only the default role of tenant A.
	member string
	// holder is tenant A's admin, who holds fe.secure.delete.sessions.
	holder string
	// The holder again, with one portal switch off (the others on).
	privacyOff, usersOff, securityOff string
	// otherHolder is tenant B's admin: a permission holder, but in B,
	// acting on tenant A's ids.
	otherHolder string
	// otherMember is tenant B's member, without the permission. Where the
	// permission is checked before the ids are looked at, it gets FORBIDDEN
	// whatever the ids, so the answer says nothing about tenant A.
	otherMember string
	adminKey    string
}

// Common rows of expectations, spelled out once.
var (
	adminKeyOnly = outcomes{
		anonymous: unauth, member: forbidden, holder: forbidden,
		privacyOff: forbidden, usersOff: forbidden, securityOff: forbidden,
		otherHolder: forbidden, otherMember: forbidden, adminKey: allowed,
	}
	anySessionUser = outcomes{
		anonymous: unauth, member: allowed, holder: allowed,
		privacyOff: allowed, usersOff: allowed, securityOff: allowed,
		otherHolder: allowed, otherMember: allowed, adminKey: forbidden,
	}
	selfService = outcomes{
		anonymous: unauth, member: allowed, holder: allowed,
		privacyOff: disabled, usersOff: allowed, securityOff: allowed,
		otherHolder: allowed, otherMember: allowed, adminKey: forbidden,
	}
	manageUsersInA = outcomes{
		anonymous: unauth, member: forbidden, holder: allowed,
		privacyOff: allowed, usersOff: disabled, securityOff: allowed,
		otherHolder: notFound, otherMember: forbidden, adminKey: allowed,
	}
	manageSecurityOfA = outcomes{
		anonymous: unauth, member: forbidden, holder: allowed,
		privacyOff: allowed, usersOff: allowed, securityOff: disabled,
		otherHolder: notFound, otherMember: forbidden, adminKey: allowed,
	}
)

type callerKind int

const (
	anonymousCaller callerKind = iota
	memberCaller
	holderCaller
	otherHolderCaller
	otherMemberCaller
	adminKeyCaller
)

// portal is the three switches: Privacy & Security, Users, Security.
type portal [3]bool

var allOn = portal{true, true, true}

// authzCallers are the callers every row runs as. Those with all switches
// on come first so that the portal changes only a few times per row.
var authzCallers = []struct {
	name     string
	kind     callerKind
	switches portal
	want     func(outcomes) string
}{
	{"anonymous", anonymousCaller, allOn, func(o outcomes) string { return o.anonymous }},
	{"member without permission", memberCaller, allOn, func(o outcomes) string { return o.member }},
	{"permission holder", holderCaller, allOn, func(o outcomes) string { return o.holder }},
	{"permission holder of another tenant", otherHolderCaller, allOn, func(o outcomes) string { return o.otherHolder }},
	{"member of another tenant without permission", otherMemberCaller, allOn, func(o outcomes) string { return o.otherMember }},
	{"admin key", adminKeyCaller, allOn, func(o outcomes) string { return o.adminKey }},
	{"permission holder with Privacy & Security off", holderCaller, portal{false, true, true}, func(o outcomes) string { return o.privacyOff }},
	{"permission holder with Users off", holderCaller, portal{true, false, true}, func(o outcomes) string { return o.usersOff }},
	{"permission holder with Security off", holderCaller, portal{true, true, false}, func(o outcomes) string { return o.securityOff }},
}

// caller is who sends one request. Session users get a fresh session for
// every request, so operations that end it do not disturb other rows.
type caller struct {
	kind     callerKind
	token    string
	session  graphtest.Session // zero for anonymous and the admin key
	userID   string
	tenantID string
}

func (c caller) isUser() bool { return c.session.Token != "" }

// call is one request of a row: its variables, and a check of its effect.
type call struct {
	vars map[string]any
	// check runs after the request. ok says whether the caller was meant
	// to succeed; data is the operation's field (null after an error).
	check func(t *testing.T, ok bool, data json.RawMessage)
}

type authzRow struct {
	name  string
	query string
	// prepare builds what the request acts on, anew for each caller.
	prepare func(f *authzFixture, c caller) call
	want    outcomes
}

// authzFixture is the environment the rows run in: tenant A (where the ids
// live) and tenant B (the other tenant), each a graphtest workspace.
type authzFixture struct {
	s *graphtest.Server
	a graphtest.Workspace
	b graphtest.Workspace
	// bystander is a member of A (default role, no password) whose
	// sessions other callers try to end.
	bystander string
	// dualEmail is the email of a member of A and B with one active
	// session in each.
	dualEmail string
	switches  portal
	n         int
}

const policyInput = `{idleTimeout: {enabled: true, duration: {value: 8, unit: HOURS}}}`

func authzRows() []authzRow {
	none := func(*authzFixture, caller) call { return call{} }
	tenantA := func(f *authzFixture, _ caller) call { return call{vars: map[string]any{"t": f.a.TenantID}} }
	return []authzRow{
		// ---- queries ----
		{
			name:  "me",
			query: `query { me { session { id } } }`,
			prepare: func(f *authzFixture, c caller) call {
				return call{check: func(t *testing.T, ok bool, data json.RawMessage) {
					if !ok {
						return
					}
					var me struct{ Session struct{ ID string } }
					decode(t, data, &me)
					if me.Session.ID != c.session.ID {
						t.Fatalf("me.session.id = %s, want the caller's %s", me.Session.ID, c.session.ID)
					}
				}}
			},
			want: anySessionUser,
		},
		{
			name:  "mySessions lists only the caller's sessions",
			query: `query { mySessions { id user { id } tenant { id } } }`,
			prepare: func(f *authzFixture, c caller) call {
				return call{check: func(t *testing.T, ok bool, data json.RawMessage) {
					if !ok {
						return
					}
					var list []struct {
						ID     string
						User   struct{ ID string }
						Tenant struct{ ID string }
					}
					decode(t, data, &list)
					current := false
					for _, s := range list {
						current = current || s.ID == c.session.ID
						if s.User.ID != c.userID || s.Tenant.ID != c.tenantID {
							t.Errorf("mySessions lists session %s of user %s in tenant %s; want only user %s in %s", s.ID, s.User.ID, s.Tenant.ID, c.userID, c.tenantID)
						}
					}
					if !current {
						t.Errorf("mySessions misses the caller's session %s: %s", c.session.ID, data)
					}
				}}
			},
			want: selfService,
		},
		{
			name:    "sessionPolicy of tenant A",
			query:   `query($t: ID) { sessionPolicy(tenantId: $t) { tenantId } }`,
			prepare: tenantA,
			want: outcomes{
				anonymous: unauth, member: allowed, holder: allowed,
				privacyOff: allowed, usersOff: allowed, securityOff: allowed,
				otherHolder: notFound, otherMember: notFound, adminKey: allowed,
			},
		},
		{
			name:  "sessionPolicy without tenantId reads the caller's tenant",
			query: `query { sessionPolicy { tenantId } }`,
			prepare: func(f *authzFixture, c caller) call {
				return call{check: wantTenantID("tenantId", c)}
			},
			want: outcomes{
				anonymous: unauth, member: allowed, holder: allowed,
				privacyOff: allowed, usersOff: allowed, securityOff: allowed,
				otherHolder: allowed, otherMember: allowed, adminKey: allowed,
			},
		},
		{
			name:    "previewSessionPolicy of tenant A",
			query:   `query($t: ID) { previewSessionPolicy(tenantId: $t, input: ` + policyInput + `) { total } }`,
			prepare: tenantA,
			want:    manageSecurityOfA,
		},
		{
			name:    "auditLog of tenant A",
			query:   `query($t: ID) { auditLog(tenantId: $t, first: 5) { edges { node { tenantId } } } }`,
			prepare: tenantA,
			want: outcomes{
				anonymous: unauth, member: forbidden, holder: allowed,
				privacyOff: allowed, usersOff: allowed, securityOff: allowed,
				otherHolder: notFound, otherMember: forbidden, adminKey: allowed,
			},
		},
		{
			name:  "auditLog without tenantId reads the caller's tenant",
			query: `query { auditLog(first: 500) { edges { node { tenantId } } } }`,
			prepare: func(f *authzFixture, c caller) call {
				return call{check: func(t *testing.T, ok bool, data json.RawMessage) {
					if !ok || !c.isUser() {
						return
					}
					var log struct {
						Edges []struct{ Node struct{ TenantID *string } }
					}
					decode(t, data, &log)
					if len(log.Edges) == 0 {
						t.Fatalf("auditLog is empty; want the entries of tenant %s", c.tenantID)
					}
					for _, e := range log.Edges {
						if e.Node.TenantID == nil || *e.Node.TenantID != c.tenantID {
							t.Fatalf("auditLog has an entry of tenant %v; want only %s", deref(e.Node.TenantID), c.tenantID)
						}
					}
				}}
			},
			want: outcomes{
				anonymous: unauth, member: forbidden, holder: allowed,
				privacyOff: allowed, usersOff: allowed, securityOff: allowed,
				otherHolder: allowed, otherMember: forbidden, adminKey: allowed,
			},
		},
		{name: "tenants", query: `query { tenants { id } }`, prepare: none, want: adminKeyOnly},
		{
			name:    "tenant A",
			query:   `query($t: ID!) { tenant(id: $t) { id } }`,
			prepare: tenantA,
			want:    adminKeyOnly,
		},
		{
			name:    "users of tenant A",
			query:   `query($t: ID) { users(tenantId: $t, first: 500) { totalCount } }`,
			prepare: tenantA,
			want:    manageUsersInA,
		},
		{
			name:  "users without tenantId lists the caller's tenant",
			query: `query { users(first: 500) { edges { node { id memberships { tenant { id } } } } } }`,
			prepare: func(f *authzFixture, c caller) call {
				return call{check: func(t *testing.T, ok bool, data json.RawMessage) {
					if !ok || !c.isUser() {
						return
					}
					var page struct {
						Edges []struct {
							Node struct {
								ID          string
								Memberships []struct{ Tenant struct{ ID string } }
							}
						}
					}
					decode(t, data, &page)
					if len(page.Edges) == 0 {
						t.Fatalf("users is empty; want the members of %s", c.tenantID)
					}
					// Memberships are cut to the caller's tenant, so a user
					// of another tenant shows none.
					for _, e := range page.Edges {
						if len(e.Node.Memberships) != 1 || e.Node.Memberships[0].Tenant.ID != c.tenantID {
							t.Fatalf("users lists %s with memberships %+v; want only members of %s", e.Node.ID, e.Node.Memberships, c.tenantID)
						}
					}
				}}
			},
			want: outcomes{
				anonymous: unauth, member: forbidden, holder: allowed,
				privacyOff: allowed, usersOff: disabled, securityOff: allowed,
				otherHolder: allowed, otherMember: forbidden, adminKey: allowed,
			},
		},
		{
			name:  "user who is a member of tenant A",
			query: `query($id: ID!) { user(id: $id) { id sessions { id } activeSessionCount } }`,
			prepare: func(f *authzFixture, _ caller) call {
				// With an active session: activeSessionCount of a user
				// without one answers INTERNAL, which is not what this
				// table is about.
				id := f.victim()
				f.s.CreateSession(id, f.a.TenantID)
				return call{vars: map[string]any{"id": id}}
			},
			want: manageUsersInA,
		},
		{
			name:  "User.sessions of a member of two tenants shows the caller's tenant only",
			query: `query($q: String) { users(search: $q) { edges { node { sessions { tenant { id } } activeSessionCount } } } }`,
			prepare: func(f *authzFixture, c caller) call {
				return call{vars: map[string]any{"q": f.dualEmail}, check: func(t *testing.T, ok bool, data json.RawMessage) {
					if !ok {
						return
					}
					var page struct {
						Edges []struct {
							Node struct {
								Sessions           []struct{ Tenant struct{ ID string } }
								ActiveSessionCount int
							}
						}
					}
					decode(t, data, &page)
					if len(page.Edges) != 1 {
						t.Fatalf("users(search: %s) = %s; want the one user", f.dualEmail, data)
					}
					u := page.Edges[0].Node
					wantN := 1
					if !c.isUser() {
						wantN = 2 // the admin key sees both tenants
					}
					if len(u.Sessions) != wantN || u.ActiveSessionCount != wantN {
						t.Fatalf("sessions %+v, activeSessionCount %d; want %d of each", u.Sessions, u.ActiveSessionCount, wantN)
					}
					for _, s := range u.Sessions {
						if c.isUser() && s.Tenant.ID != c.tenantID {
							t.Fatalf("sessions lists one in tenant %s; want only %s", s.Tenant.ID, c.tenantID)
						}
					}
				}}
			},
			want: outcomes{
				anonymous: unauth, member: forbidden, holder: allowed,
				privacyOff: allowed, usersOff: disabled, securityOff: allowed,
				otherHolder: allowed, otherMember: forbidden, adminKey: allowed,
			},
		},
		{
			name:    "User.sessions reached through me",
			query:   `query { me { user { sessions { id } } } }`,
			prepare: none,
			want: outcomes{
				anonymous: unauth, member: forbidden, holder: allowed,
				privacyOff: allowed, usersOff: disabled, securityOff: allowed,
				otherHolder: allowed, otherMember: forbidden, adminKey: forbidden,
			},
		},
		{
			name:    "User.activeSessionCount reached through me",
			query:   `query { me { user { activeSessionCount } } }`,
			prepare: none,
			want: outcomes{
				anonymous: unauth, member: forbidden, holder: allowed,
				privacyOff: allowed, usersOff: disabled, securityOff: allowed,
				otherHolder: allowed, otherMember: forbidden, adminKey: forbidden,
			},
		},
		{name: "roles", query: `query { roles { key } }`, prepare: none, want: adminKeyOnly},
		{name: "permissions", query: `query { permissions { key } }`, prepare: none, want: adminKeyOnly},
		{name: "adminPortal", query: `query { adminPortal { users } }`, prepare: none, want: adminKeyOnly},
		{name: "retentionPolicy", query: `query { retentionPolicy { endedSessionsDays auditDays } }`, prepare: none, want: adminKeyOnly},
		{name: "updateRetentionPolicy", query: `mutation { updateRetentionPolicy(input: {auditDays: 400}) { auditDays } }`, prepare: none, want: adminKeyOnly},

		// ---- sessions ----
		{
			name:  "login is public",
			query: `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"e": f.a.MemberEmail, "p": f.a.Password}}
			},
			want: outcomes{
				anonymous: allowed, member: allowed, holder: allowed,
				privacyOff: allowed, usersOff: allowed, securityOff: allowed,
				otherHolder: allowed, otherMember: allowed, adminKey: allowed,
			},
		},
		{
			name:  "createSession",
			query: `mutation($u: ID!, $t: ID!) { createSession(input: {userId: $u, tenantId: $t}) { token } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"u": f.bystander, "t": f.a.TenantID}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "logout ends the caller's session",
			query: `mutation { logout { id } }`,
			prepare: func(f *authzFixture, c caller) call {
				return call{check: func(t *testing.T, ok bool, _ json.RawMessage) {
					if c.isUser() {
						f.wantAlive(t, "the caller's session", c.session.Token, !ok)
					}
				}}
			},
			want: anySessionUser,
		},
		{name: "recordActivity", query: `mutation { recordActivity { id } }`, prepare: none, want: anySessionUser},
		{
			name:  "revokeSession of the caller's own session",
			query: `mutation($id: ID!) { revokeSession(id: $id) { id } }`,
			prepare: func(f *authzFixture, c caller) call {
				target := c.session
				if !c.isUser() {
					target = f.s.CreateSession(f.bystander, f.a.TenantID)
				}
				return f.endsSession(target)
			},
			want: outcomes{
				anonymous: unauth, member: allowed, holder: allowed,
				privacyOff: disabled, usersOff: allowed, securityOff: allowed,
				otherHolder: allowed, otherMember: allowed, adminKey: allowed,
			},
		},
		{
			name:  "revokeSession of another member of tenant A",
			query: `mutation($id: ID!) { revokeSession(id: $id) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return f.endsSession(f.s.CreateSession(f.bystander, f.a.TenantID))
			},
			// The session is looked up before the permission: another
			// tenant's caller does not learn that it exists.
			want: outcomes{
				anonymous: unauth, member: forbidden, holder: allowed,
				privacyOff: allowed, usersOff: disabled, securityOff: allowed,
				otherHolder: notFound, otherMember: notFound, adminKey: allowed,
			},
		},
		{
			name:  "revokeSession of a member of tenant B",
			query: `mutation($id: ID!) { revokeSession(id: $id) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return f.endsSession(f.s.CreateSession(f.victimIn(f.b.TenantID), f.b.TenantID))
			},
			want: outcomes{
				anonymous: unauth, member: notFound, holder: notFound,
				privacyOff: notFound, usersOff: notFound, securityOff: notFound,
				otherHolder: allowed, otherMember: forbidden, adminKey: allowed,
			},
		},
		{
			name:  "revokeMySessions ends the caller's other sessions",
			query: `mutation { revokeMySessions }`,
			prepare: func(f *authzFixture, c caller) call {
				if !c.isUser() {
					return call{}
				}
				second := f.s.CreateSession(c.userID, c.tenantID)
				bystander := f.s.CreateSession(f.bystander, f.a.TenantID)
				return call{check: func(t *testing.T, ok bool, _ json.RawMessage) {
					f.wantAlive(t, "the caller's other session", second.Token, !ok)
					f.wantAlive(t, "the caller's current session", c.session.Token, true)
					f.wantAlive(t, "another user's session", bystander.Token, true)
				}}
			},
			want: selfService,
		},
		{
			name:  "revokeMySessions including the current one",
			query: `mutation { revokeMySessions(includeCurrent: true) }`,
			prepare: func(f *authzFixture, c caller) call {
				return call{check: func(t *testing.T, ok bool, _ json.RawMessage) {
					if c.isUser() {
						f.wantAlive(t, "the caller's current session", c.session.Token, !ok)
					}
				}}
			},
			want: selfService,
		},
		{
			name:  "signOutUser of a member of tenant A",
			query: `mutation($u: ID!, $t: ID) { signOutUser(userId: $u, tenantId: $t) }`,
			prepare: func(f *authzFixture, _ caller) call {
				c := f.endsSession(f.s.CreateSession(f.bystander, f.a.TenantID))
				c.vars = map[string]any{"u": f.bystander, "t": f.a.TenantID}
				return c
			},
			want: manageUsersInA,
		},
		{
			name:  "signOutUser of a member of tenant A without tenantId",
			query: `mutation($u: ID!) { signOutUser(userId: $u) }`,
			prepare: func(f *authzFixture, _ caller) call {
				c := f.endsSession(f.s.CreateSession(f.bystander, f.a.TenantID))
				c.vars = map[string]any{"u": f.bystander}
				return c
			},
			want: manageUsersInA,
		},
		{
			name:  "signOutUser of a member of A and B ends the sessions in the caller's tenant",
			query: `mutation($u: ID!) { signOutUser(userId: $u) }`,
			prepare: func(f *authzFixture, c caller) call {
				u := f.victim()
				f.admin(`mutation($u: ID!, $t: ID!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: ["read-only"]) { createdAt } }`, map[string]any{"u": u, "t": f.b.TenantID})
				inA, inB := f.s.CreateSession(u, f.a.TenantID), f.s.CreateSession(u, f.b.TenantID)
				return call{vars: map[string]any{"u": u}, check: func(t *testing.T, ok bool, _ json.RawMessage) {
					f.wantAlive(t, "the session in A", inA.Token, !ok || c.tenantID == f.b.TenantID)
					f.wantAlive(t, "the session in B", inB.Token, !ok || c.tenantID == f.a.TenantID)
				}}
			},
			want: outcomes{
				anonymous: unauth, member: forbidden, holder: allowed,
				privacyOff: allowed, usersOff: disabled, securityOff: allowed,
				otherHolder: allowed, otherMember: forbidden, adminKey: allowed,
			},
		},
		{
			name:  "updateSessionPolicy of tenant A",
			query: `mutation($t: ID) { updateSessionPolicy(tenantId: $t, input: ` + policyInput + `) { terminatedSessions } }`,
			prepare: func(f *authzFixture, _ caller) call {
				f.admin(`mutation($t: ID!) { resetSessionPolicy(tenantId: $t) { terminatedSessions } }`, map[string]any{"t": f.a.TenantID})
				return call{vars: map[string]any{"t": f.a.TenantID}, check: func(t *testing.T, ok bool, _ json.RawMessage) {
					if got := f.idleSource(t, f.a.TenantID) == "TENANT"; got != ok {
						t.Fatalf("tenant A has its own idle timeout: %v, want %v", got, ok)
					}
				}}
			},
			want: manageSecurityOfA,
		},
		{
			name:  "updateSessionPolicy without tenantId changes the caller's tenant",
			query: `mutation { updateSessionPolicy(input: ` + policyInput + `) { policy { tenantId } } }`,
			prepare: func(f *authzFixture, c caller) call {
				check := wantTenantID("policy.tenantId", c)
				return call{check: func(t *testing.T, ok bool, data json.RawMessage) {
					if !ok {
						return
					}
					var p struct{ Policy json.RawMessage }
					decode(t, data, &p)
					check(t, ok, p.Policy)
				}}
			},
			want: outcomes{
				anonymous: unauth, member: forbidden, holder: allowed,
				privacyOff: allowed, usersOff: allowed, securityOff: disabled,
				otherHolder: allowed, otherMember: forbidden, adminKey: allowed,
			},
		},
		{
			name:  "resetSessionPolicy of tenant A",
			query: `mutation($t: ID!) { resetSessionPolicy(tenantId: $t) { terminatedSessions } }`,
			prepare: func(f *authzFixture, _ caller) call {
				f.admin(`mutation($t: ID) { updateSessionPolicy(tenantId: $t, input: `+policyInput+`) { terminatedSessions } }`, map[string]any{"t": f.a.TenantID})
				return call{vars: map[string]any{"t": f.a.TenantID}, check: func(t *testing.T, ok bool, _ json.RawMessage) {
					if got := f.idleSource(t, f.a.TenantID) != "TENANT"; got != ok {
						t.Fatalf("tenant A's override is gone: %v, want %v", got, ok)
					}
				}}
			},
			want: manageSecurityOfA,
		},

		// ---- entitlements ----
		{
			name:  "createTenant",
			query: `mutation($n: String!) { createTenant(input: {name: $n}) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"n": f.next("tenant")}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "updateTenant",
			query: `mutation($id: ID!, $n: String) { updateTenant(id: $id, input: {name: $n}) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"id": f.s.CreateTenant(f.next("tenant")), "n": f.next("renamed")}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "deleteTenant",
			query: `mutation($id: ID!) { deleteTenant(id: $id) }`,
			prepare: func(f *authzFixture, _ caller) call {
				id := f.s.CreateTenant(f.next("tenant"))
				return call{vars: map[string]any{"id": id}, check: func(t *testing.T, ok bool, _ json.RawMessage) {
					if got := f.found(t, `query($id: ID!) { tenant(id: $id) { id } }`, map[string]any{"id": id}); got == ok {
						t.Fatalf("tenant exists after deleteTenant: %v, want %v", got, !ok)
					}
				}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "createUser",
			query: `mutation($e: String!, $t: ID!) { createUser(input: {email: $e, name: "Victim", tenantId: $t}) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"e": f.next("new") + "@example.com", "t": f.a.TenantID}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "updateUser",
			query: `mutation($id: ID!) { updateUser(id: $id, input: {name: "Renamed"}) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"id": f.victim()}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "deleteUser",
			query: `mutation($id: ID!) { deleteUser(id: $id) }`,
			prepare: func(f *authzFixture, _ caller) call {
				id := f.victim()
				return call{vars: map[string]any{"id": id}, check: func(t *testing.T, ok bool, _ json.RawMessage) {
					if got := f.found(t, `query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": id}); got == ok {
						t.Fatalf("user exists after deleteUser: %v, want %v", got, !ok)
					}
				}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "setUserRoles to admin",
			query: `mutation($u: ID!, $t: ID!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: ["admin"]) { permissions } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"u": f.victim(), "t": f.a.TenantID}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "removeUserFromTenant",
			query: `mutation($u: ID!, $t: ID!) { removeUserFromTenant(userId: $u, tenantId: $t) }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"u": f.victim(), "t": f.a.TenantID}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "createRole",
			query: `mutation($k: String!) { createRole(input: {key: $k, name: "Role"}) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"k": f.next("role")}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "updateRole",
			query: `mutation($k: String!) { updateRole(key: $k, input: {name: "Renamed"}) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"k": f.role()}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "deleteRole",
			query: `mutation($k: String!) { deleteRole(key: $k) }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"k": f.role()}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "setRolePermissions",
			query: `mutation($k: String!) { setRolePermissions(roleKey: $k, permissionKeys: ["fe.secure.delete.sessions"]) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"k": f.role()}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "createPermission",
			query: `mutation($k: String!) { createPermission(input: {key: $k, name: "Permission"}) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"k": f.next("perm")}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "updatePermission",
			query: `mutation($k: String!) { updatePermission(key: $k, input: {name: "Renamed"}) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"k": f.permission()}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "deletePermission",
			query: `mutation($k: String!) { deletePermission(key: $k) }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"k": f.permission()}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "assignRolesToPermission",
			query: `mutation($r: String!) { assignRolesToPermission(permissionKey: "fe.secure.delete.sessions", roleKeys: [$r]) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"r": f.role()}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "removeRolesFromPermission",
			query: `mutation($r: String!) { removeRolesFromPermission(permissionKey: "fe.secure.delete.sessions", roleKeys: [$r]) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				r := f.role()
				f.s.GrantRevokePermission(r)
				return call{vars: map[string]any{"r": r}}
			},
			want: adminKeyOnly,
		},
		{
			name: "updateAdminPortal",
			// The admin key runs with every switch on, so this changes nothing.
			query:   `mutation { updateAdminPortal(input: {privacyAndSecurity: true, users: true, security: true}) { users } }`,
			prepare: none,
			want:    adminKeyOnly,
		},
		{
			name:  "rotateAdminKey",
			query: `mutation { rotateAdminKey { key } }`,
			prepare: func(f *authzFixture, _ caller) call {
				old := f.s.AdminKey
				return call{check: func(t *testing.T, ok bool, data json.RawMessage) {
					if !ok {
						f.wantAdminKey(t, old, true)
						return
					}
					var grant struct{ Key string }
					decode(t, data, &grant)
					f.s.AdminKey = grant.Key
					f.wantAdminKey(t, old, false)
					f.wantAdminKey(t, grant.Key, true)
				}}
			},
			want: adminKeyOnly,
		},

		// ---- webhooks ----
		{
			name:    "webhookEndpoints",
			query:   `query { webhookEndpoints { id } }`,
			prepare: none,
			want:    adminKeyOnly,
		},
		{
			name:  "webhookDeliveries",
			query: `query($e: ID!) { webhookDeliveries(endpointId: $e) { edges { cursor } } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"e": f.webhookEndpoint()}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "createWebhookEndpoint",
			query: `mutation { createWebhookEndpoint(input: {url: "https://hooks.invalid/authz"}) { secret } }`,
			prepare: func(f *authzFixture, _ caller) call {
				before := f.webhookEndpointCount()
				return call{check: func(t *testing.T, ok bool, _ json.RawMessage) {
					if got := f.webhookEndpointCount() - before; got != map[bool]int{true: 1, false: 0}[ok] {
						t.Fatalf("%d endpoints created", got)
					}
				}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "updateWebhookEndpoint",
			query: `mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {description: "changed"}) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"id": f.webhookEndpoint()}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "deleteWebhookEndpoint",
			query: `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`,
			prepare: func(f *authzFixture, _ caller) call {
				id := f.webhookEndpoint()
				before := f.webhookEndpointCount()
				return call{vars: map[string]any{"id": id}, check: func(t *testing.T, ok bool, _ json.RawMessage) {
					if got := before - f.webhookEndpointCount(); got != map[bool]int{true: 1, false: 0}[ok] {
						t.Fatalf("%d endpoints deleted", got)
					}
				}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "rotateWebhookSecret",
			query: `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"id": f.webhookEndpoint()}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "sendTestWebhook",
			query: `mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				return call{vars: map[string]any{"id": f.webhookEndpoint()}}
			},
			want: adminKeyOnly,
		},
		{
			name:  "redeliverWebhook",
			query: `mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id } }`,
			prepare: func(f *authzFixture, _ caller) call {
				var out struct{ SendTestWebhook struct{ ID string } }
				f.s.Admin(`mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }`, map[string]any{"id": f.webhookEndpoint()}, &out)
				return call{vars: map[string]any{"id": out.SendTestWebhook.ID}}
			},
			want: adminKeyOnly,
		},
	}
}

// webhookEndpoint registers an endpoint for a row to act on.
func (f *authzFixture) webhookEndpoint() string {
	var out struct {
		CreateWebhookEndpoint struct{ Endpoint struct{ ID string } }
	}
	f.s.Admin(`mutation($u: String!) { createWebhookEndpoint(input: {url: $u}) { endpoint { id } } }`, map[string]any{"u": "https://hooks.invalid/" + f.next("hook")}, &out)
	return out.CreateWebhookEndpoint.Endpoint.ID
}

func (f *authzFixture) webhookEndpointCount() int {
	var out struct{ WebhookEndpoints []struct{ ID string } }
	f.s.Admin(`query { webhookEndpoints { id } }`, nil, &out)
	return len(out.WebhookEndpoints)
}

// TestAuthorization runs every query and mutation as every kind of caller
// and requires exactly the outcome the table names.
func TestAuthorization(t *testing.T) {
	schema := loadSchema(t)
	rows := authzRows()
	fields := make([]string, len(rows))
	covered := map[string]bool{}
	for i, r := range rows {
		root, field := topField(t, schema, r)
		fields[i] = field
		covered[root+"."+field] = true
	}

	t.Run("every query and mutation has a row", func(t *testing.T) {
		for _, root := range []*ast.Definition{schema.Query, schema.Mutation} {
			for _, fd := range root.Fields {
				if strings.HasPrefix(fd.Name, "__") {
					continue
				}
				if !covered[root.Name+"."+fd.Name] {
					t.Errorf("%s.%s has no row in authzRows: add one with the outcome for every caller", root.Name, fd.Name)
				}
			}
		}
	})

	f := newAuthzFixture(t)
	for i, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			for _, who := range authzCallers {
				t.Run(who.name, func(t *testing.T) {
					want := who.want(r.want)
					if want == "" {
						t.Fatalf("the row names no outcome for %s", who.name)
					}
					f.setPortal(who.switches)
					c := f.caller(who.kind)
					cl := r.prepare(f, c)
					res := f.s.Do(graphtest.Request{Query: r.query, Variables: cl.vars, Token: c.token})
					data := wantOutcome(t, res, fields[i], want)
					if cl.check != nil {
						cl.check(t, want == allowed, data)
					}
				})
			}
		})
	}

	t.Run("a member of two tenants acts in its session's tenant only", func(t *testing.T) {
		f.setPortal(allOn)
		// An admin of B who is a plain member of A, calling with a session in A.
		user := f.s.CreateUser(f.b.TenantID, f.next("two-hats")+"@example.com", "", []string{"admin"})
		f.admin(`mutation($u: ID!, $t: ID!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: ["read-only"]) { createdAt } }`, map[string]any{"u": user, "t": f.a.TenantID})
		ses := f.s.CreateSession(user, f.a.TenantID)
		otherInA := f.s.CreateSession(user, f.a.TenantID)
		inB := f.s.CreateSession(user, f.b.TenantID)

		t.Run("the permission held in B does not count in A", func(t *testing.T) {
			target := f.s.CreateSession(f.bystander, f.a.TenantID)
			for _, op := range []struct{ field, query string }{
				{"signOutUser", `mutation($u: ID!, $t: ID) { signOutUser(userId: $u, tenantId: $t) }`},
				{"revokeSession", `mutation($id: ID!) { revokeSession(id: $id) { id } }`},
				{"users", `query($t: ID) { users(tenantId: $t) { totalCount } }`},
				{"updateSessionPolicy", `mutation($t: ID) { updateSessionPolicy(tenantId: $t, input: ` + policyInput + `) { terminatedSessions } }`},
				{"auditLog", `query($t: ID) { auditLog(tenantId: $t) { pageInfo { hasNextPage } } }`},
			} {
				res := f.s.Do(graphtest.Request{Query: op.query, Variables: map[string]any{"u": f.bystander, "t": f.a.TenantID, "id": target.ID}, Token: ses.Token})
				t.Run(op.field, func(t *testing.T) { wantOutcome(t, res, op.field, forbidden) })
			}
			f.wantAlive(t, "the bystander's session", target.Token, true)
		})
		t.Run("the session in B cannot be revoked from A", func(t *testing.T) {
			res := f.s.Do(graphtest.Request{Query: `mutation($id: ID!) { revokeSession(id: $id) { id } }`, Variables: map[string]any{"id": inB.ID}, Token: ses.Token})
			wantOutcome(t, res, "revokeSession", notFound)
			f.wantAlive(t, "the session in B", inB.Token, true)
		})
		t.Run("mySessions lists the sessions in A", func(t *testing.T) {
			var out struct{ MySessions []struct{ ID string } }
			f.s.MustDo(graphtest.Request{Query: `query { mySessions { id } }`, Token: ses.Token}, &out)
			var ids []string
			for _, s := range out.MySessions {
				ids = append(ids, s.ID)
			}
			slices.Sort(ids)
			want := []string{ses.ID, otherInA.ID}
			slices.Sort(want)
			if !slices.Equal(ids, want) {
				t.Fatalf("mySessions = %v, want %v", ids, want)
			}
		})
		t.Run("revokeMySessions ends the other session in A only", func(t *testing.T) {
			var out struct{ RevokeMySessions int }
			f.s.MustDo(graphtest.Request{Query: `mutation { revokeMySessions }`, Token: ses.Token}, &out)
			if out.RevokeMySessions != 1 {
				t.Errorf("revokeMySessions = %d, want 1", out.RevokeMySessions)
			}
			f.wantAlive(t, "the other session in A", otherInA.Token, false)
			f.wantAlive(t, "the session in B", inB.Token, true)
		})
	})

	t.Run("wildcard permissions", func(t *testing.T) {
		f.setPortal(allOn)
		cases := []struct {
			permission string
			want       string
		}{
			{"fe.secure.*", allowed},
			{"fe.*", allowed},
			{"fe.secure.delete.*", allowed},
			{"fe.account.*", forbidden},
			{"fe.sec.*", forbidden},
		}
		for _, tc := range cases {
			t.Run(tc.permission+" gives "+tc.want, func(t *testing.T) {
				role := f.role()
				f.admin(`mutation($k: String!) { createPermission(input: {key: $k, name: "Wildcard"}) { id } }`, map[string]any{"k": tc.permission})
				f.admin(`mutation($p: String!, $r: String!) { assignRolesToPermission(permissionKey: $p, roleKeys: [$r]) { id } }`, map[string]any{"p": tc.permission, "r": role})
				user := f.s.CreateUser(f.a.TenantID, f.next("wildcard")+"@example.com", "", []string{role})
				ses := f.s.CreateSession(user, f.a.TenantID)
				for _, op := range []struct{ field, query string }{
					{"signOutUser", `mutation($u: ID!, $t: ID) { signOutUser(userId: $u, tenantId: $t) }`},
					{"updateSessionPolicy", `mutation($t: ID) { updateSessionPolicy(tenantId: $t, input: ` + policyInput + `) { terminatedSessions } }`},
				} {
					res := f.s.Do(graphtest.Request{Query: op.query, Variables: map[string]any{"u": f.bystander, "t": f.a.TenantID}, Token: ses.Token})
					t.Run(op.field, func(t *testing.T) { wantOutcome(t, res, op.field, tc.want) })
				}
			})
		}
	})
}

func newAuthzFixture(t *testing.T) *authzFixture {
	// A stored, generated admin key, so that rotateAdminKey can succeed.
	// The dispatcher is off: the rows' webhook endpoints (https://hooks.invalid/…)
	// are registered, never called.
	s := graphtest.Start(t, func(cfg *app.Config) { cfg.AdminKey = ""; cfg.Webhooks.Disabled = true })
	key, err := s.App.AdminKeys.EnsureKey(context.Background())
	if err != nil || key == "" {
		t.Fatalf("generate admin key: %q, %v", key, err)
	}
	s.AdminKey = key
	f := &authzFixture{s: s, a: s.NewWorkspace("authz-a"), b: s.NewWorkspace("authz-b"), switches: allOn}
	f.bystander = s.CreateUser(f.a.TenantID, "bystander@example.com", "", nil)
	f.dualEmail = "dual@example.com"
	dual := s.CreateUser(f.a.TenantID, f.dualEmail, "", nil)
	f.admin(`mutation($u: ID!, $t: ID!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: ["read-only"]) { createdAt } }`, map[string]any{"u": dual, "t": f.b.TenantID})
	s.CreateSession(dual, f.a.TenantID)
	s.CreateSession(dual, f.b.TenantID)
	return f
}

// caller opens a fresh session for the kind of caller.
func (f *authzFixture) caller(kind callerKind) caller {
	var user, tenant string
	switch kind {
	case anonymousCaller:
		return caller{kind: kind}
	case adminKeyCaller:
		return caller{kind: kind, token: f.s.AdminKey}
	case memberCaller:
		user, tenant = f.a.MemberID, f.a.TenantID
	case holderCaller:
		user, tenant = f.a.AdminID, f.a.TenantID
	case otherHolderCaller:
		user, tenant = f.b.AdminID, f.b.TenantID
	case otherMemberCaller:
		user, tenant = f.b.MemberID, f.b.TenantID
	}
	ses := f.s.CreateSession(user, tenant)
	return caller{kind: kind, token: ses.Token, session: ses, userID: user, tenantID: tenant}
}

// setPortal sets the switches, when they differ from the current ones.
func (f *authzFixture) setPortal(p portal) {
	if p != f.switches {
		f.s.SetPortal(p[0], p[1], p[2])
		f.switches = p
	}
}

func (f *authzFixture) next(prefix string) string {
	f.n++
	return fmt.Sprintf("authz-%s-%d", prefix, f.n)
}

// victim creates a member of tenant A for a row to act on.
func (f *authzFixture) victim() string { return f.victimIn(f.a.TenantID) }

// victimIn creates a member (default role) of a tenant.
func (f *authzFixture) victimIn(tenantID string) string {
	return f.s.CreateUser(tenantID, f.next("victim")+"@example.com", "", nil)
}

// role creates a role that nobody holds and returns its key.
func (f *authzFixture) role() string {
	key := f.next("role")
	f.admin(`mutation($k: String!) { createRole(input: {key: $k, name: "Role"}) { id } }`, map[string]any{"k": key})
	return key
}

// permission creates a permission that no role holds and returns its key.
func (f *authzFixture) permission() string {
	key := f.next("perm")
	f.admin(`mutation($k: String!) { createPermission(input: {key: $k, name: "Permission"}) { id } }`, map[string]any{"k": key})
	return key
}

func (f *authzFixture) admin(query string, vars map[string]any) {
	f.s.Admin(query, vars, nil)
}

// endsSession is a call that targets a session by id and checks that the
// session ended exactly when the caller was allowed to end it.
func (f *authzFixture) endsSession(target graphtest.Session) call {
	return call{vars: map[string]any{"id": target.ID}, check: func(t *testing.T, ok bool, _ json.RawMessage) {
		f.wantAlive(t, "the target session", target.Token, !ok)
	}}
}

// wantAlive asserts whether a session token still authenticates.
func (f *authzFixture) wantAlive(t *testing.T, what, token string, want bool) {
	t.Helper()
	res := f.s.Do(graphtest.Request{Query: `query { me { session { id } } }`, Token: token, Headers: map[string]string{"X-Session-Activity": "passive"}})
	alive := len(res.Errors) == 0
	if !alive && res.Errors[0].Code() != unauth {
		t.Fatalf("%s: me answered %s (%s)", what, res.Errors[0].Code(), res.Errors[0].Message)
	}
	if alive != want {
		t.Fatalf("%s is active: %v, want %v", what, alive, want)
	}
}

// wantAdminKey asserts whether a key is (still) the admin key.
func (f *authzFixture) wantAdminKey(t *testing.T, key string, want bool) {
	t.Helper()
	res := f.s.Do(graphtest.Request{Query: `query { adminPortal { users } }`, Token: key})
	if got := len(res.Errors) == 0; got != want {
		t.Fatalf("admin key works: %v, want %v (errors %+v)", got, want, res.Errors)
	}
}

// idleSource reads where a tenant's idle timeout comes from.
func (f *authzFixture) idleSource(t *testing.T, tenantID string) string {
	t.Helper()
	var out struct {
		SessionPolicy struct{ IdleTimeout struct{ Source string } }
	}
	f.s.Admin(`query($t: ID) { sessionPolicy(tenantId: $t) { idleTimeout { source } } }`, map[string]any{"t": tenantID}, &out)
	return out.SessionPolicy.IdleTimeout.Source
}

// found reports whether an admin-key lookup finds its object.
func (f *authzFixture) found(t *testing.T, query string, vars map[string]any) bool {
	t.Helper()
	res := f.s.Do(graphtest.Request{Query: query, Variables: vars, Token: f.s.AdminKey})
	if len(res.Errors) == 0 {
		return true
	}
	if res.Errors[0].Code() != notFound {
		t.Fatalf("lookup answered %s (%s)", res.Errors[0].Code(), res.Errors[0].Message)
	}
	return false
}

// wantOutcome asserts that the response is a success with data for field,
// or carries only errors with the wanted code and no data for field. It
// returns the field's data.
func wantOutcome(t *testing.T, res graphtest.Response, field, want string) json.RawMessage {
	t.Helper()
	var data map[string]json.RawMessage
	if len(res.Data) > 0 && string(res.Data) != "null" {
		if err := json.Unmarshal(res.Data, &data); err != nil {
			t.Fatalf("decode data: %v\n%s", err, res.Data)
		}
	}
	got := data[field]
	present := len(got) > 0 && string(got) != "null"
	if want == allowed {
		if len(res.Errors) > 0 {
			t.Fatalf("want success, got %s (%s)", res.Errors[0].Code(), res.Errors[0].Message)
		}
		if !present {
			t.Fatalf("want data for %s, got %s", field, res.Data)
		}
		return got
	}
	if len(res.Errors) == 0 {
		t.Fatalf("want %s, got success: %s", want, res.Data)
	}
	for _, e := range res.Errors {
		if e.Code() != want {
			t.Fatalf("want %s, got %s (%s)", want, e.Code(), e.Message)
		}
	}
	if present {
		t.Fatalf("want no data for %s with %s, got %s", field, want, got)
	}
	return got
}

// wantTenantID checks that a successful answer's tenantId (at the dotted
// path) is the caller's tenant, or null for the admin key.
func wantTenantID(path string, c caller) func(t *testing.T, ok bool, data json.RawMessage) {
	return func(t *testing.T, ok bool, data json.RawMessage) {
		if !ok {
			return
		}
		var v struct{ TenantID *string }
		decode(t, data, &v)
		want := c.tenantID
		if got := deref(v.TenantID); got != want {
			t.Fatalf("%s = %q, want %q", path, got, want)
		}
	}
}

func decode(t *testing.T, data json.RawMessage, out any) {
	t.Helper()
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func loadSchema(t *testing.T) *ast.Schema {
	t.Helper()
	src, err := os.ReadFile("../schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(src)})
	if err != nil {
		t.Fatalf("parse schema.graphqls: %v", err)
	}
	return schema
}

// topField validates a row's query against the schema and returns the
// root type and the field it calls.
func topField(t *testing.T, schema *ast.Schema, r authzRow) (root, field string) {
	t.Helper()
	doc, errs := gqlparser.LoadQuery(schema, r.query)
	if len(errs) > 0 {
		t.Fatalf("row %q: invalid query: %v", r.name, errs)
	}
	if len(doc.Operations) != 1 || len(doc.Operations[0].SelectionSet) != 1 {
		t.Fatalf("row %q: the query must be one operation calling one field", r.name)
	}
	op := doc.Operations[0]
	f, ok := op.SelectionSet[0].(*ast.Field)
	if !ok || f.Alias != f.Name || f.ObjectDefinition == nil {
		t.Fatalf("row %q: the query must call one field without an alias", r.name)
	}
	return f.ObjectDefinition.Name, f.Name
}
