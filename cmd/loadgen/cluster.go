package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/sessiond/sessiond/internal/app"
)

// clusterScenario compares one instance with two on the same PostgreSQL
// database: token validation throughput, and push latency when the revoke
// happens on the same instance as the subscriber or on the other one.
func clusterScenario(args []string) error {
	fs := flag.NewFlagSet("cluster", flag.ExitOnError)
	pg := fs.String("postgres", "", "PostgreSQL URL to create the test database next to (required)")
	clients := fs.Int("clients", 32, "concurrent clients")
	d := fs.Duration("duration", 5*time.Second, "duration of each throughput run")
	samples := fs.Int("samples", 200, "revocations measured per case")
	_ = fs.Parse(args)
	if *pg == "" {
		return fmt.Errorf("-postgres is required")
	}
	ctx := context.Background()
	dsn, drop, err := freshPostgres(*pg)
	if err != nil {
		return err
	}
	defer drop()
	a, err := start(ctx, app.Config{Database: dsn})
	if err != nil {
		return err
	}
	defer a.close()
	b, err := start(ctx, app.Config{Database: dsn, AdminKey: a.key})
	if err != nil {
		return err
	}
	defer b.close()
	tenant, users, err := a.seed(10)
	if err != nil {
		return err
	}
	token, err := a.createSession(users[0], tenant)
	if err != nil {
		return err
	}
	body := []byte(`{"query":"{ me { session { id expiresAt } } }"}`)
	a.load(*clients, time.Second, body, token, nil)
	one := a.load(*clients, *d, body, token, nil)
	// Two instances: the same number of clients, split between them.
	results := make(chan result, 2)
	for _, in := range []*instance{a, b} {
		go func() { results <- in.load(*clients/2, *d, body, token, nil) }()
	}
	r1, r2 := <-results, <-results
	two := result{requests: r1.requests + r2.requests, elapsed: max(r1.elapsed, r2.elapsed), latencies: append(r1.latencies, r2.latencies...)}
	fmt.Printf("token validation on PostgreSQL, %d clients: one instance %.0f req/s (p99 %s), two instances %.0f req/s (p99 %s): %.2f×\n",
		*clients, one.rps(), one.pct(.99), two.rps(), two.pct(.99), two.rps()/one.rps())

	far := make([]time.Time, *samples)
	for i := range far {
		far[i] = time.Now().Add(24 * time.Hour)
	}
	for _, c := range []struct {
		name     string
		sub, rev *instance
	}{{"same instance (revoke on A, subscriber on A)", a, a}, {"cross instance (revoke on A, subscriber on B)", b, a}} {
		tokens, err := a.importTokens(ctx, tenant, users[1], far)
		if err != nil {
			return err
		}
		subs, err := connectAll(wsURLOf(c.sub.url), tokens, terminatedQuery)
		if err != nil {
			return err
		}
		var lat = make([]time.Duration, 0, len(tokens))
		for i, tok := range tokens {
			var me struct {
				Me struct{ Session struct{ ID string } }
			}
			if err := a.do(`{ me { session { id } } }`, nil, tok, &me); err != nil {
				return err
			}
			t0 := time.Now()
			if err := c.rev.do(`mutation($id: ID!) { revokeSession(id: $id) { id } }`, map[string]any{"id": me.Me.Session.ID}, a.key, nil); err != nil {
				return err
			}
			select {
			case got := <-subs[i].got:
				lat = append(lat, got.Sub(t0))
			case <-time.After(5 * time.Second):
				return fmt.Errorf("%s: no push within 5 s", c.name)
			}
		}
		fmt.Printf("push latency, %s, from the revokeSession request: %s\n", c.name, summary(lat))
		closeAll(subs)
	}
	return nil
}
