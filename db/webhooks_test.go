package db_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/webhook"
)

func (e *env) endpoint(t testing.TB, id string, types ...string) webhook.Endpoint {
	t.Helper()
	ep, err := e.CreateWebhookEndpoint(context.Background(), e.admin, webhook.Endpoint{
		ID: id, URL: "https://hooks.example.com/" + id, EventTypes: types, Secret: "plain:whsec_x", CreatedAt: t0, UpdatedAt: t0,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func TestWebhookOutbox(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ten := e.tenant(t, "hooks")
		u := e.user(t, ten, "hooks@example.com")
		all := e.endpoint(t, "all")
		endsOnly := e.endpoint(t, "ends", webhook.SessionEnded)

		t.Run("a session's creation and end write their deliveries with them", func(t *testing.T) {
			s, _ := e.session(t, u, ten)
			if _, err := e.EndSessions(ctx, []model.SessionEnd{{ID: s.ID, Reason: model.EndLogout}}, e.admin, time.Time{}); err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, ep := range []string{all.ID, endsOnly.ID} {
				ds, _, err := e.WebhookDeliveries(ctx, webhook.DeliveryFilter{EndpointID: ep, Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range ds {
					got[ep] = append(got[ep], d.EventType)
					if d.Status != webhook.Pending || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(t0) {
						t.Fatalf("delivery %+v, want PENDING due at %v", d, t0)
					}
				}
			}
			if len(got[all.ID]) != 2 || len(got[endsOnly.ID]) != 1 || got[endsOnly.ID][0] != webhook.SessionEnded {
				t.Fatalf("deliveries %v, want created+ended for the unfiltered endpoint and ended for the other", got)
			}
		})

		// SQLite keeps the enabled endpoints in memory (endpointCache): each
		// change to an endpoint must reach the very next event.
		t.Run("the next event after each endpoint change sees the change", func(t *testing.T) {
			count := func(id string) int {
				ds, _, err := e.WebhookDeliveries(ctx, webhook.DeliveryFilter{EndpointID: id, Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				return len(ds)
			}
			created := func() { e.session(t, u, ten) } // one session.created
			late := e.endpoint(t, "late")
			created()
			if n := count(late.ID); n != 1 {
				t.Fatalf("a new endpoint got %d deliveries of the next event, want 1", n)
			}
			if _, err := e.UpdateWebhookEndpoint(ctx, e.admin, late.ID, func(ep *webhook.Endpoint) error {
				ep.EventTypes = []string{webhook.SessionEnded}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			created()
			if n := count(late.ID); n != 1 {
				t.Fatalf("an endpoint narrowed to session.ended got %d deliveries, want still 1", n)
			}
			if _, err := e.UpdateWebhookEndpoint(ctx, e.admin, late.ID, func(ep *webhook.Endpoint) error {
				ep.EventTypes = nil
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			created()
			if n := count(late.ID); n != 2 {
				t.Fatalf("an endpoint widened again got %d deliveries, want 2", n)
			}
			if err := e.DeleteWebhookEndpoint(ctx, e.admin, late.ID); err != nil {
				t.Fatal(err)
			}
			allBefore := count(all.ID)
			created() // a delivery for the deleted endpoint would break its foreign key and fail the creation
			if n := count(all.ID); n != allBefore+1 {
				t.Fatalf("after a delete the other endpoint got %d new deliveries, want 1", n-allBefore)
			}
		})

		t.Run("a change that fails writes no delivery", func(t *testing.T) {
			before, _, _ := e.WebhookDeliveries(ctx, webhook.DeliveryFilter{EndpointID: all.ID, Limit: 100})
			if _, _, err := e.CreateSession(ctx, e.admin, u, "no-such-tenant", planSession); err == nil {
				t.Fatal("a session in an unknown tenant was created")
			}
			after, _, _ := e.WebhookDeliveries(ctx, webhook.DeliveryFilter{EndpointID: all.ID, Limit: 100})
			if len(after) != len(before) {
				t.Fatalf("%d deliveries after a failed change, want %d", len(after), len(before))
			}
		})
	})
}

func TestWebhookClaims(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ten := e.tenant(t, "claims")
		u := e.user(t, ten, "claims@example.com")
		ep := e.endpoint(t, "ep", webhook.SessionCreated)
		const n = 40
		for range n {
			e.session(t, u, ten)
		}
		now := e.Clock.Now()

		t.Run("concurrent claimers take disjoint deliveries", func(t *testing.T) {
			var mu sync.Mutex
			owner := map[string]string{}
			var wg sync.WaitGroup
			for _, who := range []string{"a", "b", "c", "d"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						cs, err := e.ClaimDeliveries(ctx, who, ep.ID, now, time.Minute, 3)
						if err != nil {
							t.Error(err)
							return
						}
						if len(cs) == 0 {
							return
						}
						mu.Lock()
						for _, c := range cs {
							if prev, dup := owner[c.Delivery.ID]; dup {
								t.Errorf("delivery %s claimed by %s and %s", c.Delivery.ID, prev, who)
							}
							owner[c.Delivery.ID] = who
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(owner) != n {
				t.Fatalf("%d deliveries claimed, want %d", len(owner), n)
			}
			if eps, _ := e.DueEndpoints(ctx, now, nil, "", 10); len(eps) != 0 {
				t.Fatalf("endpoints %v still due while every delivery is leased", eps)
			}
		})

		t.Run("an expired lease is retaken; the old owner's outcome is ignored", func(t *testing.T) {
			later := now.Add(time.Minute + time.Millisecond)
			cs, err := e.ClaimDeliveries(ctx, "z", ep.ID, later, time.Minute, n)
			if err != nil || len(cs) != n {
				t.Fatalf("retook %d deliveries (%v), want %d", len(cs), err, n)
			}
			first := cs[0].Delivery.ID
			code := 200
			if err := e.FinishAttempts(ctx, "a", []webhook.Outcome{{DeliveryID: first, EndpointID: ep.ID, At: later, Status: webhook.Delivered, Attempts: 1, StatusCode: &code, Succeeded: true}}); err != nil {
				t.Fatal(err)
			}
			ds, _, _ := e.WebhookDeliveries(ctx, webhook.DeliveryFilter{EndpointID: ep.ID, Status: webhook.Delivered, Limit: 100})
			if len(ds) != 0 {
				t.Fatalf("the outcome of a lost lease was written: %+v", ds)
			}
			if err := e.FinishAttempts(ctx, "z", []webhook.Outcome{{DeliveryID: first, EndpointID: ep.ID, At: later, Status: webhook.Delivered, Attempts: 1, StatusCode: &code, Succeeded: true}}); err != nil {
				t.Fatal(err)
			}
			ds, _, _ = e.WebhookDeliveries(ctx, webhook.DeliveryFilter{EndpointID: ep.ID, Status: webhook.Delivered, Limit: 100})
			if len(ds) != 1 || ds[0].ID != first || ds[0].Attempts != 1 || ds[0].DeliveredAt == nil {
				t.Fatalf("delivered %+v, want %s delivered after one attempt", ds, first)
			}
		})

		t.Run("a failure marks the endpoint failing; disabling stops its claims", func(t *testing.T) {
			later := now.Add(2 * time.Minute)
			cs, _ := e.ClaimDeliveries(ctx, "y", ep.ID, later, time.Minute, 1)
			if len(cs) != 0 {
				t.Fatalf("claimed %d deliveries still leased by z", len(cs))
			}
			cs, _ = e.ClaimDeliveries(ctx, "y", ep.ID, later.Add(time.Minute), time.Minute, 1)
			if len(cs) != 1 {
				t.Fatalf("claimed %d, want 1", len(cs))
			}
			gone := webhook.DisabledGone
			if err := e.FinishAttempts(ctx, "y", []webhook.Outcome{{DeliveryID: cs[0].Delivery.ID, EndpointID: ep.ID, At: later, Status: webhook.Failed, Attempts: 1, Disable: &gone}}); err != nil {
				t.Fatal(err)
			}
			got, _ := e.WebhookEndpoint(ctx, ep.ID)
			if got.Enabled() || got.DisabledReason == nil || *got.DisabledReason != webhook.DisabledGone {
				t.Fatalf("endpoint %+v, want disabled GONE", got)
			}
			if cs, _ := e.ClaimDeliveries(ctx, "y", ep.ID, later.Add(time.Hour), time.Minute, 10); len(cs) != 0 {
				t.Fatalf("claimed %d deliveries of a disabled endpoint", len(cs))
			}
		})
	})
}

// The only instance on a store peeks at due deliveries and holds them in
// memory: nothing is leased, what it holds is skipped, and its outcomes
// are written against the unleased rows.
func TestWebhookPeek(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ten := e.tenant(t, "peek")
		u := e.user(t, ten, "peek@example.com")
		ep := e.endpoint(t, "peek", webhook.SessionCreated)
		const n = 5
		for range n {
			e.session(t, u, ten)
		}
		now := e.Clock.Now()

		first, err := e.PeekDeliveries(ctx, ep.ID, now, nil, 2)
		if err != nil || len(first) != 2 {
			t.Fatalf("peeked %d (%v), want 2", len(first), err)
		}
		if first[0].Endpoint.ID != ep.ID || first[0].Delivery.Payload == "" {
			t.Fatalf("claim %+v, want the delivery with its endpoint", first[0])
		}
		held := []string{first[0].Delivery.ID, first[1].Delivery.ID}
		rest, err := e.PeekDeliveries(ctx, ep.ID, now, held, n)
		if err != nil || len(rest) != n-2 {
			t.Fatalf("peeked %d past the held ones (%v), want %d", len(rest), err, n-2)
		}
		for _, c := range rest {
			if c.Delivery.ID == held[0] || c.Delivery.ID == held[1] {
				t.Fatalf("peek returned %s, which the caller holds", c.Delivery.ID)
			}
		}
		if again, _ := e.PeekDeliveries(ctx, ep.ID, now, nil, n); len(again) != n {
			t.Fatalf("peeking leased something: %d due after, want %d", len(again), n)
		}

		code := 200
		if err := e.FinishAttempts(ctx, "", []webhook.Outcome{{DeliveryID: held[0], EndpointID: ep.ID, At: now, Status: webhook.Delivered, Attempts: 1, StatusCode: &code, Succeeded: true}}); err != nil {
			t.Fatal(err)
		}
		next := now.Add(time.Minute)
		if err := e.FinishAttempts(ctx, "", []webhook.Outcome{{DeliveryID: held[1], EndpointID: ep.ID, At: now, Status: webhook.Pending, Attempts: 1, NextAttemptAt: &next, StatusCode: &code}}); err != nil {
			t.Fatal(err)
		}
		due, _ := e.PeekDeliveries(ctx, ep.ID, now, nil, n)
		if len(due) != n-2 {
			t.Fatalf("%d due after one delivered and one retrying later, want %d", len(due), n-2)
		}
		ds, _, _ := e.WebhookDeliveries(ctx, webhook.DeliveryFilter{EndpointID: ep.ID, Status: webhook.Delivered, Limit: 10})
		if len(ds) != 1 || ds[0].ID != held[0] || ds[0].DeliveredAt == nil {
			t.Fatalf("delivered %+v, want %s", ds, held[0])
		}
		if later, _ := e.PeekDeliveries(ctx, ep.ID, next, nil, n); len(later) != n-1 {
			t.Fatalf("%d due once the retry is, want %d", len(later), n-1)
		}

		gone := webhook.DisabledGone
		if err := e.FinishAttempts(ctx, "", []webhook.Outcome{{DeliveryID: due[0].Delivery.ID, EndpointID: ep.ID, At: now, Status: webhook.Failed, Attempts: 1, Disable: &gone}}); err != nil {
			t.Fatal(err)
		}
		if cs, _ := e.PeekDeliveries(ctx, ep.ID, next, nil, n); len(cs) != 0 {
			t.Fatalf("peeked %d deliveries of a disabled endpoint", len(cs))
		}
	})
}

// DueEndpoints takes endpoints in turn: from the first after the one
// named, wrapping round, so a dispatcher with room for fewer endpoints
// than are due does not serve the same first ones for ever.
func TestWebhookDueEndpointsTakeTurns(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ten := e.tenant(t, "Turns")
		u := e.user(t, ten, "turns@example.com")
		for _, id := range []string{"ep-a", "ep-b", "ep-c"} {
			if _, err := e.CreateWebhookEndpoint(ctx, e.admin, webhook.Endpoint{
				ID: id, URL: "https://hooks.example.com/" + id, Secret: "plain:whsec_x", CreatedAt: e.Clock.Now(), UpdatedAt: e.Clock.Now(),
			}); err != nil {
				t.Fatal(err)
			}
		}
		e.session(t, u, ten) // one session.created delivery for each
		now := e.Clock.Now()
		for _, c := range []struct {
			after string
			limit int
			want  []string
		}{
			{"", 2, []string{"ep-a", "ep-b"}},
			{"ep-a", 2, []string{"ep-b", "ep-c"}},
			{"ep-b", 2, []string{"ep-c", "ep-a"}},
			{"ep-c", 3, []string{"ep-a", "ep-b", "ep-c"}},
			{"ep-zz", 1, []string{"ep-a"}},
		} {
			got, err := e.DueEndpoints(ctx, now, nil, c.after, c.limit)
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("DueEndpoints after %q, limit %d: %v, %v; want %v", c.after, c.limit, got, err, c.want)
			}
		}
	})
}
