package graph_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph/graphtest"
)

const revokeMutation = `mutation($id: ID!) { revokeSession(id: $id) { ` + sessionFields + ` } }`

// revoke ends a session by id with the caller's token and returns it.
func revoke(t *testing.T, s *graphtest.Server, token, id string) sessionView {
	t.Helper()
	var out struct{ RevokeSession sessionView }
	s.MustDo(graphtest.Request{Query: revokeMutation, Variables: map[string]any{"id": id}, Token: token}, &out)
	return out.RevokeSession
}

func ids(vs []sessionView) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return out
}

func TestSelfService(t *testing.T) {
	s, clk := startFake(t)
	w := s.NewWorkspace("self")
	cur := s.CreateSession(w.MemberID, w.TenantID)
	clk.Advance(time.Minute)
	o1 := s.CreateSession(w.MemberID, w.TenantID)
	clk.Advance(time.Minute)
	o2 := s.CreateSession(w.MemberID, w.TenantID)
	colleague := s.CreateSession(w.AdminID, w.TenantID)

	mySessions := func(t *testing.T, token string) []sessionView {
		t.Helper()
		var out struct{ MySessions []sessionView }
		s.MustDo(graphtest.Request{Query: `{ mySessions { ` + sessionFields + ` } }`, Token: token}, &out)
		return out.MySessions
	}

	t.Run("mySessions lists the caller's active sessions, newest first", func(t *testing.T) {
		if got, want := ids(mySessions(t, cur.Token)), []string{o2.ID, o1.ID, cur.ID}; !reflect.DeepEqual(got, want) {
			t.Fatalf("mySessions = %v, want %v", got, want)
		}
	})

	t.Run("revoking one's own session ends it with REVOKED_BY_USER", func(t *testing.T) {
		v := revoke(t, s, cur.Token, o1.ID)
		if v.ID != o1.ID || v.Active || v.reason() != "REVOKED_BY_USER" || v.EndedAt == nil {
			t.Fatalf("revokeSession returned %s active %v endReason %q endedAt %v", v.ID, v.Active, v.reason(), v.EndedAt)
		}
		requireEnded(t, s, o1.Token, "REVOKED_BY_USER")
		if got, want := ids(mySessions(t, cur.Token)), []string{o2.ID, cur.ID}; !reflect.DeepEqual(got, want) {
			t.Fatalf("mySessions after revoking = %v, want %v", got, want)
		}
		var found bool
		for _, e := range auditOf(t, s, w.TenantID) {
			if e.Action == "session.ended" && e.TargetID == o1.ID {
				found = true
				if e.Actor.Kind != "USER" || derefAny(e.Actor.UserID) != w.MemberID || auditJSON(t, e.After)["endReason"] != "REVOKED_BY_USER" {
					t.Fatalf("audit actor %s %v after %v, want USER %s REVOKED_BY_USER", e.Actor.Kind, derefAny(e.Actor.UserID), auditJSON(t, e.After), w.MemberID)
				}
			}
		}
		if !found {
			t.Fatal("no session.ended audit entry")
		}
	})

	t.Run("a member without the permission cannot end a colleague's session", func(t *testing.T) {
		s.MustFail(graphtest.Request{Query: revokeMutation, Variables: map[string]any{"id": colleague.ID}, Token: cur.Token}, "FORBIDDEN")
		requireActive(t, s, w.AdminID, colleague.ID)
	})

	t.Run("Privacy & Security off disables self-service", func(t *testing.T) {
		s.SetPortal(false, true, true)
		defer s.SetPortal(true, true, true)
		s.MustFail(graphtest.Request{Query: `{ mySessions { id } }`, Token: cur.Token}, "FEATURE_DISABLED")
		s.MustFail(graphtest.Request{Query: revokeMutation, Variables: map[string]any{"id": o2.ID}, Token: cur.Token}, "FEATURE_DISABLED")
		s.MustFail(graphtest.Request{Query: `mutation { revokeMySessions }`, Token: cur.Token}, "FEATURE_DISABLED")
		requireActive(t, s, w.MemberID, o2.ID)
	})

	t.Run("revokeMySessions ends the others and keeps the current one", func(t *testing.T) {
		var out struct{ RevokeMySessions int }
		s.MustDo(graphtest.Request{Query: `mutation { revokeMySessions }`, Token: cur.Token}, &out)
		if out.RevokeMySessions != 1 {
			t.Fatalf("revokeMySessions = %d, want 1", out.RevokeMySessions)
		}
		requireEnded(t, s, o2.Token, "REVOKED_BY_USER")
		requireLive(t, s, cur.Token)
		requireActive(t, s, w.AdminID, colleague.ID)
	})

	t.Run("revokeMySessions with includeCurrent ends the current one too", func(t *testing.T) {
		o3 := s.CreateSession(w.MemberID, w.TenantID)
		var out struct{ RevokeMySessions int }
		s.MustDo(graphtest.Request{Query: `mutation { revokeMySessions(includeCurrent: true) }`, Token: cur.Token}, &out)
		if out.RevokeMySessions != 2 {
			t.Fatalf("revokeMySessions(includeCurrent: true) = %d, want 2", out.RevokeMySessions)
		}
		requireEnded(t, s, cur.Token, "REVOKED_BY_USER")
		requireEnded(t, s, o3.Token, "REVOKED_BY_USER")
	})
}

func TestAdminSignOut(t *testing.T) {
	s, _ := startFake(t)
	w := s.NewWorkspace("signout")
	admin := s.CreateSession(w.AdminID, w.TenantID)
	m1 := s.CreateSession(w.MemberID, w.TenantID)
	m2 := s.CreateSession(w.MemberID, w.TenantID)

	type userNode struct {
		ID                 string
		ActiveSessionCount int
		Sessions           []sessionView
	}
	listUsers := func(t *testing.T) map[string]userNode {
		t.Helper()
		var out struct {
			Users struct{ Edges []struct{ Node userNode } }
		}
		s.MustDo(graphtest.Request{Query: `{ users { edges { node { id activeSessionCount sessions { id } } } } }`, Token: admin.Token}, &out)
		m := map[string]userNode{}
		for _, e := range out.Users.Edges {
			m[e.Node.ID] = e.Node
		}
		return m
	}

	t.Run("users lists members with their active sessions", func(t *testing.T) {
		users := listUsers(t)
		if len(users) != 2 {
			t.Fatalf("users lists %d users, want the tenant's 2", len(users))
		}
		mem := users[w.MemberID]
		if mem.ActiveSessionCount != 2 || !reflect.DeepEqual(ids(mem.Sessions), []string{m2.ID, m1.ID}) {
			t.Fatalf("member: activeSessionCount %d sessions %v, want 2 [%s %s]", mem.ActiveSessionCount, ids(mem.Sessions), m2.ID, m1.ID)
		}
		if users[w.AdminID].ActiveSessionCount != 1 {
			t.Fatalf("admin: activeSessionCount %d, want 1", users[w.AdminID].ActiveSessionCount)
		}
	})

	t.Run("a permission holder revokes a member's session with REVOKED_BY_ADMIN", func(t *testing.T) {
		if v := revoke(t, s, admin.Token, m1.ID); v.reason() != "REVOKED_BY_ADMIN" || v.Active {
			t.Fatalf("revokeSession: endReason %q active %v, want REVOKED_BY_ADMIN", v.reason(), v.Active)
		}
		requireEnded(t, s, m1.Token, "REVOKED_BY_ADMIN")
		requireActive(t, s, w.MemberID, m2.ID)
	})

	t.Run("signOutUser ends all of a member's sessions", func(t *testing.T) {
		m3 := s.CreateSession(w.MemberID, w.TenantID)
		var out struct{ SignOutUser int }
		s.MustDo(graphtest.Request{Query: `mutation($u: ID!) { signOutUser(userId: $u) }`, Variables: map[string]any{"u": w.MemberID}, Token: admin.Token}, &out)
		if out.SignOutUser != 2 {
			t.Fatalf("signOutUser = %d, want 2", out.SignOutUser)
		}
		requireEnded(t, s, m2.Token, "REVOKED_BY_ADMIN")
		requireEnded(t, s, m3.Token, "REVOKED_BY_ADMIN")
		if n := listUsers(t)[w.MemberID].ActiveSessionCount; n != 0 {
			t.Fatalf("activeSessionCount after sign-out = %d, want 0", n)
		}
		requireLive(t, s, admin.Token)
	})

	t.Run("the admin key revokes and signs out with REVOKED_BY_ADMIN", func(t *testing.T) {
		a := s.CreateSession(w.MemberID, w.TenantID)
		b := s.CreateSession(w.MemberID, w.TenantID)
		if v := revoke(t, s, s.AdminKey, a.ID); v.reason() != "REVOKED_BY_ADMIN" {
			t.Fatalf("endReason %q, want REVOKED_BY_ADMIN", v.reason())
		}
		var out struct{ SignOutUser int }
		s.Admin(`mutation($u: ID!) { signOutUser(userId: $u) }`, map[string]any{"u": w.MemberID}, &out)
		if out.SignOutUser != 1 {
			t.Fatalf("signOutUser = %d, want 1", out.SignOutUser)
		}
		requireEnded(t, s, a.Token, "REVOKED_BY_ADMIN")
		requireEnded(t, s, b.Token, "REVOKED_BY_ADMIN")
	})

	t.Run("without the permission users and signOutUser are forbidden", func(t *testing.T) {
		m := s.CreateSession(w.MemberID, w.TenantID)
		s.MustFail(graphtest.Request{Query: `{ users { totalCount } }`, Token: m.Token}, "FORBIDDEN")
		s.MustFail(graphtest.Request{Query: `mutation($u: ID!) { signOutUser(userId: $u) }`, Variables: map[string]any{"u": w.AdminID}, Token: m.Token}, "FORBIDDEN")
		requireLive(t, s, admin.Token)
	})

	t.Run("with the Users switch off the permission is not enough", func(t *testing.T) {
		m := s.CreateSession(w.MemberID, w.TenantID)
		s.SetPortal(true, false, true)
		defer s.SetPortal(true, true, true)
		s.MustFail(graphtest.Request{Query: `{ users { totalCount } }`, Token: admin.Token}, "FEATURE_DISABLED")
		s.MustFail(graphtest.Request{Query: `mutation($u: ID!) { signOutUser(userId: $u) }`, Variables: map[string]any{"u": w.MemberID}, Token: admin.Token}, "FEATURE_DISABLED")
		s.MustFail(graphtest.Request{Query: revokeMutation, Variables: map[string]any{"id": m.ID}, Token: admin.Token}, "FEATURE_DISABLED")
		requireLive(t, s, m.Token)
	})
}

func TestUserRemovedEndsSessions(t *testing.T) {
	t.Run("removing a user from a tenant ends its sessions there with USER_REMOVED", func(t *testing.T) {
		s, _ := startFake(t)
		w := s.NewWorkspace("remove")
		other := s.CreateTenant("remove-other")
		s.Admin(`mutation($u: ID!, $t: ID!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: ["read-only"]) { createdAt } }`,
			map[string]any{"u": w.MemberID, "t": other}, nil)
		here := s.CreateSession(w.MemberID, w.TenantID)
		there := s.CreateSession(w.MemberID, other)

		s.Admin(`mutation($u: ID!, $t: ID!) { removeUserFromTenant(userId: $u, tenantId: $t) }`, map[string]any{"u": w.MemberID, "t": w.TenantID}, nil)
		requireReason(t, s, w.MemberID, here.ID, "USER_REMOVED")
		requireEnded(t, s, here.Token, "USER_REMOVED")
		requireActive(t, s, w.MemberID, there.ID)
		requireLive(t, s, there.Token)
	})

	t.Run("deleting a user ends its sessions with USER_REMOVED", func(t *testing.T) {
		s, _ := startFake(t)
		w := s.NewWorkspace("delete")
		ses := s.CreateSession(w.MemberID, w.TenantID)
		requireLive(t, s, ses.Token)
		colleague := s.CreateSession(w.AdminID, w.TenantID)

		s.Admin(`mutation($u: ID!) { deleteUser(id: $u) }`, map[string]any{"u": w.MemberID}, nil)
		// The session outlives the user, so its token is told why it ended.
		requireEnded(t, s, ses.Token, "USER_REMOVED")
		var ended *auditView
		for _, e := range auditOf(t, s, w.TenantID) {
			if e.Action == "session.ended" && e.TargetID == ses.ID {
				ended = &e
			}
		}
		if ended == nil || auditJSON(t, ended.After)["endReason"] != "USER_REMOVED" || ended.Actor.Kind != "ADMIN" {
			t.Fatalf("audit entry for the deleted user's session = %+v, want session.ended USER_REMOVED by ADMIN", ended)
		}
		requireActive(t, s, w.AdminID, colleague.ID)
	})
}

func TestAuditLog(t *testing.T) {
	s, clk := startFake(t)
	w := s.NewWorkspace("audit")
	admin := s.CreateSession(w.AdminID, w.TenantID)
	clk.Advance(time.Minute)
	login := s.Login(w.MemberEmail, w.Password, "")
	byKey := s.CreateSession(w.MemberID, w.TenantID)
	clk.Advance(time.Minute)
	s.MustDo(graphtest.Request{Query: `mutation { logout { id } }`, Token: login.Token}, nil)
	setPolicy(t, s, w.TenantID, idle(30, "MINUTES"))
	var pol struct{ UpdateSessionPolicy policyPayload }
	s.MustDo(graphtest.Request{Query: updatePolicyMutation, Variables: map[string]any{"in": limit(3)}, Token: admin.Token}, &pol)
	revoke(t, s, admin.Token, byKey.ID)

	type row struct{ Action, Target, Actor, ActorUser, Reason string }
	want := []row{
		{"session.ended", byKey.ID, "USER", w.AdminID, "REVOKED_BY_ADMIN"},
		{"policy.updated", w.TenantID, "USER", w.AdminID, ""},
		{"policy.updated", w.TenantID, "ADMIN", "", ""},
		{"session.ended", login.ID, "USER", w.MemberID, "LOGOUT"},
		{"session.created", byKey.ID, "ADMIN", "", ""},
		{"session.created", login.ID, "USER", w.MemberID, ""},
		{"session.created", admin.ID, "ADMIN", "", ""},
	}
	entries := auditOf(t, s, w.TenantID)
	var sessionAndPolicy []auditView
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "session.") || strings.HasPrefix(e.Action, "policy.") {
			sessionAndPolicy = append(sessionAndPolicy, e)
		}
	}

	t.Run("session and policy changes are listed newest first with actor and reason", func(t *testing.T) {
		var got []row
		for _, e := range sessionAndPolicy {
			reason, _ := auditJSON(t, e.After)["endReason"].(string)
			got = append(got, row{e.Action, e.TargetID, e.Actor.Kind, orEmpty(e.Actor.UserID), reason})
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("audit log:\n got %+v\nwant %+v", got, want)
		}
		for i := 1; i < len(entries); i++ {
			if entries[i].CreatedAt.After(entries[i-1].CreatedAt) {
				t.Fatalf("entry %d (%s) is newer than entry %d (%s)", i, entries[i].CreatedAt, i-1, entries[i-1].CreatedAt)
			}
		}
		for _, e := range entries {
			if e.TenantID == nil || *e.TenantID != w.TenantID {
				t.Fatalf("entry %s %s has tenantId %v, want %s", e.Action, e.TargetID, derefAny(e.TenantID), w.TenantID)
			}
		}
		if c := sessionAndPolicy[len(sessionAndPolicy)-2]; auditJSON(t, c.After)["userId"] != w.MemberID || auditJSON(t, c.After)["ipAddress"] != "127.0.0.1" {
			t.Fatalf("session.created after = %v, want the user and its address", auditJSON(t, c.After))
		}
	})

	t.Run("policy changes record the settings before and after", func(t *testing.T) {
		first, second := sessionAndPolicy[2], sessionAndPolicy[1]
		idleDoc := map[string]any{"enabled": true, "value": float64(30), "unit": "MINUTES"}
		if b := auditJSON(t, first.Before); len(b) != 0 {
			t.Fatalf("first change: before = %v, want no settings", b)
		}
		if a := auditJSON(t, first.After); !reflect.DeepEqual(a, map[string]any{"idleTimeout": idleDoc}) {
			t.Fatalf("first change: after = %v", a)
		}
		if b := auditJSON(t, second.Before); !reflect.DeepEqual(b, map[string]any{"idleTimeout": idleDoc}) {
			t.Fatalf("second change: before = %v", b)
		}
		wantAfter := map[string]any{"idleTimeout": idleDoc, "maxConcurrentSessions": map[string]any{"enabled": true, "maxSessions": float64(3)}}
		if a := auditJSON(t, second.After); !reflect.DeepEqual(a, wantAfter) {
			t.Fatalf("second change: after = %v, want %v", a, wantAfter)
		}
	})

	t.Run("pages follow each other without gaps or repeats", func(t *testing.T) {
		var paged []string
		after := ""
		for {
			var out struct {
				AuditLog struct {
					Edges    []struct{ Node auditView }
					PageInfo struct {
						HasNextPage bool
						EndCursor   *string
					}
				}
			}
			s.Admin(`query($t: ID, $a: String) { auditLog(tenantId: $t, first: 3, after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`,
				map[string]any{"t": w.TenantID, "a": after}, &out)
			for _, e := range out.AuditLog.Edges {
				paged = append(paged, e.Node.ID)
			}
			if !out.AuditLog.PageInfo.HasNextPage {
				break
			}
			after = *out.AuditLog.PageInfo.EndCursor
		}
		var all []string
		for _, e := range entries {
			all = append(all, e.ID)
		}
		if !reflect.DeepEqual(paged, all) {
			t.Fatalf("paged ids %v, want %v", paged, all)
		}
	})

	t.Run("a permission holder reads its own tenant's log only", func(t *testing.T) {
		var out struct {
			AuditLog struct{ Edges []struct{ Node auditView } }
		}
		s.MustDo(graphtest.Request{Query: `{ auditLog(first: 500) { edges { node { id tenantId } } } }`, Token: admin.Token}, &out)
		if len(out.AuditLog.Edges) != len(entries) {
			t.Fatalf("permission holder sees %d entries, the admin key %d", len(out.AuditLog.Edges), len(entries))
		}
		other := s.CreateTenant("audit-other")
		s.MustFail(graphtest.Request{Query: `query($t: ID) { auditLog(tenantId: $t) { edges { node { id } } } }`, Variables: map[string]any{"t": other}, Token: admin.Token}, "NOT_FOUND")
		member := s.CreateSession(w.MemberID, w.TenantID)
		s.MustFail(graphtest.Request{Query: `{ auditLog { edges { node { id } } } }`, Token: member.Token}, "FORBIDDEN")
	})
}

// orEmpty returns *p, or "" for nil.
func orEmpty(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func TestTenantIsolation(t *testing.T) {
	s, _ := startFake(t)
	a := s.NewWorkspace("iso-a")
	b := s.NewWorkspace("iso-b")
	adminA := s.CreateSession(a.AdminID, a.TenantID)
	memberA := s.CreateSession(a.MemberID, a.TenantID)
	sesB := s.CreateSession(b.MemberID, b.TenantID)

	t.Run("another tenant's session id answers NOT_FOUND", func(t *testing.T) {
		for _, token := range []string{adminA.Token, memberA.Token} {
			s.MustFail(graphtest.Request{Query: revokeMutation, Variables: map[string]any{"id": sesB.ID}, Token: token}, "NOT_FOUND")
		}
		s.MustFail(graphtest.Request{Query: revokeMutation, Variables: map[string]any{"id": "00000000-0000-7000-8000-000000000000"}, Token: adminA.Token}, "NOT_FOUND")
		requireActive(t, s, b.MemberID, sesB.ID)
	})

	t.Run("another tenant's users answer NOT_FOUND", func(t *testing.T) {
		s.MustFail(graphtest.Request{Query: `query($t: ID) { users(tenantId: $t) { totalCount } }`, Variables: map[string]any{"t": b.TenantID}, Token: adminA.Token}, "NOT_FOUND")
		s.MustFail(graphtest.Request{Query: `query($u: ID!) { user(id: $u) { id } }`, Variables: map[string]any{"u": b.MemberID}, Token: adminA.Token}, "NOT_FOUND")
		s.MustFail(graphtest.Request{Query: `mutation($u: ID!) { signOutUser(userId: $u) }`, Variables: map[string]any{"u": b.MemberID}, Token: adminA.Token}, "NOT_FOUND")
		s.MustFail(graphtest.Request{Query: `mutation($u: ID!, $t: ID) { signOutUser(userId: $u, tenantId: $t) }`, Variables: map[string]any{"u": b.MemberID, "t": b.TenantID}, Token: adminA.Token}, "NOT_FOUND")
		var out struct {
			Users struct {
				TotalCount int
				Edges      []struct{ Node struct{ ID string } }
			}
		}
		s.MustDo(graphtest.Request{Query: `{ users { totalCount edges { node { id } } } }`, Token: adminA.Token}, &out)
		for _, e := range out.Users.Edges {
			if e.Node.ID == b.MemberID || e.Node.ID == b.AdminID {
				t.Fatalf("users lists %s of the other tenant", e.Node.ID)
			}
		}
		requireActive(t, s, b.MemberID, sesB.ID)
		requireLive(t, s, sesB.Token)
	})

	t.Run("another tenant's policy and audit log answer NOT_FOUND", func(t *testing.T) {
		vars := map[string]any{"t": b.TenantID, "in": limit(1)}
		s.MustFail(graphtest.Request{Query: updatePolicyMutation, Variables: vars, Token: adminA.Token}, "NOT_FOUND")
		s.MustFail(graphtest.Request{Query: `query($t: ID, $in: SessionPolicyInput!) { previewSessionPolicy(tenantId: $t, input: $in) { total } }`, Variables: vars, Token: adminA.Token}, "NOT_FOUND")
		s.MustFail(graphtest.Request{Query: `mutation($t: ID!) { resetSessionPolicy(tenantId: $t) { terminatedSessions } }`, Variables: map[string]any{"t": b.TenantID}, Token: adminA.Token}, "NOT_FOUND")
		s.MustFail(graphtest.Request{Query: `query($t: ID) { sessionPolicy(tenantId: $t) { tenantId } }`, Variables: map[string]any{"t": b.TenantID}, Token: memberA.Token}, "NOT_FOUND")
		s.MustFail(graphtest.Request{Query: `query($t: ID) { auditLog(tenantId: $t) { edges { node { id } } } }`, Variables: map[string]any{"t": b.TenantID}, Token: adminA.Token}, "NOT_FOUND")
		requireLimit(t, policyOf(t, s, b.TenantID), nil, "DEFAULT")
	})

	t.Run("a user of both tenants shows only this tenant's sessions", func(t *testing.T) {
		s.Admin(`mutation($u: ID!, $t: ID!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: ["read-only"]) { createdAt } }`,
			map[string]any{"u": b.MemberID, "t": a.TenantID}, nil)
		inA := s.CreateSession(b.MemberID, a.TenantID)
		var out struct {
			User struct {
				ActiveSessionCount int
				Sessions           []sessionView
			}
		}
		s.MustDo(graphtest.Request{Query: `query($u: ID!) { user(id: $u) { activeSessionCount sessions(includeEnded: true) { id } } }`,
			Variables: map[string]any{"u": b.MemberID}, Token: adminA.Token}, &out)
		if out.User.ActiveSessionCount != 1 || !reflect.DeepEqual(ids(out.User.Sessions), []string{inA.ID}) {
			t.Fatalf("activeSessionCount %d sessions %v, want 1 [%s]", out.User.ActiveSessionCount, ids(out.User.Sessions), inA.ID)
		}
		// Signing the user out of this tenant leaves the other tenant's session.
		var so struct{ SignOutUser int }
		s.MustDo(graphtest.Request{Query: `mutation($u: ID!) { signOutUser(userId: $u) }`, Variables: map[string]any{"u": b.MemberID}, Token: adminA.Token}, &so)
		if so.SignOutUser != 1 {
			t.Fatalf("signOutUser = %d, want 1", so.SignOutUser)
		}
		requireEnded(t, s, inA.Token, "REVOKED_BY_ADMIN")
		requireLive(t, s, sesB.Token)
	})
}
