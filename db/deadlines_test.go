package db_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
	"github.com/sessiond/sessiond/internal/secret"
)

func ids(ss []model.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

func TestDueSessions(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tn := e.tenant(t, "due")
		u := e.user(t, tn, "due@example.com")
		e.setPolicy(t, tn, policy.Input{Idle: minutes(30)})
		s1, _ := e.session(t, u, tn) // due t0+30m
		e.Clock.Advance(5 * time.Minute)
		s2, _ := e.session(t, u, tn) // due t0+35m
		e.Clock.Advance(15 * time.Minute)
		s3, _ := e.session(t, u, tn) // due t0+50m

		t.Run("the next deadline is the earliest of the active sessions", func(t *testing.T) {
			next, ok, err := e.NextDeadline(ctx)
			if err != nil || !ok || !next.Equal(t0.Add(30*time.Minute)) {
				t.Fatalf("NextDeadline = %v, %v, %v; want %v", next, ok, err, t0.Add(30*time.Minute))
			}
		})
		e.Clock.Advance(20 * time.Minute) // t0+40m
		now := e.Clock.Now()

		t.Run("only sessions past their deadline are due, earliest first, up to the limit", func(t *testing.T) {
			due, err := e.DueSessions(ctx, now, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(ids(due)); got != fmt.Sprint([]string{s1.ID, s2.ID}) {
				t.Fatalf("due %v, want [%s %s]", got, s1.ID, s2.ID)
			}
			if due, _ := e.DueSessions(ctx, now, 1); len(due) != 1 || due[0].ID != s1.ID {
				t.Fatalf("due with limit 1 = %v, want [%s]", ids(due), s1.ID)
			}
		})

		t.Run("activity written after the selection keeps a session alive", func(t *testing.T) {
			if err := e.TouchSessions(ctx, map[string]time.Time{s2.ID: now.Add(-time.Minute)}); err != nil {
				t.Fatal(err)
			}
			ended, err := e.EndDueSessions(ctx, []string{s1.ID, s2.ID, s3.ID}, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(ended) != 1 || ended[0].ID != s1.ID {
				t.Fatalf("ended %v, want only %s", ids(ended), s1.ID)
			}
			got := e.get(t, s1.ID)
			if got.EndReason != model.EndIdleTimeout || !got.EndedAt.Equal(t0.Add(30*time.Minute)) || got.EndedBy == nil || got.EndedBy.Kind != model.ActorSystem {
				t.Fatalf("s1 ended %v at %v by %+v, want IDLE_TIMEOUT at its deadline by the system", got.EndReason, got.EndedAt, got.EndedBy)
			}
			if s := e.get(t, s2.ID); s.Ended() || !s.ExpiresAt.Equal(now.Add(29*time.Minute)) {
				t.Fatalf("s2 ended %v expires %v, want alive until %v", s.EndedAt, s.ExpiresAt, now.Add(29*time.Minute))
			}
			if s := e.get(t, s3.ID); s.Ended() {
				t.Fatal("s3 is not due but ended")
			}
		})

		t.Run("an ended session is never due again", func(t *testing.T) {
			due, _ := e.DueSessions(ctx, now.Add(time.Hour), 10)
			for _, d := range due {
				if d.ID == s1.ID {
					t.Fatal("the ended session is due again")
				}
			}
			if again, _ := e.EndDueSessions(ctx, []string{s1.ID}, now.Add(time.Hour)); len(again) != 0 {
				t.Fatalf("ended again: %v", ids(again))
			}
		})

		t.Run("the end is found by when it was written", func(t *testing.T) {
			since, err := e.SessionsEndedSince(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(since) != 1 || since[0].ID != s1.ID {
				t.Fatalf("ended since %v: %v, want [%s] (it ended at %v, written at %v)", now, ids(since), s1.ID, t0.Add(30*time.Minute), now)
			}
		})
	})
}

// TestDueReasonAndTime is a property test: for random idle and absolute
// deadlines, a due session ends at its deadline with policy.DueReason's
// reason.
func TestDueReasonAndTime(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tn := e.tenant(t, "reason")
		u := e.user(t, tn, "reason@example.com")
		rng := rand.New(rand.NewPCG(1, 2))
		var seed []model.Session
		for i := range 60 {
			created := t0.Add(-time.Duration(rng.IntN(600)) * time.Minute)
			idle := created.Add(time.Duration(1+rng.IntN(300)) * time.Minute)
			s := model.Session{ID: fmt.Sprintf("r%03d", i), TokenHash: secret.HashToken(secret.NewToken("sds_")), UserID: u, TenantID: tn,
				CreatedAt: created, LastActiveAt: created, IdleExpiresAt: idle, ExpiresAt: idle, IdleTimeout: idle.Sub(created)}
			if rng.IntN(3) > 0 {
				abs := created.Add(time.Duration(1+rng.IntN(300)) * time.Minute)
				if rng.IntN(5) == 0 {
					abs = idle // a tie
				}
				s.AbsoluteExpiresAt = &abs
				if abs.Before(idle) {
					s.ExpiresAt = abs
				}
			}
			seed = append(seed, s)
		}
		if err := e.ImportSessions(ctx, seed); err != nil {
			t.Fatal(err)
		}
		ended, err := e.EndDueSessions(ctx, ids(seed), t0)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]model.Session{}
		for _, s := range ended {
			got[s.ID] = s
		}
		for _, s := range seed {
			g, ok := got[s.ID]
			if due := !s.ExpiresAt.After(t0); due != ok {
				t.Fatalf("session %s with deadline %v: ended %v, want %v", s.ID, s.ExpiresAt, ok, due)
			}
			if !ok {
				continue
			}
			if want := policy.DueReason(s.IdleExpiresAt, s.AbsoluteExpiresAt); g.EndReason != want || !g.EndedAt.Equal(s.ExpiresAt) {
				t.Fatalf("session %s (idle %v, absolute %v) ended %s at %v, want %s at %v", s.ID, s.IdleExpiresAt, s.AbsoluteExpiresAt, g.EndReason, g.EndedAt, want, s.ExpiresAt)
			}
		}
	})
}

// TestTouchFollowsPolicyDeadlines is a property test: after random
// activity, a session's stored deadlines are what the pure policy code
// computes from its creation and latest activity.
func TestTouchFollowsPolicyDeadlines(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tn := e.tenant(t, "touch")
		u := e.user(t, tn, "touch@example.com")
		rng := rand.New(rand.NewPCG(7, 11))
		for i := range 40 {
			in := policy.Overrides{Idle: minutes(1 + rng.IntN(600))}
			if rng.IntN(2) == 0 {
				in.Relogin = minutes(1 + rng.IntN(900))
			}
			eff := policy.Resolve(in, policy.Overrides{})
			created := t0.Add(time.Duration(rng.IntN(1000)) * time.Second)
			plan := policy.PlanSession(eff, model.Session{ID: fmt.Sprintf("t%03d", i), TokenHash: secret.HashToken(secret.NewToken("sds_")), UserID: u, TenantID: tn}, created)
			if err := e.ImportSessions(ctx, []model.Session{plan.Session}); err != nil {
				t.Fatal(err)
			}
			last := created
			for range 1 + rng.IntN(4) {
				at := created.Add(time.Duration(rng.IntN(2000)-200) * time.Second) // sometimes before the last
				if err := e.TouchSessions(ctx, map[string]time.Time{plan.Session.ID: at}); err != nil {
					t.Fatal(err)
				}
				if at.After(last) {
					last = at
				}
				got := e.get(t, plan.Session.ID)
				idle, abs, exp := eff.Deadlines(created, last)
				if !got.LastActiveAt.Equal(last) || !got.IdleExpiresAt.Equal(idle) || !got.ExpiresAt.Equal(exp) || fmt.Sprint(got.AbsoluteExpiresAt) != fmt.Sprint(abs) {
					t.Fatalf("policy %+v, created %v, touched at %v: stored last %v idle %v abs %v expires %v; want %v %v %v %v",
						in, created, at, got.LastActiveAt, got.IdleExpiresAt, got.AbsoluteExpiresAt, got.ExpiresAt, last, idle, abs, exp)
				}
				if want := plan.Session.WithActivity(last); !want.ExpiresAt.Equal(got.ExpiresAt) {
					t.Fatalf("model.WithActivity says %v, the store %v", want.ExpiresAt, got.ExpiresAt)
				}
			}
		}
		t.Run("an ended session is never touched", func(t *testing.T) {
			s, _ := e.session(t, u, tn)
			if _, err := e.EndSessions(ctx, []model.SessionEnd{{ID: s.ID, Reason: model.EndLogout}}, e.admin, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if err := e.TouchSessions(ctx, map[string]time.Time{s.ID: e.Clock.Now().Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			if got := e.get(t, s.ID); !got.LastActiveAt.Equal(s.LastActiveAt) {
				t.Fatalf("ended session touched: last active %v, was %v", got.LastActiveAt, s.LastActiveAt)
			}
		})
	})
}

func TestWarnedOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tn := e.tenant(t, "warn")
		u := e.user(t, tn, "warn@example.com")
		e.setPolicy(t, tn, policy.Input{Idle: minutes(30)})
		const lead = 2 * time.Minute
		s, _ := e.session(t, u, tn)

		next, ok, err := e.NextWarning(ctx, lead)
		if err != nil || !ok || !next.Equal(t0.Add(28*time.Minute)) {
			t.Fatalf("NextWarning = %v %v %v, want %v", next, ok, err, t0.Add(28*time.Minute))
		}
		if w, _ := e.MarkWarned(ctx, t0.Add(27*time.Minute), lead, 10); len(w) != 0 {
			t.Fatalf("warned before the warning time: %v", ids(w))
		}
		t.Run("racing claims warn once", func(t *testing.T) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			total := 0
			for range 4 {
				wg.Go(func() {
					w, err := e.MarkWarned(ctx, t0.Add(28*time.Minute), lead, 10)
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					total += len(w)
					mu.Unlock()
				})
			}
			wg.Wait()
			if total != 1 {
				t.Fatalf("%d warnings claimed, want 1", total)
			}
			if w, _ := e.MarkWarned(ctx, t0.Add(29*time.Minute), lead, 10); len(w) != 0 {
				t.Fatalf("warned twice about one deadline: %v", ids(w))
			}
			if _, ok, _ := e.NextWarning(ctx, lead); ok {
				t.Fatal("a warning is still due after the claim")
			}
		})
		t.Run("activity moves the deadline and re-arms the warning", func(t *testing.T) {
			if err := e.TouchSessions(ctx, map[string]time.Time{s.ID: t0.Add(29 * time.Minute)}); err != nil {
				t.Fatal(err)
			}
			if next, ok, _ := e.NextWarning(ctx, lead); !ok || !next.Equal(t0.Add(57*time.Minute)) {
				t.Fatalf("NextWarning = %v %v, want %v", next, ok, t0.Add(57*time.Minute))
			}
			if w, _ := e.MarkWarned(ctx, t0.Add(57*time.Minute), lead, 10); len(w) != 1 || w[0].ID != s.ID {
				t.Fatalf("warned %v, want the session once more", ids(w))
			}
		})
		t.Run("a short idle timeout is warned at half of it", func(t *testing.T) {
			tn2 := e.tenant(t, "short")
			u2 := e.user(t, tn2, "short@example.com")
			e.setPolicy(t, tn2, policy.Input{Idle: minutes(2)})
			s2, _ := e.session(t, u2, tn2)
			if w, _ := e.MarkWarned(ctx, s2.CreatedAt.Add(59*time.Second), lead, 10); len(w) != 0 {
				t.Fatalf("warned before half the timeout: %v", ids(w))
			}
			if w, _ := e.MarkWarned(ctx, s2.CreatedAt.Add(time.Minute), lead, 10); len(w) != 1 || w[0].ID != s2.ID {
				t.Fatalf("warned %v at half the timeout, want [%s]", ids(w), s2.ID)
			}
		})
		t.Run("an ended session is not warned", func(t *testing.T) {
			s3, _ := e.session(t, u, tn)
			if _, err := e.EndSessions(ctx, []model.SessionEnd{{ID: s3.ID, Reason: model.EndLogout}}, e.admin, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if w, _ := e.MarkWarned(ctx, s3.ExpiresAt, lead, 10); len(w) != 0 {
				t.Fatalf("warned %v", ids(w))
			}
		})
	})
}
