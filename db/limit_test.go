package db_test

import (
	"context"
	"strings"
	"testing"
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
			got := strings.Join(plan, "; ")
			if !strings.Contains(got, "sessions_user_live_idx") || strings.Contains(got, "TEMP B-TREE") {
				t.Fatalf("query plan %q: want a walk of sessions_user_live_idx without sorting", got)
			}
		})
	}
}
