package graph_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/clock"
)

// fakeTime drives a server's clock. The expiry scheduler sleeps on a fake
// timer; every move waits until it sleeps again, so that its next sleep is
// measured from the new time and not raced by the test's next move.
type fakeTime struct{ clk *clock.Fake }

// settle waits until the scheduler sleeps on its timer.
func (f fakeTime) settle(t *testing.T) {
	t.Helper()
	waitFor(t, "the expiry scheduler sleeps", func() bool { n, _ := f.clk.Timers(); return n == 1 })
}

// advance moves the clock by d; a timer it fires wakes the scheduler for a
// round, which is over once it sleeps again.
func (f fakeTime) advance(t *testing.T, d time.Duration) {
	t.Helper()
	f.settle(t)
	f.clk.Advance(d)
	f.settle(t)
}

// wakes runs change, which wakes the scheduler (a policy change does), and
// waits until the round it causes is over.
func (f fakeTime) wakes(t *testing.T, change func()) {
	t.Helper()
	f.settle(t)
	_, before := f.clk.Timers()
	change()
	waitFor(t, "the expiry scheduler ran a round and sleeps", func() bool {
		n, set := f.clk.Timers()
		return n == 1 && set > before
	})
}

// wantTime requires an API timestamp to be the instant want.
func wantTime(t *testing.T, what, got string, want time.Time) {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, got)
	if err != nil || !ts.Equal(want) {
		t.Fatalf("want %s %s, got %q", what, want.Format(time.RFC3339Nano), got)
	}
}

const mRecordActivity = `mutation { recordActivity { expiresAt } }`

func TestExpiringSoonAndIdleTimeout(t *testing.T) {
	t0 := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	ft := fakeTime{clk}
	s := graphtest.Start(t, graphtest.WithClock(clk))
	w := s.NewWorkspace("expiry")
	ft.wakes(t, func() {
		s.Admin(mSetPolicy, map[string]any{"t": w.TenantID, "in": map[string]any{
			"idleTimeout": map[string]any{"enabled": true, "duration": map[string]any{"value": 30, "unit": "MINUTES"}},
		}}, nil)
	})

	// The session under test idles out at t0+30m; EXPIRING_SOON is due
	// from t0+28m. A probe session of the same user, 90 s younger, is
	// warned from t0+29m30s: its warning proves that the scheduler ran a
	// round in between, so that a second warning for the first session's
	// deadline would have come before it.
	ses := s.CreateSession(w.MemberID, w.TenantID)
	ft.advance(t, 90*time.Second)
	probe := s.CreateSession(w.MemberID, w.TenantID)

	ws := connect(t, s, bearerInit(ses.Token))
	ws.subscribe("events", subOwnEvents, nil)
	ws.subscribe("end", subTerminated, nil)
	waitSubscribers(t, s, 3)
	var out eventsOut
	// Each step builds on the one before: stop at the first that fails.
	step := func(name string, f func(t *testing.T, ws *wsClient)) {
		if !t.Run(name, func(t *testing.T) { f(t, ws.in(t)) }) {
			t.FailNow()
		}
	}

	step("EXPIRING_SOON comes once the deadline is within 2 minutes", func(t *testing.T, ws *wsClient) {
		ft.advance(t, 27*time.Minute+30*time.Second) // t0+29m
		ws.next("events", &out)
		wantEvent(t, out.SessionEvents, "EXPIRING_SOON", ses.ID, "")
		wantTime(t, "expiresAt", out.SessionEvents.Session.ExpiresAt, t0.Add(30*time.Minute))
		wantTime(t, "at", out.SessionEvents.At, t0.Add(29*time.Minute))
	})

	step("no second EXPIRING_SOON for the same deadline", func(t *testing.T, ws *wsClient) {
		ft.advance(t, 45*time.Second) // t0+29m45s
		ws.next("events", &out)
		wantEvent(t, out.SessionEvents, "EXPIRING_SOON", probe.ID, "")
		wantTime(t, "expiresAt", out.SessionEvents.Session.ExpiresAt, t0.Add(31*time.Minute+30*time.Second))
	})

	deadline := t0.Add(29*time.Minute + 45*time.Second + 30*time.Minute)
	step("recordActivity moves the deadline and re-arms EXPIRING_SOON", func(t *testing.T, ws *wsClient) {
		var rec struct{ RecordActivity struct{ ExpiresAt string } }
		userDo(t, s, ses.Token, mRecordActivity, nil, &rec)
		wantTime(t, "expiresAt after recordActivity", rec.RecordActivity.ExpiresAt, deadline)

		ft.advance(t, 29*time.Minute) // t0+58m45s: past the probe's deadline, 1 min before the new one
		ws.next("events", &out)
		wantEvent(t, out.SessionEvents, "TERMINATED", probe.ID, "IDLE_TIMEOUT")
		ws.next("events", &out)
		wantEvent(t, out.SessionEvents, "EXPIRING_SOON", ses.ID, "")
		wantTime(t, "expiresAt", out.SessionEvents.Session.ExpiresAt, deadline)
	})

	step("recordActivity in answer to the new warning keeps the session", func(t *testing.T, ws *wsClient) {
		var rec struct{ RecordActivity struct{ ExpiresAt string } }
		userDo(t, s, ses.Token, mRecordActivity, nil, &rec)
		deadline = clk.Now().Add(30 * time.Minute)
		wantTime(t, "expiresAt after recordActivity", rec.RecordActivity.ExpiresAt, deadline)
	})

	step("past the deadline TERMINATED IDLE_TIMEOUT is pushed to both subscriptions", func(t *testing.T, ws *wsClient) {
		ft.advance(t, deadline.Sub(clk.Now())+time.Second)
		// The two operations' messages may interleave; each must be its
		// result, then complete.
		got := map[string][]wsMsg{}
		for range 4 {
			m, err := ws.read()
			if err != nil {
				t.Fatalf("want the results of both subscriptions, got %v after %v", err, got)
			}
			got[m.ID] = append(got[m.ID], m)
		}
		for _, id := range []string{"events", "end"} {
			if len(got[id]) != 2 || got[id][0].Type != "next" || got[id][1].Type != "complete" {
				t.Fatalf("want next then complete for %q, got %+v", id, got[id])
			}
		}
		var ev struct{ Data eventsOut }
		decodeMsg(t, got["events"][0], &ev)
		wantEvent(t, ev.Data.SessionEvents, "TERMINATED", ses.ID, "IDLE_TIMEOUT")
		var term struct{ Data terminatedOut }
		decodeMsg(t, got["end"][0], &term)
		if r := str(term.Data.SessionTerminated.EndReason); term.Data.SessionTerminated.ID != ses.ID || r != "IDLE_TIMEOUT" {
			t.Fatalf("want sessionTerminated of %s with IDLE_TIMEOUT, got %s with %s", ses.ID, term.Data.SessionTerminated.ID, r)
		}
		ws.closed(closeSessionEnded, "session ended: IDLE_TIMEOUT")
	})
}

func TestExpiringSoonWithAShortIdleTimeoutWaitsForHalfOfIt(t *testing.T) {
	t0 := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	ft := fakeTime{clk}
	s := graphtest.Start(t, graphtest.WithClock(clk))
	w := s.NewWorkspace("short-idle")
	// Idle 1 minute is shorter than the 2-minute lead: the warning comes
	// 30 s before the deadline, not the moment the session starts.
	ft.wakes(t, func() {
		s.Admin(mSetPolicy, map[string]any{"t": w.TenantID, "in": map[string]any{
			"idleTimeout": map[string]any{"enabled": true, "duration": map[string]any{"value": 1, "unit": "MINUTES"}},
		}}, nil)
	})
	watcher := s.CreateSession(w.AdminID, w.TenantID)
	ws := connect(t, s, bearerInit(watcher.Token))
	ws.subscribe("events", subUserEvents, map[string]any{"u": w.MemberID})
	waitSubscribers(t, s, 2)

	var first, second graphtest.Session
	first = s.CreateSession(w.MemberID, w.TenantID) // due as the watcher: no earlier wake-up
	var out eventsOut
	ws.next("events", &out)
	wantEvent(t, out.SessionEvents, "CREATED", first.ID, "")

	ft.advance(t, 29*time.Second)
	s.MustDo(graphtest.Request{Query: mRecordActivity, Token: watcher.Token}, nil) // keep the watcher alive
	// Nothing for the first session yet: the next event is the second's CREATED.
	second = s.CreateSession(w.MemberID, w.TenantID)
	ws.next("events", &out)
	wantEvent(t, out.SessionEvents, "CREATED", second.ID, "")

	ft.advance(t, 2*time.Second) // t0+31s: past half of the idle timeout
	ws.next("events", &out)
	wantEvent(t, out.SessionEvents, "EXPIRING_SOON", first.ID, "")
}
