package db_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
	"github.com/sessiond/sessiond/internal/secret"
)

// BenchmarkCreateSession measures one session creation of a user who holds
// 1 or 10 000 live sessions in the tenant without a concurrency limit, and
// below or at a limit (at the limit each creation ends the oldest). The
// limit's work is one indexed query that reads limit+1 index entries, so
// the cost does not grow with the user's sessions (at most with the limit,
// 1 000 at most).
//
//	go test ./db -run '^$' -bench BenchmarkCreateSession -benchtime 2000x
func BenchmarkCreateSession(b *testing.B) {
	for _, dialect := range dialects() {
		for _, c := range []struct {
			name  string
			live  int
			limit int
		}{
			{"live=1/no-limit", 1, 0},
			{"live=10000/no-limit", 10_000, 0},
			{"live=1/limit=10", 1, 10},
			{"live=10/limit=10", 10, 10},
			{"live=1000/limit=1000", 1000, 1000},
		} {
			b.Run(dialect+"/"+c.name, func(b *testing.B) {
				e := openEnv(b, dialect)
				ctx := context.Background()
				tn := e.tenant(b, "bench")
				u := e.user(b, tn, "bench@example.com")
				if c.limit > 0 {
					e.setPolicy(b, tn, policy.Input{MaxSessions: limit(c.limit)})
				}
				seed := make([]model.Session, c.live)
				for i := range seed {
					at := t0.Add(-time.Duration(c.live-i) * time.Second)
					seed[i] = model.Session{
						ID: fmt.Sprintf("seed-%06d", i), TokenHash: secret.HashToken(secret.NewToken("sds_")), UserID: u, TenantID: tn,
						CreatedAt: at, LastActiveAt: at, IdleExpiresAt: at.Add(24 * time.Hour), ExpiresAt: at.Add(24 * time.Hour), IdleTimeout: 24 * time.Hour,
					}
				}
				if err := e.ImportSessions(ctx, seed); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for b.Loop() {
					if _, _, err := e.CreateSession(ctx, e.admin, u, tn, planSession); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				n, err := e.CountActiveSessions(ctx, []string{u}, tn)
				if err != nil {
					b.Fatal(err)
				}
				if c.limit > 0 && n[u] > c.limit {
					b.Fatalf("%d live sessions, limit %d", n[u], c.limit)
				}
			})
		}
	}
}

// BenchmarkEndSessionOutbox measures ending one session with no webhook
// endpoint and with one that receives session.ended: the difference is the
// outbox row written in the end's transaction (the endpoints read, the
// payload encoded, one INSERT). Delivery is not part of it.
//
//	go test ./db -run '^$' -bench BenchmarkEndSessionOutbox -benchtime 3000x
func BenchmarkEndSessionOutbox(b *testing.B) {
	for _, dialect := range dialects() {
		for _, endpoints := range []int{0, 1, 5} {
			for _, clients := range []int{1, 8} {
				b.Run(fmt.Sprintf("%s/endpoints=%d/clients=%d", dialect, endpoints, clients), func(b *testing.B) {
					e := openEnv(b, dialect)
					ctx := context.Background()
					tn := e.tenant(b, "bench")
					u := e.user(b, tn, "bench@example.com")
					for i := range endpoints {
						e.endpoint(b, fmt.Sprintf("ep%d", i))
					}
					ids := make([]string, b.N)
					seed := make([]model.Session, b.N)
					for i := range seed {
						ids[i] = fmt.Sprintf("s-%07d", i)
						seed[i] = model.Session{
							ID: ids[i], TokenHash: secret.HashToken(secret.NewToken("sds_")), UserID: u, TenantID: tn,
							CreatedAt: t0, LastActiveAt: t0, IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(time.Hour), IdleTimeout: time.Hour,
						}
					}
					if err := e.ImportSessions(ctx, seed); err != nil {
						b.Fatal(err)
					}
					// clients concurrent callers: on SQLite their ends share
					// commits (DB.tx), as a busy server's do.
					var next atomic.Int64
					var wg sync.WaitGroup
					cpu0 := cpuTime()
					b.ResetTimer()
					for range clients {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
								if _, err := e.EndSessions(ctx, []model.SessionEnd{{ID: ids[i], Reason: model.EndRevokedByAdmin}}, e.admin, time.Time{}); err != nil {
									b.Error(err)
									return
								}
							}
						}()
					}
					wg.Wait()
					b.StopTimer()
					b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
				})
			}
		}
	}
}
