package graph_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph/graphtest"
)

func TestIdleTimeout(t *testing.T) {
	s, clk := startFake(t)
	w := s.NewWorkspace("idle")
	setPolicy(t, s, w.TenantID, idle(30, "MINUTES"))
	ses := s.CreateSession(w.MemberID, w.TenantID)

	t.Run("the session's deadlines follow the idle timeout", func(t *testing.T) {
		v := requireLive(t, s, ses.Token)
		if want := t0.Add(30 * time.Minute); !v.IdleExpiresAt.Equal(want) || !v.ExpiresAt.Equal(want) || v.AbsoluteExpiresAt != nil {
			t.Fatalf("idleExpiresAt %v expiresAt %v absoluteExpiresAt %v, want %v, %v, null", v.IdleExpiresAt, v.ExpiresAt, v.AbsoluteExpiresAt, want, want)
		}
	})

	t.Run("a request after the idle timeout is refused with IDLE_TIMEOUT", func(t *testing.T) {
		clk.Advance(31 * time.Minute)
		requireEnded(t, s, ses.Token, "IDLE_TIMEOUT")
		v := requireReason(t, s, w.MemberID, ses.ID, "IDLE_TIMEOUT")
		if v.EndedAt.Before(t0.Add(30 * time.Minute)) {
			t.Fatalf("endedAt %v is before the idle deadline %v", v.EndedAt, t0.Add(30*time.Minute))
		}
	})
}

func TestForceRelogin(t *testing.T) {
	s, clk := startFake(t)
	w := s.NewWorkspace("relogin")
	setPolicy(t, s, w.TenantID, relogin(1, "HOURS"))
	ses := s.CreateSession(w.MemberID, w.TenantID)
	deadline := t0.Add(time.Hour)

	t.Run("activity does not move the absolute deadline", func(t *testing.T) {
		for i := 1; i <= 2; i++ {
			clk.Advance(20 * time.Minute)
			now := t0.Add(time.Duration(i) * 20 * time.Minute)
			v := requireLive(t, s, ses.Token)
			if !v.LastActiveAt.Equal(now) || !v.IdleExpiresAt.Equal(now.Add(24*time.Hour)) {
				t.Fatalf("at +%d min: lastActiveAt %v idleExpiresAt %v, want %v and 24 h later", i*20, v.LastActiveAt, v.IdleExpiresAt, now)
			}
			if v.AbsoluteExpiresAt == nil || !v.AbsoluteExpiresAt.Equal(deadline) || !v.ExpiresAt.Equal(deadline) {
				t.Fatalf("at +%d min: absoluteExpiresAt %v expiresAt %v, want both %v", i*20, v.AbsoluteExpiresAt, v.ExpiresAt, deadline)
			}
		}
	})

	t.Run("an active session ends with FORCE_RELOGIN at the deadline", func(t *testing.T) {
		clk.Advance(20 * time.Minute)
		requireEnded(t, s, ses.Token, "FORCE_RELOGIN")
		requireReason(t, s, w.MemberID, ses.ID, "FORCE_RELOGIN")
	})
}

func TestExpiryScheduler(t *testing.T) {
	t.Run("an idle session ends without any request", func(t *testing.T) {
		s, clk := startFake(t)
		w := s.NewWorkspace("sched")
		setPolicy(t, s, w.TenantID, idle(30, "MINUTES"))
		ses := s.CreateSession(w.MemberID, w.TenantID)
		clk.Advance(20 * time.Minute)
		later := s.CreateSession(w.AdminID, w.TenantID) // due at +50 min
		clk.Advance(11 * time.Minute)

		v := waitForEnd(t, s, w.MemberID, ses.ID)
		if v.reason() != "IDLE_TIMEOUT" || v.Active {
			t.Fatalf("endReason %q active %v, want IDLE_TIMEOUT and inactive", v.reason(), v.Active)
		}
		// Only what is due ends.
		requireActive(t, s, w.AdminID, later.ID)
		// The end is recorded as the system's.
		var found bool
		for _, e := range auditOf(t, s, w.TenantID) {
			if e.Action == "session.ended" && e.TargetID == ses.ID {
				found = true
				if e.Actor.Kind != "SYSTEM" || auditJSON(t, e.After)["endReason"] != "IDLE_TIMEOUT" {
					t.Fatalf("audit entry actor %s after %v, want SYSTEM and endReason IDLE_TIMEOUT", e.Actor.Kind, auditJSON(t, e.After))
				}
			}
		}
		if !found {
			t.Fatal("no session.ended audit entry for the expired session")
		}
		requireEnded(t, s, ses.Token, "IDLE_TIMEOUT")

		// The scheduler goes on to the next deadline.
		clk.Advance(20 * time.Minute)
		if v := waitForEnd(t, s, w.AdminID, later.ID); v.reason() != "IDLE_TIMEOUT" {
			t.Fatalf("second session ended with %q, want IDLE_TIMEOUT", v.reason())
		}
	})

	t.Run("a session ends with FORCE_RELOGIN without any request", func(t *testing.T) {
		s, clk := startFake(t)
		w := s.NewWorkspace("schedrelogin")
		setPolicy(t, s, w.TenantID, relogin(1, "HOURS"))
		ses := s.CreateSession(w.MemberID, w.TenantID)
		clk.Advance(61 * time.Minute)
		if v := waitForEnd(t, s, w.MemberID, ses.ID); v.reason() != "FORCE_RELOGIN" {
			t.Fatalf("endReason %q, want FORCE_RELOGIN", v.reason())
		}
	})
}

func TestActivityWithinIdleTimeoutNeverEndsSession(t *testing.T) {
	s, clk := startFake(t)
	w := s.NewWorkspace("invariant")
	setPolicy(t, s, w.TenantID, idle(30, "MINUTES"))
	kept := s.CreateSession(w.MemberID, w.TenantID)
	unused := s.CreateSession(w.AdminID, w.TenantID) // shows the timeout is in force

	const step = 29 * time.Minute
	var elapsed time.Duration
	for elapsed+step <= 3*time.Hour {
		clk.Advance(step)
		elapsed += step
		v := requireLive(t, s, kept.Token)
		if now := t0.Add(elapsed); !v.LastActiveAt.Equal(now) || !v.IdleExpiresAt.Equal(now.Add(30*time.Minute)) {
			t.Fatalf("at +%v: lastActiveAt %v idleExpiresAt %v, want %v and 30 min later", elapsed, v.LastActiveAt, v.IdleExpiresAt, now)
		}
	}
	if v := waitForEnd(t, s, w.AdminID, unused.ID); v.reason() != "IDLE_TIMEOUT" {
		t.Fatalf("the unused session ended with %q, want IDLE_TIMEOUT", v.reason())
	}
	requireActive(t, s, w.MemberID, kept.ID)
	for _, e := range auditOf(t, s, w.TenantID) {
		if e.Action == "session.ended" && e.TargetID == kept.ID {
			t.Fatalf("the session kept active has an end recorded: %v", auditJSON(t, e.After))
		}
	}
}

func TestExpiryResumesAfterRestart(t *testing.T) {
	s1, clk := startFake(t)
	w := s1.NewWorkspace("restart")
	setPolicy(t, s1, w.TenantID, idle(30, "MINUTES"))
	idleSes := s1.CreateSession(w.MemberID, w.TenantID)
	activeSes := s1.CreateSession(w.AdminID, w.TenantID)
	clk.Advance(10 * time.Minute)
	requireLive(t, s1, activeSes.Token) // activity at +10 min, still in memory
	stop(t, s1)

	clk.Advance(21 * time.Minute) // +31 min: idleSes is past its deadline, nobody runs
	s2 := graphtest.Start(t, graphtest.WithClock(clk), graphtest.WithDatabase(s1.DBPath))

	t.Run("a session that fell due while down ends at start", func(t *testing.T) {
		if v := waitForEnd(t, s2, w.MemberID, idleSes.ID); v.reason() != "IDLE_TIMEOUT" {
			t.Fatalf("endReason %q, want IDLE_TIMEOUT", v.reason())
		}
		requireEnded(t, s2, idleSes.Token, "IDLE_TIMEOUT")
	})

	t.Run("activity recorded before shutdown was kept", func(t *testing.T) {
		v := requireActive(t, s2, w.AdminID, activeSes.ID)
		if at := t0.Add(10 * time.Minute); !v.LastActiveAt.Equal(at) || !v.ExpiresAt.Equal(at.Add(30*time.Minute)) {
			t.Fatalf("lastActiveAt %v expiresAt %v, want %v and 30 min later", v.LastActiveAt, v.ExpiresAt, at)
		}
	})

	t.Run("the restarted scheduler ends the next session on its deadline", func(t *testing.T) {
		clk.Advance(10 * time.Minute) // +41 min
		if v := waitForEnd(t, s2, w.AdminID, activeSes.ID); v.reason() != "IDLE_TIMEOUT" {
			t.Fatalf("endReason %q, want IDLE_TIMEOUT", v.reason())
		}
	})
}

// stop shuts a test server down before the end of the test, as a process
// exit would: connections closed, workers stopped, pending activity flushed.
func stop(t *testing.T, s *graphtest.Server) {
	t.Helper()
	s.HTTP.CloseClientConnections()
	s.HTTP.Close()
	if err := s.App.Close(); err != nil {
		t.Fatalf("close app: %v", err)
	}
}
