package graph_test

import (
	"testing"

	"github.com/sessiond/sessiond/graph/graphtest"
)

// TestSubscriptionAuthorization covers every subscription field over the
// callers of the authorization matrix; what happens per event is covered
// in realtime_test.go. A missing or bad token never gets this far: the
// connection closes with 4401 at connection_init (TestWebsocketAuthentication).
func TestSubscriptionAuthorization(t *testing.T) {
	s := graphtest.Start(t)
	a := s.NewWorkspace("suba")
	b := s.NewWorkspace("subb")
	holderA := s.CreateSession(a.AdminID, a.TenantID).Token  // holds the permission in A
	memberA := s.CreateSession(a.MemberID, a.TenantID).Token // no permission
	holderB := s.CreateSession(b.AdminID, b.TenantID).Token  // permission holder of another tenant

	type sub struct {
		query string
		vars  map[string]any
	}
	terminated := sub{subTerminated, nil}
	own := sub{subOwnEvents, nil}
	member := sub{subUserEvents, map[string]any{"u": a.MemberID}}

	cases := []struct {
		name     string
		token    string
		switches [3]bool // privacy & security, users, security
		op       sub
		want     string // "" for a live subscription, else extensions.code
	}{
		{"sessionTerminated: a member", memberA, [3]bool{false, false, false}, terminated, ""},
		{"sessionTerminated: the admin key has no session", s.AdminKey, [3]bool{true, true, true}, terminated, "FORBIDDEN"},
		{"own sessionEvents: a member with Privacy & Security on", memberA, [3]bool{true, false, false}, own, ""},
		{"own sessionEvents: Privacy & Security off", memberA, [3]bool{false, true, true}, own, "FEATURE_DISABLED"},
		{"a member's sessionEvents: a permission holder with Users on", holderA, [3]bool{false, true, false}, member, ""},
		{"a member's sessionEvents: Users off", holderA, [3]bool{true, false, true}, member, "FEATURE_DISABLED"},
		{"a member's sessionEvents: a member without the permission", memberA, [3]bool{true, true, true}, sub{subUserEvents, map[string]any{"u": a.AdminID}}, "FORBIDDEN"},
		{"a member's sessionEvents: another tenant's permission holder", holderB, [3]bool{true, true, true}, member, "NOT_FOUND"},
		{"every session's events: the admin key", s.AdminKey, [3]bool{false, false, false}, own, ""},
		{"a member's sessionEvents: the admin key", s.AdminKey, [3]bool{false, false, false}, member, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.SetPortal(c.switches[0], c.switches[1], c.switches[2])
			ws := connect(t, s, bearerInit(c.token))
			ws.subscribe("1", c.op.query, c.op.vars)
			if c.want != "" {
				if got := ws.failed("1"); got != c.want {
					t.Fatalf("want %s, got %s", c.want, got)
				}
				return
			}
			// Live: no error came for it; a query sent after it is answered
			// first (an error for the subscription would have come before).
			ws.subscribe("2", `{ __typename }`, nil)
			if m := ws.expect("next"); m.ID != "2" {
				t.Fatalf("want the query's result next, got %s for %q: %s", m.Type, m.ID, m.Payload)
			}
		})
	}
}
