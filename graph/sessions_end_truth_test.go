package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/secret"
)

// TestEndsAtTheDeadline: a session whose deadline passed while no
// scheduler ran ends at its deadline, in the stored record and in the
// TERMINATED event, not at the time the sweep ran.
func TestEndsAtTheDeadline(t *testing.T) {
	t.Run("a deadline that passed while the server was down ends at the deadline", func(t *testing.T) {
		s1, clk := startFake(t)
		w := s1.NewWorkspace("down")
		setPolicy(t, s1, w.TenantID, idle(30, "MINUTES"))
		ses := s1.CreateSession(w.MemberID, w.TenantID)
		stop(t, s1)

		clk.Advance(3 * time.Hour) // nobody runs past the deadline at +30 min
		s2 := graphtest.Start(t, graphtest.WithClock(clk), graphtest.WithDatabase(s1.DBPath))
		v := waitForEnd(t, s2, w.MemberID, ses.ID)
		if deadline := t0.Add(30 * time.Minute); v.reason() != "IDLE_TIMEOUT" || v.EndedAt == nil || !v.EndedAt.Equal(deadline) {
			t.Fatalf("endReason %q endedAt %v, want IDLE_TIMEOUT at the deadline %v (the restart was at %v)", v.reason(), v.EndedAt, deadline, clk.Now())
		}
		requireEnded(t, s2, ses.Token, "IDLE_TIMEOUT")
	})

	t.Run("a sweep that runs late records the deadline in the session and the event", func(t *testing.T) {
		s, clk := startFake(t)
		w := s.NewWorkspace("late")
		setPolicy(t, s, w.TenantID, relogin(1, "HOURS"))
		ses := s.CreateSession(w.MemberID, w.TenantID)
		sub, err := s.App.Bus.Subscribe(context.Background(), events.Filter{SessionID: ses.ID}, 8)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()

		clk.Advance(5 * time.Hour) // the scheduler wakes 4 hours after the deadline
		deadline := t0.Add(time.Hour)
		v := waitForEnd(t, s, w.MemberID, ses.ID)
		if v.reason() != "FORCE_RELOGIN" || !v.EndedAt.Equal(deadline) {
			t.Fatalf("endReason %q endedAt %v, want FORCE_RELOGIN at %v", v.reason(), v.EndedAt, deadline)
		}
		select {
		case e := <-sub.C:
			if e.Kind != events.Terminated || !e.At.Equal(deadline) || !e.Session.EndedAt.Equal(deadline) {
				t.Fatalf("event %s at %v (session ended at %v), want TERMINATED at %v", e.Kind, e.At, e.Session.EndedAt, deadline)
			}
		case <-time.After(waitTimeout):
			t.Fatal("no TERMINATED event")
		}
	})
}

// importIdle stores a member's session last active at lastActive with a
// 30-minute idle timeout, behind the expiry scheduler's back (as another
// instance would), and returns it.
func importIdle(t *testing.T, s *graphtest.Server, w graphtest.Workspace, lastActive time.Time) graphtest.Session {
	t.Helper()
	token := secret.NewToken(secret.SessionTokenPrefix)
	id := "overdue-" + secret.NewToken("")[:12]
	err := s.App.Store.ImportSessions(context.Background(), []model.Session{{
		ID: id, TokenHash: secret.HashToken(token), UserID: w.MemberID, TenantID: w.TenantID,
		CreatedAt: lastActive, LastActiveAt: lastActive, IdleExpiresAt: lastActive.Add(30 * time.Minute),
		ExpiresAt: lastActive.Add(30 * time.Minute), IdleTimeout: 30 * time.Minute, Device: "Imported",
	}})
	if err != nil {
		t.Fatal(err)
	}
	return graphtest.Session{Token: token, ID: id}
}

// TestRemovingAUserWithAnOverdueSession: removing a user from a tenant
// ends a session whose deadline passed before the scheduler reached it
// with the deadline's reason and time, by the system, and a session kept
// alive by activity not yet written with USER_REMOVED now (the removal
// writes pending activity first).
func TestRemovingAUserWithAnOverdueSession(t *testing.T) {
	s, clk := startFake(t, func(c *app.Config) { c.ActivityFlush = time.Hour })
	w := s.NewWorkspace("removed-overdue")
	_, before := clk.Timers()
	setPolicy(t, s, w.TenantID, idle(30, "MINUTES"))
	waitFor(t, "the expiry scheduler to sleep again", func() bool { n, set := clk.Timers(); return n == 1 && set > before })
	overdue := importIdle(t, s, w, t0.Add(-30*time.Minute+10*time.Second)) // deadline t0+10 s
	busy := importIdle(t, s, w, t0.Add(-30*time.Minute+40*time.Second))    // deadline t0+40 s
	clk.Advance(30 * time.Second)
	requireLive(t, s, busy.Token) // activity at t0+30 s, not written
	clk.Advance(20 * time.Second) // t0+50 s: both stored deadlines passed

	s.Admin(`mutation($u: ID!, $t: ID!) { removeUserFromTenant(userId: $u, tenantId: $t) }`, map[string]any{"u": w.MemberID, "t": w.TenantID}, nil)
	if v := requireReason(t, s, w.MemberID, overdue.ID, "IDLE_TIMEOUT"); !v.EndedAt.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("the overdue session ended at %v, want its deadline %v", v.EndedAt, t0.Add(10*time.Second))
	}
	if v := requireReason(t, s, w.MemberID, busy.ID, "USER_REMOVED"); !v.EndedAt.Equal(clk.Now()) {
		t.Fatalf("the busy session ended at %v, want now %v", v.EndedAt, clk.Now())
	}
	for _, e := range auditOf(t, s, w.TenantID) {
		if e.Action == "session.ended" && e.TargetID == overdue.ID && (e.Actor.Kind != "SYSTEM" || auditJSON(t, e.After)["endReason"] != "IDLE_TIMEOUT") {
			t.Fatalf("audit entry by %s with %v, want the system's IDLE_TIMEOUT", e.Actor.Kind, auditJSON(t, e.After))
		}
	}
	if n, _ := clk.Timers(); n != 1 {
		t.Fatalf("the scheduler woke during the test (%d timers), so it may have done the work under test", n)
	}
}

// TestRevokingAnOverdueSession: revoking or logging out a session whose
// deadline passed before the scheduler reached it records the deadline's
// reason and time; a session whose deadline only looks passed because its
// activity is not written yet is revoked as asked.
func TestRevokingAnOverdueSession(t *testing.T) {
	// Activity stays in memory for the whole test unless something flushes it.
	s, clk := startFake(t, func(c *app.Config) { c.ActivityFlush = time.Hour })
	w := s.NewWorkspace("overdue")
	_, before := clk.Timers()
	setPolicy(t, s, w.TenantID, idle(30, "MINUTES")) // wakes the scheduler
	waitFor(t, "the expiry scheduler to sleep again", func() bool { n, set := clk.Timers(); return n == 1 && set > before })
	// The scheduler sleeps at most a minute: stay within it, so that
	// nothing but the operations under test ends or flushes anything.
	// Sessions written behind the scheduler's back, as another instance
	// would, are unknown to it until it wakes.
	mk := func(lastActive time.Time) graphtest.Session { return importIdle(t, s, w, lastActive) }
	revoked := mk(t0.Add(-30*time.Minute + 10*time.Second))   // deadline t0+10 s
	loggedOut := mk(t0.Add(-30*time.Minute + 10*time.Second)) // deadline t0+10 s
	busy := mk(t0.Add(-30*time.Minute + 20*time.Second))      // deadline t0+20 s, used at t0
	requireLive(t, s, busy.Token)                             // activity at t0, not written
	clk.Advance(30 * time.Second)
	deadline := t0.Add(10 * time.Second)

	t.Run("revoking records the deadline's reason and time", func(t *testing.T) {
		var out struct{ RevokeSession sessionView }
		s.Admin(`mutation($id: ID!) { revokeSession(id: $id) { `+sessionFields+` } }`, map[string]any{"id": revoked.ID}, &out)
		if got := out.RevokeSession; got.reason() != "IDLE_TIMEOUT" || got.EndedAt == nil || !got.EndedAt.Equal(deadline) {
			t.Fatalf("revokeSession answered endReason %q endedAt %v, want IDLE_TIMEOUT at %v", got.reason(), got.EndedAt, deadline)
		}
		v := requireReason(t, s, w.MemberID, revoked.ID, "IDLE_TIMEOUT")
		if !v.EndedAt.Equal(deadline) {
			t.Fatalf("stored endedAt %v, want %v", v.EndedAt, deadline)
		}
		for _, e := range auditOf(t, s, w.TenantID) {
			if e.Action == "session.ended" && e.TargetID == revoked.ID && (e.Actor.Kind != "SYSTEM" || auditJSON(t, e.After)["endReason"] != "IDLE_TIMEOUT") {
				t.Fatalf("audit entry by %s with %v, want the system's IDLE_TIMEOUT", e.Actor.Kind, auditJSON(t, e.After))
			}
		}
	})

	// Before the logout below: a refused request flushes activity.
	t.Run("a session kept alive by unwritten activity is revoked as asked", func(t *testing.T) {
		var out struct{ RevokeSession sessionView }
		s.Admin(`mutation($id: ID!) { revokeSession(id: $id) { `+sessionFields+` } }`, map[string]any{"id": busy.ID}, &out)
		if got := out.RevokeSession; got.reason() != "REVOKED_BY_ADMIN" || got.EndedAt == nil || !got.EndedAt.Equal(clk.Now()) {
			t.Fatalf("revokeSession answered endReason %q endedAt %v, want REVOKED_BY_ADMIN at %v", got.reason(), got.EndedAt, clk.Now())
		}
	})

	t.Run("logging out records the deadline's reason and time", func(t *testing.T) {
		e := s.MustFail(graphtest.Request{Query: `mutation { logout { id } }`, Token: loggedOut.Token}, "UNAUTHENTICATED")
		if e.Extensions["reason"] != "IDLE_TIMEOUT" {
			t.Fatalf("logout refused with reason %v, want IDLE_TIMEOUT", e.Extensions["reason"])
		}
		v := requireReason(t, s, w.MemberID, loggedOut.ID, "IDLE_TIMEOUT")
		if !v.EndedAt.Equal(deadline) {
			t.Fatalf("stored endedAt %v, want %v", v.EndedAt, deadline)
		}
	})

	if n, _ := clk.Timers(); n != 1 {
		t.Fatalf("the scheduler woke during the test (%d timers), so it may have done the work under test", n)
	}
}
