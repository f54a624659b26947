package graph_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/secret"
)

// Token validation over HTTP keep-alive, against a bare request, with the
// store holding different numbers of sessions. Run with:
//
//	go test -run '^$' -bench TokenValidation -benchtime 3s ./graph/
//
// The figures to compare are ns/op of "bare", "me" and "full" (what a back
// end asks on every request: who, which tenant, which roles and
// permissions) in the same run;
// cmd/loadgen validate measures the same at 32 concurrent clients.
func BenchmarkTokenValidation(b *testing.B) {
	for _, stored := range []int{1_000, 100_000} {
		s := graphtest.Start(b)
		w := s.NewWorkspace(fmt.Sprintf("bench%d", stored))
		token := s.CreateSession(w.MemberID, w.TenantID).Token
		importSessions(b, s, w, stored-1)
		client := s.HTTP.Client()
		run := func(name string, body, token string) {
			b.Run(fmt.Sprintf("%s/sessions=%d", name, stored), func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						req, _ := http.NewRequest(http.MethodPost, s.URL, bytes.NewBufferString(body))
						req.Header.Set("Content-Type", "application/json")
						if token != "" {
							req.Header.Set("Authorization", "Bearer "+token)
						}
						res, err := client.Do(req)
						if err != nil {
							b.Fatal(err)
						}
						_, _ = io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode != http.StatusOK {
							b.Fatalf("status %d", res.StatusCode)
						}
					}
				})
			})
		}
		run("bare", `{"query":"{ __typename }"}`, "")
		run("me", `{"query":"{ me { session { id expiresAt } } }"}`, token)
		run("full", `{"query":"{ me { session { id } user { id email } tenant { id } roles { key } permissions } }"}`, token)
	}
}

// BenchmarkCreateSession measures createSession with the concurrency rule on.
func BenchmarkCreateSession(b *testing.B) {
	s := graphtest.Start(b)
	w := s.NewWorkspace("bench-create")
	s.Admin(`mutation { updateSessionPolicy(input: {maxConcurrentSessions: {enabled: true, maxSessions: 5}}) { terminatedSessions } }`, nil, nil)
	b.ResetTimer()
	for b.Loop() {
		s.CreateSession(w.MemberID, w.TenantID)
	}
}

func importSessions(b *testing.B, s *graphtest.Server, w graphtest.Workspace, n int) {
	b.Helper()
	now := time.Now().UTC()
	exp := now.Add(24 * time.Hour)
	batch := make([]model.Session, 0, n)
	for range n {
		batch = append(batch, model.Session{
			ID: uuid.Must(uuid.NewV7()).String(), TokenHash: secret.HashToken(secret.NewToken(secret.SessionTokenPrefix)),
			UserID: w.AdminID, TenantID: w.TenantID, CreatedAt: now, LastActiveAt: now,
			IdleExpiresAt: exp, ExpiresAt: exp, IdleTimeout: 24 * time.Hour, Device: "Bench",
		})
	}
	if err := s.App.Store.ImportSessions(context.Background(), batch); err != nil {
		b.Fatal(err)
	}
}
