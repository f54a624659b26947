package graph_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph/graphtest"
)

// Tests of the one access layer (internal/auth): reads that see this
// instance's unwritten activity, entitlements kept warm but never stale,
// and subscriptions authorized once yet stopped when the right is lost.

func TestReadsSeeAcceptedActivity(t *testing.T) {
	s, clk := startFake(t)
	w := s.NewWorkspace("activity")
	ses := s.CreateSession(w.MemberID, w.TenantID)
	passive := map[string]string{"X-Session-Activity": "passive"}

	clk.Advance(10 * time.Minute)
	active := requireLive(t, s, ses.Token) // counts as activity
	want := active.LastActiveAt
	if !want.Equal(clk.Now()) {
		t.Fatalf("active request: lastActiveAt = %v, want %v", want, clk.Now())
	}
	if got := meSession(t, s, ses.Token, passive).LastActiveAt; !got.Equal(want) {
		t.Fatalf("passive me right after: lastActiveAt = %v, want %v", got, want)
	}
	// The flush writes the activity; copies read before it (the token
	// cache) must not show the older time afterwards.
	if err := s.App.Sessions.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if got := meSession(t, s, ses.Token, passive).LastActiveAt; !got.Equal(want) {
		t.Fatalf("passive me after the flush: lastActiveAt = %v, want %v", got, want)
	}
	// Lists see the same activity, written or not.
	clk.Advance(time.Minute)
	again := requireLive(t, s, ses.Token).LastActiveAt
	if got := sessionOf(t, s, w.MemberID, ses.ID).LastActiveAt; !got.Equal(again) {
		t.Fatalf("User.sessions before the flush: lastActiveAt = %v, want %v", got, again)
	}
	var mine struct{ MySessions []sessionView }
	s.MustDo(graphtest.Request{Query: `{ mySessions { ` + sessionFields + ` } }`, Token: ses.Token, Headers: passive}, &mine)
	if len(mine.MySessions) != 1 || !mine.MySessions[0].LastActiveAt.Equal(again) || !mine.MySessions[0].Active {
		t.Fatalf("mySessions: %+v, want one active session last active at %v", mine.MySessions, again)
	}
}

func TestEntitlementChangesApplyToTheNextRequest(t *testing.T) {
	s := graphtest.Start(t)
	w := s.NewWorkspace("ents")
	holder := s.Login(w.AdminEmail, w.Password, w.TenantID)
	users := graphtest.Request{Query: `{ users { totalCount } }`, Token: holder.Token}
	me := graphtest.Request{Query: `{ me { roles { key } permissions user { name } tenant { name } } }`, Token: holder.Token}

	var out struct {
		Me struct {
			Roles       []struct{ Key string }
			Permissions []string
			User        struct{ Name string }
			Tenant      struct{ Name string }
		}
	}
	s.MustDo(me, &out)
	s.MustDo(users, nil) // warm: the holder may list users

	s.Admin(`mutation { removeRolesFromPermission(permissionKey: "fe.secure.delete.sessions", roleKeys: ["admin"]) { key } }`, nil, nil)
	s.MustFail(users, "FORBIDDEN")
	s.MustDo(me, &out)
	if len(out.Me.Permissions) != 0 {
		t.Fatalf("permissions after the removal: %v, want none", out.Me.Permissions)
	}

	s.Admin(`mutation { assignRolesToPermission(permissionKey: "fe.secure.delete.sessions", roleKeys: ["admin"]) { key } }`, nil, nil)
	s.MustDo(users, nil)

	s.Admin(`mutation { updateAdminPortal(input: {users: false}) { users } }`, nil, nil)
	s.MustFail(users, "FEATURE_DISABLED")
	s.Admin(`mutation { updateAdminPortal(input: {users: true}) { users } }`, nil, nil)
	s.MustDo(users, nil)

	s.Admin(`mutation($u: ID!, $t: ID!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: []) { user { id } } }`,
		map[string]any{"u": w.AdminID, "t": w.TenantID}, nil)
	s.MustFail(users, "FORBIDDEN")
	s.MustDo(me, &out)
	if len(out.Me.Roles) != 0 {
		t.Fatalf("roles after setUserRoles([]): %v, want none", out.Me.Roles)
	}

	s.Admin(`mutation($u: ID!) { updateUser(id: $u, input: {name: "Renamed"}) { id } }`, map[string]any{"u": w.AdminID}, nil)
	s.Admin(`mutation($t: ID!) { updateTenant(id: $t, input: {name: "Renamed Co"}) { id } }`, map[string]any{"t": w.TenantID}, nil)
	s.MustDo(me, &out)
	if out.Me.User.Name != "Renamed" || out.Me.Tenant.Name != "Renamed Co" {
		t.Fatalf("me after renames: user %q, tenant %q", out.Me.User.Name, out.Me.Tenant.Name)
	}
}

// A validated request reads nothing from the database once the caller's
// session and entitlements are warm: the principal carries them.
func TestWarmValidationRunsNoQuery(t *testing.T) {
	s := graphtest.Start(t)
	w := s.NewWorkspace("warm")
	ses := s.Login(w.AdminEmail, w.Password, w.TenantID)
	q := graphtest.Request{Query: `{ me { session { id expiresAt } user { id email } tenant { id } roles { key } permissions } }`, Token: ses.Token,
		Headers: map[string]string{"X-Session-Activity": "passive"}}
	s.MustDo(q, nil)
	before := s.App.Store.Stats()
	for range 20 {
		s.MustDo(q, nil)
	}
	after := s.App.Store.Stats()
	if after.Reads != before.Reads {
		t.Fatalf("20 warm validations ran %d reads, want none", after.Reads-before.Reads)
	}
}

func TestSessionEventsAuthorizeOnce(t *testing.T) {
	s := graphtest.Start(t)
	w := s.NewWorkspace("once")
	holder := s.Login(w.AdminEmail, w.Password, w.TenantID)
	ws := connect(t, s, bearerInit(holder.Token))
	ws.subscribe("1", subUserEvents, map[string]any{"u": w.MemberID})
	waitSubscribers(t, s, 2) // the connection's watch and the subscription

	// Warm the watched user's events: creating sessions publishes CREATED.
	first := s.CreateSession(w.MemberID, w.TenantID)
	var ev struct{ SessionEvents eventOut }
	ws.next("1", &ev)
	wantEvent(t, ev.SessionEvents, "CREATED", first.ID, "")

	before := s.App.Store.Stats()
	const n = 50
	ids := make([]string, n)
	for i := range n {
		ids[i] = s.CreateSession(w.MemberID, w.TenantID).ID
	}
	mid := s.App.Store.Stats()
	for i := range n {
		ws.next("1", &ev)
		wantEvent(t, ev.SessionEvents, "CREATED", ids[i], "")
	}
	// Creating sessions reads; delivering their events must not add a
	// query per event (background work, such as the scheduler planning
	// its next wake-up, may read a few times meanwhile).
	_ = before
	if after := s.App.Store.Stats(); after.Reads-mid.Reads >= n/5 {
		t.Fatalf("delivering %d events ran %d reads, want far fewer than one per event", n, after.Reads-mid.Reads)
	}

	// Losing the permission ends the stream with a FORBIDDEN error.
	s.Admin(`mutation { removeRolesFromPermission(permissionKey: "fe.secure.delete.sessions", roleKeys: ["admin"]) { key } }`, nil, nil)
	if code := ws.failed("1"); code != "FORBIDDEN" {
		t.Fatalf("stream ended with %q, want FORBIDDEN", code)
	}
	ws.complete("1")
}

func TestSessionEventsEndWithFeatureDisabled(t *testing.T) {
	s := graphtest.Start(t)
	w := s.NewWorkspace("switch")
	member := s.Login(w.MemberEmail, w.Password, w.TenantID)
	st := subscribeSSE(t, s, member.Token, subOwnEvents)
	waitSubscribers(t, s, 1)
	s.Admin(`mutation { updateAdminPortal(input: {privacyAndSecurity: false}) { privacyAndSecurity } }`, nil, nil)
	ev := st.next()
	var res struct {
		Errors []struct{ Extensions struct{ Code string } }
	}
	_ = json.Unmarshal([]byte(ev.Data), &res)
	if ev.Event != "next" || len(res.Errors) == 0 || res.Errors[0].Extensions.Code != "FEATURE_DISABLED" {
		t.Fatalf("want a final FEATURE_DISABLED error, got %s %s", ev.Event, ev.Data)
	}
	if ev := st.next(); ev.Event != "complete" {
		t.Fatalf("want the stream to complete after its error, got %s %s", ev.Event, ev.Data)
	}
}
