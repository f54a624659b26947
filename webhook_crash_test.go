package main

// Webhook durability with real processes: deliveries are written with the
// ends they report, so a sessiond killed with SIGKILL before it sent them
// sends them after a restart on the same database; and on PostgreSQL
// several instances share the outbox with leases, so each attempt is made
// by one instance and a dead instance's claims are retaken.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/secret"
)

// hookLog is a receiver that verifies every request with the Standard
// Webhooks library and records, per webhook-id, what it answered.
type hookLog struct {
	t      *testing.T
	srv    *httptest.Server
	secret string

	mu sync.Mutex
	// ok counts 2xx answers per webhook-id; seen counts every request.
	ok, seen map[string]int
	// sessions maps webhook-id to the session the event is about.
	sessions map[string]string
	// gate, when set, holds requests after the first okBeforeGate until
	// it is closed, then answers them 503: they never count as answered.
	gate         chan struct{}
	okBeforeGate int
	held         int
}

func newHookLog(t *testing.T) *hookLog {
	h := &hookLog{t: t, ok: map[string]int{}, seen: map[string]int{}, sessions: map[string]string{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookLog) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	wh, err := standardwebhooks.NewWebhook(h.secret)
	if err == nil {
		err = wh.Verify(body, r.Header)
	}
	if err != nil {
		h.t.Errorf("webhook does not verify: %v", err)
	}
	var p struct {
		Type string
		Data struct{ Session struct{ ID string } }
	}
	_ = json.Unmarshal(body, &p)
	id := r.Header.Get("webhook-id")
	h.mu.Lock()
	h.seen[id]++
	h.sessions[id] = p.Data.Session.ID
	gate := h.gate
	answered := 0
	for _, n := range h.ok {
		answered += n
	}
	if gate != nil && answered >= h.okBeforeGate {
		h.held++
		h.mu.Unlock()
		<-gate
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	h.ok[id]++
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (h *hookLog) snapshot() (ok, seen map[string]int, held int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ok, seen = map[string]int{}, map[string]int{}
	for k, v := range h.ok {
		ok[k] = v
	}
	for k, v := range h.seen {
		seen[k] = v
	}
	return ok, seen, h.held
}

// waitUntil polls cond every 20 ms for up to two minutes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// webhookWorld creates an endpoint for each receiver (session.ended only),
// a tenant and a user, and n sessions of that user.
func webhookWorld(t *testing.T, c *child, key string, n int, hls ...*hookLog) []string {
	t.Helper()
	for _, h := range hls {
		var ep struct{ CreateWebhookEndpoint struct{ Secret string } }
		c.must(t, key, `mutation($u: String!) { createWebhookEndpoint(input: {url: $u, eventTypes: ["session.ended"]}) { secret } }`, map[string]any{"u": h.srv.URL}, &ep)
		h.secret = ep.CreateWebhookEndpoint.Secret
	}
	var tn struct{ CreateTenant struct{ ID string } }
	c.must(t, key, `mutation { createTenant(input: {name: "hooks"}) { id } }`, nil, &tn)
	var u struct{ CreateUser struct{ ID string } }
	c.must(t, key, `mutation($t: ID!) { createUser(input: {email: "hooks@example.com", name: "N", tenantId: $t}) { id } }`, map[string]any{"t": tn.CreateTenant.ID}, &u)
	ids := make([]string, n)
	for i := range ids {
		var out struct {
			CreateSession struct{ Session struct{ ID string } }
		}
		c.must(t, key, `mutation($u: ID!, $t: ID!) { createSession(input: {userId: $u, tenantId: $t}) { session { id } } }`,
			map[string]any{"u": u.CreateUser.ID, "t": tn.CreateTenant.ID}, &out)
		ids[i] = out.CreateSession.Session.ID
	}
	return ids
}

// revokeAll ends the sessions through the instances, round robin, four
// at a time, and returns the first failure.
func revokeAll(key string, ids []string, cs ...*child) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	sem := make(chan struct{}, 4)
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := cs[i%len(cs)].do(key, `mutation($id: ID!) { revokeSession(id: $id) { id } }`, map[string]any{"id": id})
			if err != nil || len(r.Errors) > 0 {
				errs <- fmt.Errorf("revoke %s: %v %+v", id, err, r.Errors)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// coveredSessions is the set of sessions with at least one 2xx answer.
func (h *hookLog) coveredSessions() map[string]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]bool{}
	for id := range h.ok {
		out[h.sessions[id]] = true
	}
	return out
}

func TestWebhookCrashDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and crashes a real server; skipped with -short")
	}
	for _, db := range []string{"SQLite", "PostgreSQL"} {
		t.Run(db, func(t *testing.T) {
			dsn := filepath.Join(t.TempDir(), "sessiond.db")
			if db == "PostgreSQL" {
				graphtest.RequirePostgres(t)
				dsn = graphtest.FreshDatabase(t)
			}
			webhookCrash(t, dsn)
		})
	}
}

func webhookCrash(t *testing.T, dsn string) {
	const n, okBeforeGate, perEndpoint = 200, 60, 4
	key := secret.NewToken(secret.AdminKeyPrefix)
	// A short lease so that, on PostgreSQL, the restarted instance retakes
	// the dead one's claims quickly (SQLite drops them at start).
	args := []string{"-webhook-allow-insecure", "-webhook-poll", "50ms", "-webhook-per-endpoint", fmt.Sprint(perEndpoint), "-webhook-timeout", "2s", "-webhook-lease", "3s"}
	c1 := startChild(t, dsn, key, args...)
	h := newHookLog(t)
	h.gate, h.okBeforeGate = make(chan struct{}), okBeforeGate
	ids := webhookWorld(t, c1, key, n, h)
	if err := revokeAll(key, ids, c1); err != nil {
		t.Fatal(err)
	}

	// Every end is committed. Wait until the receiver holds as many
	// requests as the endpoint may have in flight and the store records
	// every 2xx answered so far as delivered; then kill.
	waitUntil(t, "the receiver to hold requests", func() bool { _, _, held := h.snapshot(); return held >= perEndpoint })
	var eps struct{ WebhookEndpoints []struct{ ID string } }
	c1.must(t, key, `{ webhookEndpoints { id } }`, nil, &eps)
	waitUntil(t, "the answered deliveries to be recorded", func() bool {
		var out struct {
			WebhookDeliveries struct{ Edges []struct{ Cursor string } }
		}
		c1.must(t, key, `query($e: ID!) { webhookDeliveries(endpointId: $e, status: DELIVERED, first: 500) { edges { cursor } } }`,
			map[string]any{"e": eps.WebhookEndpoints[0].ID}, &out)
		return len(out.WebhookDeliveries.Edges) == okBeforeGate
	})
	c1.kill()
	close(h.gate)
	before, _, _ := h.snapshot()
	if len(before) != okBeforeGate || len(before) >= n {
		t.Fatalf("%d deliveries answered before the crash, want %d", len(before), okBeforeGate)
	}
	h.mu.Lock()
	h.gate = nil
	h.mu.Unlock()

	startChild(t, dsn, key, args...)
	waitUntil(t, "every end to be delivered", func() bool { return len(h.coveredSessions()) == n })
	ok, seen, _ := h.snapshot()
	for id, c := range ok {
		if c != 1 {
			t.Errorf("webhook-id %s answered 2xx %d times", id, c)
		}
	}
	for id := range before {
		if seen[id] != 1 {
			t.Errorf("webhook-id %s, answered 2xx before the crash, arrived %d times", id, seen[id])
		}
	}
	covered := h.coveredSessions()
	for _, id := range ids {
		if !covered[id] {
			t.Errorf("the end of session %s never arrived", id)
		}
	}
	t.Logf("%d ends: %d answered before the crash, %d requests in all (the %d held by the receiver at the kill were sent again after the restart)", n, len(before), sum(seen), perEndpoint)
}

func sum(m map[string]int) int {
	s := 0
	for _, v := range m {
		s += v
	}
	return s
}

func TestWebhookClusterDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three real servers; skipped with -short")
	}
	graphtest.RequirePostgres(t)
	const perPhase, perEndpoint = 500, 4
	dsn := graphtest.FreshDatabase(t)
	key := secret.NewToken(secret.AdminKeyPrefix)
	args := []string{"-webhook-allow-insecure", "-webhook-poll", "50ms", "-webhook-per-endpoint", fmt.Sprint(perEndpoint), "-webhook-timeout", "2s", "-webhook-lease", "3s"}
	c1 := startChild(t, dsn, key, args...)
	a, b := newHookLog(t), newHookLog(t)
	ids := webhookWorld(t, c1, key, 2*perPhase, a, b)
	c2 := startChild(t, dsn, key, args...)
	c3 := startChild(t, dsn, key, args...)
	covered := func(n int) func() bool {
		return func() bool { return len(a.coveredSessions()) >= n && len(b.coveredSessions()) >= n }
	}

	t.Run("three instances: every end delivered once per endpoint", func(t *testing.T) {
		if err := revokeAll(key, ids[:perPhase], c1, c2, c3); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the first ends to be delivered", covered(perPhase))
		for name, h := range map[string]*hookLog{"a": a, "b": b} {
			_, seen, _ := h.snapshot()
			if len(seen) != perPhase {
				t.Errorf("endpoint %s: %d distinct deliveries, want %d", name, len(seen), perPhase)
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("endpoint %s: webhook-id %s sent %d times", name, id, n)
				}
			}
		}
	})

	t.Run("killing an instance mid-way loses none", func(t *testing.T) {
		done := make(chan error, 1)
		go func() { done <- revokeAll(key, ids[perPhase:], c1, c2) }()
		waitUntil(t, "deliveries to be under way", covered(perPhase+perPhase/4))
		c3.kill()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "every end to be delivered after the kill", covered(2*perPhase))
		// The store agrees: every delivery of both endpoints becomes
		// DELIVERED, the dead instance's unwritten ones once their leases
		// ran out and another instance sent them again (outcomes are
		// written in batches, so this follows the receivers by a little).
		var eps struct{ WebhookEndpoints []struct{ ID string } }
		c1.must(t, key, `{ webhookEndpoints { id } }`, nil, &eps)
		statuses := func(epID string) map[string]int {
			got, after := map[string]int{}, ""
			for {
				var out struct {
					WebhookDeliveries struct {
						Edges    []struct{ Node struct{ Status string } }
						PageInfo struct {
							HasNextPage bool
							EndCursor   string
						}
					}
				}
				c1.must(t, key, `query($e: ID!, $a: String) { webhookDeliveries(endpointId: $e, first: 500, after: $a) { edges { node { status } } pageInfo { hasNextPage endCursor } } }`,
					map[string]any{"e": epID, "a": after}, &out)
				for _, e := range out.WebhookDeliveries.Edges {
					got[e.Node.Status]++
				}
				if !out.WebhookDeliveries.PageInfo.HasNextPage {
					return got
				}
				after = out.WebhookDeliveries.PageInfo.EndCursor
			}
		}
		waitUntil(t, "the store to record every delivery as DELIVERED", func() bool {
			for _, ep := range eps.WebhookEndpoints {
				if st := statuses(ep.ID); st["DELIVERED"] != 2*perPhase || len(st) != 1 {
					return false
				}
			}
			return true
		})
		for _, ep := range eps.WebhookEndpoints {
			if st := statuses(ep.ID); st["DELIVERED"] != 2*perPhase || len(st) != 1 {
				t.Errorf("endpoint %s: delivery rows by status %v, want %d DELIVERED", ep.ID, st, 2*perPhase)
			}
		}
		for name, h := range map[string]*hookLog{"a": a, "b": b} {
			ok, seen, _ := h.snapshot()
			if len(seen) != 2*perPhase || len(ok) != 2*perPhase {
				t.Errorf("endpoint %s: %d distinct deliveries (%d answered 2xx), want %d", name, len(seen), len(ok), 2*perPhase)
			}
			// At least once: a delivery the dead instance had sent, and
			// the receiver had answered, but whose outcome it had not
			// written yet, is sent again by another instance with the
			// same webhook-id. Only deliveries it held a claim on can be
			// repeated: at most 8 claims per attempt slot (claimAhead).
			extra := sum(seen) - len(seen)
			if held := perEndpoint * 8; extra > held {
				t.Errorf("endpoint %s: %d repeated requests, more than the %d claims the killed instance could hold", name, extra, held)
			}
			t.Logf("endpoint %s: %d deliveries, %d repeated after the kill", name, len(seen), extra)
		}
	})
}
