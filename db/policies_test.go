package db_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
)

func TestPolicyChangeRecomputesDeadlines(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tn := e.tenant(t, "recompute")
		other := e.tenant(t, "other")
		u := e.user(t, tn, "recompute@example.com")
		if _, err := e.SetUserRoles(ctx, e.admin, u, other, nil); err != nil {
			t.Fatal(err)
		}
		s, _ := e.session(t, u, tn)
		o, _ := e.session(t, u, other)
		e.Clock.Advance(10 * time.Minute)

		t.Run("a tenant's change moves its sessions' deadlines only", func(t *testing.T) {
			ch := e.setPolicy(t, tn, policy.Input{Idle: minutes(30), Relogin: minutes(60)})
			if len(ch.Ended) != 0 {
				t.Fatalf("ended %v", ids(ch.Ended))
			}
			got := e.get(t, s.ID)
			if !got.IdleExpiresAt.Equal(t0.Add(30*time.Minute)) || got.AbsoluteExpiresAt == nil || !got.AbsoluteExpiresAt.Equal(t0.Add(time.Hour)) ||
				!got.ExpiresAt.Equal(t0.Add(30*time.Minute)) || got.IdleTimeout != 30*time.Minute {
				t.Fatalf("deadlines idle %v abs %v expires %v timeout %v, want t0+30m, t0+1h, t0+30m, 30m", got.IdleExpiresAt, got.AbsoluteExpiresAt, got.ExpiresAt, got.IdleTimeout)
			}
			if g := e.get(t, o.ID); !g.ExpiresAt.Equal(o.ExpiresAt) {
				t.Fatalf("the other tenant's session moved from %v to %v", o.ExpiresAt, g.ExpiresAt)
			}
		})

		t.Run("the environment's change reaches tenants without their own setting", func(t *testing.T) {
			e.setPolicy(t, policy.EnvironmentScope, policy.Input{Idle: minutes(45)})
			if g := e.get(t, o.ID); !g.ExpiresAt.Equal(t0.Add(45 * time.Minute)) {
				t.Fatalf("other tenant's session expires %v, want t0+45m", g.ExpiresAt)
			}
			if g := e.get(t, s.ID); !g.ExpiresAt.Equal(t0.Add(30 * time.Minute)) {
				t.Fatalf("the overriding tenant's session expires %v, want t0+30m", g.ExpiresAt)
			}
		})

		t.Run("a stricter policy ends what it must, now", func(t *testing.T) {
			ch := e.setPolicy(t, tn, policy.Input{Idle: minutes(5)})
			if len(ch.Ended) != 1 || ch.Ended[0].ID != s.ID || ch.Ended[0].EndReason != model.EndIdleTimeout || !ch.Ended[0].EndedAt.Equal(e.Clock.Now()) {
				t.Fatalf("ended %+v, want %s with IDLE_TIMEOUT at %v", ch.Ended, s.ID, e.Clock.Now())
			}
		})

		t.Run("a session already past its old deadline ends at that deadline", func(t *testing.T) {
			s2, _ := e.session(t, u, other) // due at now+45m
			e.Clock.Advance(50 * time.Minute)
			ch := e.setPolicy(t, other, policy.Input{Idle: minutes(40)})
			var found bool
			for _, x := range ch.Ended {
				if x.ID == s2.ID {
					found = true
					if x.EndReason != model.EndIdleTimeout || !x.EndedAt.Equal(s2.ExpiresAt) {
						t.Fatalf("ended %s at %v, want IDLE_TIMEOUT at the old deadline %v", x.EndReason, x.EndedAt, s2.ExpiresAt)
					}
				}
			}
			if !found {
				t.Fatalf("ended %v, want %s among them", ids(ch.Ended), s2.ID)
			}
		})

		t.Run("a lower limit ends the oldest", func(t *testing.T) {
			tn3 := e.tenant(t, "limit")
			u3 := e.user(t, tn3, "limit@example.com")
			var made []model.Session
			for range 3 {
				s, _ := e.session(t, u3, tn3)
				made = append(made, s)
				e.Clock.Advance(time.Second)
			}
			ch := e.setPolicy(t, tn3, policy.Input{MaxSessions: limit(1)})
			if len(ch.Ended) != 2 {
				t.Fatalf("ended %v, want the two oldest", ids(ch.Ended))
			}
			for _, x := range ch.Ended {
				if x.ID == made[2].ID || x.EndReason != model.EndConcurrentSessionLimit {
					t.Fatalf("ended %s with %s, want the oldest with CONCURRENT_SESSION_LIMIT", x.ID, x.EndReason)
				}
			}
		})
	})
}

// TestLockOrder races a membership removal, policy changes of the tenant
// and the environment, and logins of the removed user: none deadlocks,
// and afterwards the user has no live session there.
func TestLockOrder(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		for round := range 5 {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			tn := e.tenant(t, "locks")
			u := e.user(t, tn, "locks"+string(rune('a'+round))+"@example.com")
			e.session(t, u, tn)
			var wg sync.WaitGroup
			errs := make(chan error, 32)
			wg.Go(func() {
				if _, err := e.RemoveMembership(ctx, e.admin, u, tn, time.Time{}); err != nil {
					errs <- err
				}
			})
			for i := range 2 {
				wg.Go(func() {
					scope := tn
					if i == 1 {
						scope = policy.EnvironmentScope
					}
					_, err := e.UpdatePolicy(ctx, e.admin, scope, func(o policy.Overrides) policy.Overrides {
						return policy.Apply(o, policy.Input{Idle: minutes(20 + round), MaxSessions: limit(2)})
					}, planPolicy)
					if err != nil {
						errs <- err
					}
				})
			}
			for range 4 {
				wg.Go(func() {
					_, _, err := e.CreateSession(ctx, e.admin, u, tn, planSession)
					if err != nil && apperr.CodeOf(err) != apperr.NotFound {
						errs <- err
					}
				})
			}
			wg.Wait()
			cancel()
			close(errs)
			for err := range errs {
				if errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("round %d: deadlocked", round)
				}
				t.Fatalf("round %d: %v", round, err)
			}
			live, err := e.CountActiveSessions(context.Background(), []string{u}, tn)
			if err != nil {
				t.Fatal(err)
			}
			if live[u] != 0 {
				t.Fatalf("round %d: %d live sessions after the removal", round, live[u])
			}
			all, err := e.Sessions(context.Background(), model.SessionFilter{UserIDs: []string{u}})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range all {
				if s.EndReason != model.EndUserRemoved && s.EndReason != model.EndConcurrentSessionLimit {
					t.Fatalf("round %d: session ended with %q", round, s.EndReason)
				}
			}
		}
	})
}
