package db_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
)

// TestConcurrencyLimitQueriesUseTheLiveIndex: the concurrency limit's pick
// and the live-session count read sessions_user_live_idx, not every
// session of the user, so their cost does not grow with the user's
// sessions. SQLite's planner is deterministic on an empty table; PostgreSQL
// prefers a sequential scan of small tables, so it is checked on SQLite.
func TestConcurrencyLimitQueriesUseTheLiveIndex(t *testing.T) {
	e := openEnv(t, "sqlite")
	for name, q := range map[string]string{
		"oldest beyond the limit": `SELECT id FROM sessions WHERE user_id = 'u' AND tenant_id = 't' AND ended_at IS NULL AND expires_at > 0 ORDER BY created_at DESC, id DESC LIMIT 9223372036854775807 OFFSET 4`,
		"live count":              `SELECT user_id, count(*) FROM sessions WHERE ended_at IS NULL AND user_id IN ('u') AND tenant_id = 't' GROUP BY user_id`,
	} {
		t.Run(name, func(t *testing.T) {
			got := queryPlan(t, e, q)
			if !strings.Contains(got, "sessions_user_live_idx") || strings.Contains(got, "TEMP B-TREE") {
				t.Fatalf("query plan %q: want a walk of sessions_user_live_idx without sorting", got)
			}
		})
	}
}

// queryPlan is SQLite's EXPLAIN QUERY PLAN of q, its steps joined by "; ".
func queryPlan(t *testing.T, e *env, q string) string {
	t.Helper()
	rows, err := e.Bun().QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}

// TestConcurrencyLimitUnderRacingCreations: logins racing for one user
// never leave more live sessions than the limit at any moment, and those
// that end are the oldest.
func TestConcurrencyLimitUnderRacingCreations(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tn := e.tenant(t, "race")
		u := e.user(t, tn, "race@example.com")
		const max, racers = 3, 12
		e.setPolicy(t, tn, policy.Input{MaxSessions: limit(max)})

		stop := make(chan struct{})
		watcher := make(chan int, 1)
		go func() {
			most := 0
			for {
				select {
				case <-stop:
					watcher <- most
					return
				default:
				}
				n, err := e.CountActiveSessions(ctx, []string{u}, tn)
				if err == nil && n[u] > most {
					most = n[u]
				}
			}
		}()
		var wg sync.WaitGroup
		for range racers {
			wg.Go(func() {
				if _, _, err := e.CreateSession(ctx, e.admin, u, tn, planSession); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		close(stop)
		if most := <-watcher; most > max {
			t.Fatalf("%d live sessions seen at once, limit %d", most, max)
		}
		all, err := e.Sessions(ctx, model.SessionFilter{UserIDs: []string{u}})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != racers {
			t.Fatalf("%d sessions stored, want %d", len(all), racers)
		}
		// Sessions list newest first; ids are time-ordered and made inside
		// the serialised transactions, so the live ones are the first max.
		for i, s := range all {
			if live := i < max; live == s.Ended() || (!live && s.EndReason != model.EndConcurrentSessionLimit) {
				t.Fatalf("session %d of %d (newest first): ended %v with %q; want the %d newest live and the others ended for the limit", i+1, len(all), s.Ended(), s.EndReason, max)
			}
		}
	})
}
