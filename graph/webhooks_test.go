package graph_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/webhook"
)

// sessionData is data.session of the session.* events.
type sessionData struct {
	Session struct {
		ID, UserID, TenantID, Device, IPAddress, UserAgent string
		CreatedAt, ExpiresAt                               time.Time
		EndedAt                                            *time.Time
		Reason                                             *string
		EndedBy                                            *struct {
			Kind   string
			UserID *string
		}
	}
}

func decodeData[T any](t *testing.T, h hook) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(h.Payload.Data, &v); err != nil {
		t.Fatalf("data of %s: %v\n%s", h.Payload.Type, err, h.Body)
	}
	return v
}

// endedHook finds the session.ended of one session.
func endedHook(t *testing.T, hs []hook, sessionID string) sessionData {
	t.Helper()
	var found []sessionData
	for _, h := range ofType(hs, webhook.SessionEnded) {
		if d := decodeData[sessionData](t, h); d.Session.ID == sessionID {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("session.ended of %s arrived %d times, want once", sessionID, len(found))
	}
	return found[0]
}

func requireOnce(t *testing.T, hs []hook) {
	t.Helper()
	seen := map[string]bool{}
	for _, h := range hs {
		if seen[h.ID] {
			t.Fatalf("webhook-id %s (%s) arrived twice", h.ID, h.Payload.Type)
		}
		seen[h.ID] = true
	}
}

func TestWebhookEvents(t *testing.T) {
	s := startWebhooks(t)
	r := newReceiver(t)
	createEndpoint(t, s, r, nil)
	w := s.NewWorkspace("events")
	n := 0
	next := func(k int) []hook { n += k; return r.waitFor(n) }

	ses := s.CreateSession(w.MemberID, w.TenantID)
	t.Run("session.created carries the session without its token", func(t *testing.T) {
		hs := ofType(next(1), webhook.SessionCreated)
		if len(hs) != 1 {
			t.Fatalf("%d session.created, want 1", len(hs))
		}
		d := decodeData[sessionData](t, hs[0])
		if d.Session.ID != ses.ID || d.Session.UserID != w.MemberID || d.Session.TenantID != w.TenantID || d.Session.Device == "" || d.Session.EndedAt != nil {
			t.Fatalf("data %s, want session %s of user %s in tenant %s with a device, not ended", hs[0].Payload.Data, ses.ID, w.MemberID, w.TenantID)
		}
		if strings.Contains(string(hs[0].Body), ses.Token) || strings.Contains(strings.ToLower(string(hs[0].Body)), "token") {
			t.Fatalf("payload carries a token: %s", hs[0].Body)
		}
		if hs[0].Payload.Timestamp.IsZero() || !strings.HasPrefix(hs[0].ID, "msg_") {
			t.Fatalf("timestamp %v webhook-id %q", hs[0].Payload.Timestamp, hs[0].ID)
		}
	})

	t.Run("session.ended says why: revoked by admin", func(t *testing.T) {
		s.Admin(`mutation($id: ID!) { revokeSession(id: $id) { id } }`, map[string]any{"id": ses.ID}, nil)
		d := endedHook(t, next(1), ses.ID)
		if d.Session.Reason == nil || *d.Session.Reason != "REVOKED_BY_ADMIN" || d.Session.EndedAt == nil || d.Session.EndedBy == nil || d.Session.EndedBy.Kind != "ADMIN" {
			t.Fatalf("ended %+v, want REVOKED_BY_ADMIN by ADMIN with endedAt", d.Session)
		}
	})

	t.Run("session.ended by logout and by the user's own revoke", func(t *testing.T) {
		a := s.CreateSession(w.MemberID, w.TenantID)
		b := s.CreateSession(w.MemberID, w.TenantID)
		s.MustDo(graphtest.Request{Query: `mutation { logout { id } }`, Token: a.Token}, nil)
		c := s.CreateSession(w.MemberID, w.TenantID)
		s.MustDo(graphtest.Request{Query: `mutation { revokeMySessions }`, Token: c.Token}, nil)
		hs := next(3 + 2)
		if got := *endedHook(t, hs, a.ID).Session.Reason; got != "LOGOUT" {
			t.Fatalf("logout: reason %s", got)
		}
		if got := *endedHook(t, hs, b.ID).Session.Reason; got != "REVOKED_BY_USER" {
			t.Fatalf("revokeMySessions: reason %s", got)
		}
		s.MustDo(graphtest.Request{Query: `mutation { logout { id } }`, Token: c.Token}, nil)
		next(1)
	})

	t.Run("user.signed_out reports an admin's sign-out with its count", func(t *testing.T) {
		a := s.CreateSession(w.MemberID, w.TenantID)
		b := s.CreateSession(w.MemberID, w.TenantID)
		var out struct{ SignOutUser int }
		s.Admin(`mutation($u: ID!, $t: ID) { signOutUser(userId: $u, tenantId: $t) }`, map[string]any{"u": w.MemberID, "t": w.TenantID}, &out)
		hs := next(2 + 2 + 1)
		so := ofType(hs, webhook.UserSignedOut)
		if len(so) != 1 {
			t.Fatalf("%d user.signed_out, want 1", len(so))
		}
		d := decodeData[webhook.SignedOutData](t, so[0])
		if d.UserID != w.MemberID || d.TenantID == nil || *d.TenantID != w.TenantID || d.Count != 2 || out.SignOutUser != 2 || d.Actor.Kind != "ADMIN" {
			t.Fatalf("signed out %s, want user %s tenant %s count 2 by ADMIN", so[0].Payload.Data, w.MemberID, w.TenantID)
		}
		for _, id := range []string{a.ID, b.ID} {
			if got := *endedHook(t, hs, id).Session.Reason; got != "REVOKED_BY_ADMIN" {
				t.Fatalf("reason %s", got)
			}
		}
	})

	t.Run("session_policy.updated shows the tenant's settings before and after; the sessions it ends follow", func(t *testing.T) {
		a := s.CreateSession(w.MemberID, w.TenantID)
		b := s.CreateSession(w.MemberID, w.TenantID)
		setPolicy(t, s, w.TenantID, limit(1))
		hs := next(2 + 1 + 1)
		pu := ofType(hs, webhook.SessionPolicyUpdated)
		if len(pu) != 1 {
			t.Fatalf("%d session_policy.updated, want 1", len(pu))
		}
		var d struct {
			Scope         string
			TenantID      *string
			Before, After map[string]any
			EndedSessions int
		}
		if err := json.Unmarshal(pu[0].Payload.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d.Scope != "TENANT" || d.TenantID == nil || *d.TenantID != w.TenantID || d.After["maxConcurrentSessions"] == nil || d.Before["maxConcurrentSessions"] != nil || d.EndedSessions != 1 {
			t.Fatalf("policy data %s", pu[0].Payload.Data)
		}
		if got := *endedHook(t, hs, a.ID).Session.Reason; got != "CONCURRENT_SESSION_LIMIT" {
			t.Fatalf("reason %s", got)
		}
		// The limit now ends the older session when a new one starts.
		c := s.CreateSession(w.MemberID, w.TenantID)
		hs = next(2)
		if got := *endedHook(t, hs, b.ID).Session.Reason; got != "CONCURRENT_SESSION_LIMIT" {
			t.Fatalf("reason %s", got)
		}
		_ = c
	})

	t.Run("the environment's policy is reported with scope ENVIRONMENT", func(t *testing.T) {
		setPolicy(t, s, "", idle(8, "HOURS"))
		pu := ofType(next(1), webhook.SessionPolicyUpdated)
		d := decodeData[webhook.PolicyData](t, pu[len(pu)-1])
		if d.Scope != "ENVIRONMENT" || d.TenantID != nil {
			t.Fatalf("policy data %s", pu[len(pu)-1].Payload.Data)
		}
	})

	t.Run("a removed user's sessions end with USER_REMOVED", func(t *testing.T) {
		id := s.CreateUser(w.TenantID, "removed@example.com", "", nil)
		a := s.CreateSession(id, w.TenantID)
		s.Admin(`mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": id}, nil)
		if got := *endedHook(t, next(2), a.ID).Session.Reason; got != "USER_REMOVED" {
			t.Fatalf("reason %s", got)
		}
	})

	t.Run("each event arrived once", func(t *testing.T) {
		requireOnce(t, r.hooks())
		if got := len(r.hooks()); got != n {
			t.Fatalf("%d webhooks arrived, want %d", got, n)
		}
	})
}

func TestWebhookDeadlineEvents(t *testing.T) {
	s, clk := startFake(t, fastWebhooks())
	// Every move of the clock waits for the expiry scheduler to sleep
	// first: a move made while it is between a round and its next sleep
	// would push that sleep past the test's deadlines.
	ft := fakeTime{clk}
	r := newReceiver(t)
	r.ignoreTimestamp = true // the server's clock is fake
	createEndpoint(t, s, r, map[string]any{"eventTypes": []string{webhook.SessionEnded, webhook.SessionExpiringSoon}})
	w := s.NewWorkspace("deadline")
	ft.wakes(t, func() { setPolicy(t, s, w.TenantID, idle(30, "MINUTES")) })
	ses := s.CreateSession(w.MemberID, w.TenantID)

	t.Run("session.expiring_soon comes before the idle deadline", func(t *testing.T) {
		ft.advance(t, 29*time.Minute)
		hs := r.waitFor(1)
		if hs[0].Payload.Type != webhook.SessionExpiringSoon {
			t.Fatalf("got %s, want session.expiring_soon", hs[0].Payload.Type)
		}
		d := decodeData[sessionData](t, hs[0])
		if d.Session.ID != ses.ID || !d.Session.ExpiresAt.Equal(t0.Add(30*time.Minute)) {
			t.Fatalf("expiring %+v, want %s expiring at %v", d.Session, ses.ID, t0.Add(30*time.Minute))
		}
	})

	t.Run("session.ended with IDLE_TIMEOUT at the deadline", func(t *testing.T) {
		ft.advance(t, 2*time.Minute)
		d := endedHook(t, r.waitFor(2), ses.ID)
		if *d.Session.Reason != "IDLE_TIMEOUT" || !d.Session.EndedAt.Equal(t0.Add(30*time.Minute)) || d.Session.EndedBy.Kind != "SYSTEM" {
			t.Fatalf("ended %+v, want IDLE_TIMEOUT at %v by SYSTEM", d.Session, t0.Add(30*time.Minute))
		}
	})

	t.Run("session.ended with FORCE_RELOGIN", func(t *testing.T) {
		ft.wakes(t, func() { setPolicy(t, s, w.TenantID, merge(idle(1, "DAYS"), relogin(1, "HOURS"))) })
		a := s.CreateSession(w.MemberID, w.TenantID)
		ft.advance(t, 61*time.Minute)
		// One step past the deadline: the end, and no warning for a
		// session that is over.
		hs := r.waitFor(3)
		if d := endedHook(t, hs, a.ID); *d.Session.Reason != "FORCE_RELOGIN" {
			t.Fatalf("reason %s", *d.Session.Reason)
		}
		if got := ofType(hs, webhook.SessionCreated); len(got) != 0 {
			t.Fatalf("the filter lets through %d session.created", len(got))
		}
		requireOnce(t, hs)
	})
}

func TestWebhookRetry(t *testing.T) {
	s := startWebhooks(t)
	r := newReceiver(t)
	r.answer = func(n int, _ hook) (int, http.Header) {
		if n == 0 {
			return http.StatusInternalServerError, nil
		}
		return http.StatusOK, nil
	}
	ep := createEndpoint(t, s, r, nil)
	w := s.NewWorkspace("retry")
	s.CreateSession(w.MemberID, w.TenantID)

	hs := r.waitFor(2)
	if hs[0].ID != hs[1].ID || string(hs[0].Body) != string(hs[1].Body) {
		t.Fatalf("retry sent webhook-id %s body %s, want the first attempt's %s %s", hs[1].ID, hs[1].Body, hs[0].ID, hs[0].Body)
	}
	var d deliveryView
	eventually(t, "the delivery to be recorded as delivered", func() bool {
		ds := deliveries(t, s, ep.ID, nil)
		d = ds[0]
		return len(ds) == 1 && d.Status == "DELIVERED"
	})
	if d.Attempts != 2 || d.WebhookID != hs[0].ID || d.LastStatusCode == nil || *d.LastStatusCode != 200 || d.DeliveredAt == nil {
		t.Fatalf("delivery %+v, want DELIVERED after 2 attempts with webhook-id %s", d, hs[0].ID)
	}
	if e := endpointByID(t, s, ep.ID); e.FailingSince != nil || !e.Enabled {
		t.Fatalf("endpoint %+v, want healthy after the success", e)
	}
}

// A committed delivery goes out at once, without the poll: on SQLite the
// store hands it to the dispatcher (HandOffDeliveries), on PostgreSQL the
// bus nudges it. More at once than the dispatcher may hold for one
// endpoint (PerEndpoint × 8) leaves a backlog in the outbox, which each
// finished batch of attempts reads. Each arrives once.
func TestWebhookCommittedDeliveriesNeedNoPoll(t *testing.T) {
	s := startWebhooks(t, graphtest.WithWebhooks(func(c *webhook.Config) { c.Poll = time.Hour; c.PerEndpoint = 1 }))
	r := newReceiver(t)
	createEndpoint(t, s, r, map[string]any{"eventTypes": []string{webhook.SessionCreated}})
	w := s.NewWorkspace("nopoll")
	const n = 40 // over PerEndpoint × 8 = 8 held at once
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); s.CreateSession(w.MemberID, w.TenantID) }()
	}
	wg.Wait()
	hs := r.waitFor(n)
	seen := map[string]bool{}
	for _, h := range hs {
		if seen[h.ID] {
			t.Fatalf("webhook-id %s arrived twice", h.ID)
		}
		seen[h.ID] = true
	}
	time.Sleep(100 * time.Millisecond) // nothing more comes
	if got := len(r.hooks()); got != n {
		t.Fatalf("%d requests, want %d", got, n)
	}
}

// Deliveries that wait in the outbox because the dispatcher holds as many
// as it may are not overtaken by later commits (on SQLite the store offers
// every commit's deliveries to the dispatcher): one endpoint's deliveries
// arrive in about the order they were committed, not the oldest last.
// Commit order is the order of the delivery ids (UUIDv7, drawn in the
// write); the receiver is slower than the commits, so a backlog forms.
func TestWebhookBacklogKeepsCommitOrder(t *testing.T) {
	s := startWebhooks(t, graphtest.WithWebhooks(func(c *webhook.Config) { c.PerEndpoint = 1 }))
	r := newReceiver(t)
	r.hold = func() { time.Sleep(10 * time.Millisecond) }
	createEndpoint(t, s, r, map[string]any{"eventTypes": []string{webhook.SessionCreated}})
	w := s.NewWorkspace("order")
	const n, creators = 120, 4
	var wg sync.WaitGroup
	for range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / creators {
				s.CreateSession(w.MemberID, w.TenantID)
			}
		}()
	}
	wg.Wait()
	// The premise: when the last commit returned, more were left than
	// the dispatcher holds (PerEndpoint × 8) and sends (1), so some
	// waited in the outbox while later ones were offered.
	if arrived := len(r.hooks()); n-arrived <= 9 {
		t.Fatalf("%d of %d had arrived when the commits ended: no backlog formed, so this test showed nothing", arrived, n)
	}
	hs := r.waitFor(n)
	requireOnce(t, hs)
	committed := make([]string, len(hs))
	for i, h := range hs {
		committed[i] = h.ID
	}
	slices.Sort(committed)
	// The dispatcher holds PerEndpoint × 8 claims of an endpoint, whose
	// attempts start in whatever order their goroutines run: a delivery
	// may move by that many places, not by the length of the backlog
	// (before the fix: 26–34 places).
	const window = 8
	var ranks []int
	worst := 0
	for i, h := range hs {
		r := slices.Index(committed, h.ID)
		ranks = append(ranks, r)
		worst = max(worst, i-r, r-i)
	}
	if worst > window {
		t.Fatalf("a delivery arrived %d places from its commit order (at most %d expected): later commits overtook the backlog; commit ranks in arrival order: %v", worst, window, ranks)
	}
}

// Attempts in flight keep their deliveries (on SQLite in memory, with no
// lease written), however often new commits nudge the dispatcher, and
// the endpoint's other deliveries go out meanwhile: each arrives once.
func TestWebhookAttemptsInFlightHoldOnlyTheirDeliveries(t *testing.T) {
	s := startWebhooks(t)
	r := newReceiver(t)
	release := make(chan struct{})
	var n atomic.Int32
	r.hold = func() {
		if n.Add(1) <= 2 {
			<-release
		}
	}
	ep := createEndpoint(t, s, r, map[string]any{"eventTypes": []string{webhook.SessionCreated}})
	w := s.NewWorkspace("inflight")
	const total = 12
	for range total {
		s.CreateSession(w.MemberID, w.TenantID)
	}
	hs := r.waitFor(total - 2)
	requireOnce(t, hs)
	if got := n.Load(); got != total {
		t.Fatalf("%d requests while two were held, want %d (each delivery once)", got, total)
	}
	close(release)
	hs = r.waitFor(total)
	requireOnce(t, hs)
	eventually(t, "every delivery to be recorded as delivered", func() bool {
		ds := deliveries(t, s, ep.ID, nil)
		for _, d := range ds {
			if d.Status != "DELIVERED" || d.Attempts != 1 {
				return false
			}
		}
		return len(ds) == total
	})
	if got := n.Load(); got != total {
		t.Fatalf("%d requests in all, want %d", got, total)
	}
}

func TestWebhookGoneDisables(t *testing.T) {
	s := startWebhooks(t)
	r := newReceiver(t)
	r.answer = func(int, hook) (int, http.Header) { return http.StatusGone, nil }
	ep := createEndpoint(t, s, r, nil)
	w := s.NewWorkspace("gone")
	s.CreateSession(w.MemberID, w.TenantID)
	r.waitFor(1)
	var e endpointView
	eventually(t, "the endpoint to be disabled", func() bool { e = endpointByID(t, s, ep.ID); return !e.Enabled })
	if e.DisabledReason == nil || *e.DisabledReason != "GONE" || e.DisabledAt == nil {
		t.Fatalf("endpoint %+v, want disabled with GONE", e)
	}
	if ds := deliveries(t, s, ep.ID, nil); len(ds) != 1 || ds[0].Status != "FAILED" || ds[0].Attempts != 1 {
		t.Fatalf("deliveries %+v, want one FAILED after one attempt", ds)
	}
	// A disabled endpoint gets no new deliveries.
	s.CreateSession(w.MemberID, w.TenantID)
	if ds := deliveries(t, s, ep.ID, nil); len(ds) != 1 {
		t.Fatalf("%d deliveries after the endpoint was disabled, want 1", len(ds))
	}
	t.Run("enabling it again clears the reason", func(t *testing.T) {
		var out struct{ UpdateWebhookEndpoint endpointView }
		s.Admin(`mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {enabled: true}) { `+endpointFields+` } }`, map[string]any{"id": ep.ID}, &out)
		if e := out.UpdateWebhookEndpoint; !e.Enabled || e.DisabledReason != nil || e.DisabledAt != nil {
			t.Fatalf("endpoint %+v, want enabled", e)
		}
	})
}

func TestWebhookRetryAfter(t *testing.T) {
	s, clk := startFake(t, graphtest.WithWebhooks(func(c *webhook.Config) { c.AllowInsecure = true }))
	r := newReceiver(t)
	r.ignoreTimestamp = true
	r.answer = func(n int, _ hook) (int, http.Header) {
		switch n {
		case 0:
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"120"}}
		case 1:
			return http.StatusTooManyRequests, http.Header{"Retry-After": {t0.Add(2*time.Minute + 10*time.Minute).Format(http.TimeFormat)}}
		}
		return http.StatusOK, nil
	}
	ep := createEndpoint(t, s, r, map[string]any{"eventTypes": []string{webhook.SessionCreated}})
	w := s.NewWorkspace("retry-after")
	s.CreateSession(w.MemberID, w.TenantID)
	r.waitFor(1)
	pending := func(wantAttempts int) deliveryView {
		var d deliveryView
		eventually(t, "the attempt to be recorded", func() bool {
			d = deliveries(t, s, ep.ID, nil)[0]
			return d.Attempts == wantAttempts
		})
		return d
	}

	t.Run("503 with Retry-After seconds: the next attempt waits that long, not the schedule's 5 s", func(t *testing.T) {
		d := pending(1)
		if d.Status != "PENDING" || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(t0.Add(120*time.Second)) {
			t.Fatalf("delivery %+v, want PENDING, next attempt at %v", d, t0.Add(120*time.Second))
		}
		clk.Advance(119 * time.Second)
		// A test webhook to another endpoint proves the dispatcher looked
		// at the outbox after the clock moved; the first delivery was not
		// due yet.
		probe := newReceiver(t)
		probe.ignoreTimestamp = true
		pe := createEndpoint(t, s, probe, map[string]any{"eventTypes": []string{webhook.SessionEnded}})
		s.Admin(`mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }`, map[string]any{"id": pe.ID}, nil)
		probe.waitFor(1)
		if got := len(r.hooks()); got != 1 {
			t.Fatalf("%d attempts before Retry-After passed, want 1", got)
		}
		clk.Advance(time.Second)
		r.waitFor(2)
	})

	t.Run("429 with an HTTP-date Retry-After", func(t *testing.T) {
		d := pending(2)
		if want := t0.Add(12 * time.Minute); d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(want) {
			t.Fatalf("next attempt at %v, want %v", d.NextAttemptAt, want)
		}
		clk.Advance(10 * time.Minute)
		r.waitFor(3)
		eventually(t, "the delivery to succeed", func() bool { return deliveries(t, s, ep.ID, nil)[0].Status == "DELIVERED" })
	})
}

func TestWebhookFailingDisables(t *testing.T) {
	s, clk := startFake(t, graphtest.WithWebhooks(func(c *webhook.Config) { c.AllowInsecure = true }))
	r := newReceiver(t)
	r.ignoreTimestamp = true
	r.answer = func(int, hook) (int, http.Header) { return http.StatusInternalServerError, nil }
	ep := createEndpoint(t, s, r, map[string]any{"eventTypes": []string{webhook.SessionCreated}})
	w := s.NewWorkspace("failing")
	s.CreateSession(w.MemberID, w.TenantID)
	r.waitFor(1)
	eventually(t, "failingSince to be set", func() bool { return endpointByID(t, s, ep.ID).FailingSince != nil })
	if e := endpointByID(t, s, ep.ID); !e.FailingSince.Equal(t0) || !e.Enabled {
		t.Fatalf("endpoint %+v, want enabled, failing since %v", e, t0)
	}
	clk.Advance(5 * time.Second) // the schedule's second attempt
	r.waitFor(2)
	eventually(t, "the second attempt to be recorded", func() bool { return deliveries(t, s, ep.ID, nil)[0].Attempts == 2 })
	if e := endpointByID(t, s, ep.ID); !e.Enabled {
		t.Fatalf("endpoint disabled after 5 s of failures")
	}
	clk.Advance(5*24*time.Hour + time.Minute) // past the third attempt (5 min), 5 days after the first failure
	r.waitFor(3)
	var e endpointView
	eventually(t, "the endpoint to be disabled", func() bool { e = endpointByID(t, s, ep.ID); return !e.Enabled })
	if e.DisabledReason == nil || *e.DisabledReason != "FAILING" {
		t.Fatalf("endpoint %+v, want disabled with FAILING", e)
	}
}

func TestWebhookRotation(t *testing.T) {
	s, clk := startFake(t, graphtest.WithWebhooks(func(c *webhook.Config) { c.AllowInsecure = true }))
	oldOnly, newOnly := newReceiver(t), newReceiver(t)
	for _, r := range []*receiver{oldOnly, newOnly} {
		r.ignoreTimestamp = true
	}
	// Both receivers sit behind one endpoint: the first verifies with the
	// old secret only, the second (a proxy in front) with the new one only.
	ep := createEndpoint(t, s, oldOnly, map[string]any{"eventTypes": []string{webhook.SessionCreated}})
	var out struct {
		RotateWebhookSecret struct {
			Endpoint endpointView
			Secret   string
		}
	}
	s.Admin(`mutation($id: ID!) { rotateWebhookSecret(id: $id) { endpoint { `+endpointFields+` } secret } }`, map[string]any{"id": ep.ID}, &out)
	newOnly.trust(out.RotateWebhookSecret.Secret)
	if e := out.RotateWebhookSecret.Endpoint; e.PreviousSecretExpiresAt == nil || !e.PreviousSecretExpiresAt.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("previousSecretExpiresAt %v, want %v", e.PreviousSecretExpiresAt, t0.Add(24*time.Hour))
	}
	oldOnly.answer = func(_ int, h hook) (int, http.Header) {
		// Forward to the new-secret receiver, as a second verifier.
		req, _ := http.NewRequest(http.MethodPost, newOnly.URL(), strings.NewReader(string(h.Body)))
		req.Header.Set("webhook-id", h.ID)
		req.Header.Set("webhook-timestamp", h.Timestamp)
		req.Header.Set("webhook-signature", h.Signature)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
		return http.StatusOK, nil
	}
	w := s.NewWorkspace("rotation")
	s.CreateSession(w.MemberID, w.TenantID)

	t.Run("during the overlap the header carries both signatures, each verifying", func(t *testing.T) {
		h := oldOnly.waitFor(1)[0]
		newOnly.waitFor(1)
		if parts := strings.Fields(h.Signature); len(parts) != 2 || !strings.HasPrefix(parts[0], "v1,") || !strings.HasPrefix(parts[1], "v1,") {
			t.Fatalf("webhook-signature %q, want two v1 signatures", h.Signature)
		}
	})

	t.Run("after the overlap only the new secret signs", func(t *testing.T) {
		clk.Advance(24*time.Hour + time.Second)
		oldOnly.mu.Lock()
		oldOnly.secrets = nil // the old secret no longer verifies
		oldOnly.mu.Unlock()
		s.CreateSession(w.MemberID, w.TenantID)
		h := oldOnly.waitFor(2)[1]
		newOnly.waitFor(2)
		if parts := strings.Fields(h.Signature); len(parts) != 1 {
			t.Fatalf("webhook-signature %q, want one signature", h.Signature)
		}
	})
}

func TestWebhookNetworkRules(t *testing.T) {
	s := graphtest.Start(t) // no -webhook-allow-insecure
	r := newReceiver(t)
	create := func(url string) graphtest.Response {
		return s.Do(graphtest.Request{Token: s.AdminKey, Query: `mutation($u: String!) { createWebhookEndpoint(input: {url: $u}) { secret } }`, Variables: map[string]any{"u": url}})
	}
	for _, url := range []string{
		r.URL(), // http://127.0.0.1:port
		"https://127.0.0.1/hook", "https://[::1]/hook", "https://10.1.2.3/", "https://192.168.0.1/", "https://169.254.169.254/latest/meta-data/",
		"https://[fd00:ec2::254]/", "https://0.0.0.0/", "https://[::ffff:127.0.0.1]/", "ftp://example.com/", "not a url", "https://user:pw@example.com/",
	} {
		t.Run("refuses "+url, func(t *testing.T) {
			res := create(url)
			if len(res.Errors) != 1 || res.Errors[0].Code() != "BAD_USER_INPUT" || res.Errors[0].Field() != "url" {
				t.Fatalf("errors %+v, want BAD_USER_INPUT on url", res.Errors)
			}
		})
	}
	if eps := endpoints(t, s); len(eps) != 0 {
		t.Fatalf("%d endpoints stored after refusals", len(eps))
	}

	t.Run("a name that resolves to loopback is refused when dialled", func(t *testing.T) {
		port := r.srv.Listener.Addr().(interface{ String() string }).String()
		port = port[strings.LastIndexByte(port, ':'):]
		var out struct {
			CreateWebhookEndpoint struct{ Endpoint struct{ ID string } }
		}
		s.Admin(`mutation($u: String!) { createWebhookEndpoint(input: {url: $u}) { endpoint { id } } }`, map[string]any{"u": "https://localhost" + port + "/hook"}, &out)
		id := out.CreateWebhookEndpoint.Endpoint.ID
		s.Admin(`mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }`, map[string]any{"id": id}, nil)
		var d deliveryView
		eventually(t, "the attempt to fail", func() bool {
			d = deliveries(t, s, id, nil)[0]
			return d.Attempts > 0
		})
		if d.LastError == nil || !strings.Contains(*d.LastError, "not allowed") || d.Status != "PENDING" {
			t.Fatalf("delivery %+v, want a refused attempt", d)
		}
		if n := len(r.hooks()); n != 0 {
			t.Fatalf("the receiver got %d requests", n)
		}
	})
}

func TestWebhookRedirectNotFollowed(t *testing.T) {
	s := startWebhooks(t)
	target := newReceiver(t)
	r := newReceiver(t)
	r.answer = func(int, hook) (int, http.Header) {
		return http.StatusFound, http.Header{"Location": {target.URL()}}
	}
	ep := createEndpoint(t, s, r, nil)
	s.Admin(`mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }`, map[string]any{"id": ep.ID}, nil)
	r.waitFor(1)
	var d deliveryView
	eventually(t, "the attempt to be recorded", func() bool { d = deliveries(t, s, ep.ID, nil)[0]; return d.Attempts > 0 })
	if d.LastStatusCode == nil || *d.LastStatusCode != http.StatusFound || d.Status == "DELIVERED" {
		t.Fatalf("delivery %+v, want the 302 recorded as a failure", d)
	}
	if n := len(target.hooks()); n != 0 {
		t.Fatalf("the redirect target got %d requests", n)
	}
}

func TestWebhookAdminAPI(t *testing.T) {
	s := startWebhooks(t)
	r := newReceiver(t)
	w := s.NewWorkspace("api")
	ep := createEndpoint(t, s, r, map[string]any{"description": "billing", "tenantId": w.TenantID, "eventTypes": []string{webhook.SessionEnded, webhook.SessionCreated}})

	t.Run("the endpoint lists without its secret", func(t *testing.T) {
		res := s.Do(graphtest.Request{Token: s.AdminKey, Query: `{ webhookEndpoints { secret } }`})
		if len(res.Errors) == 0 {
			t.Fatalf("webhookEndpoints exposes a secret field: %s", res.Data)
		}
		e := endpointByID(t, s, ep.ID)
		if e.Description != "billing" || e.TenantID == nil || *e.TenantID != w.TenantID || fmt.Sprint(e.EventTypes) != "[session.created session.ended]" || !e.Enabled {
			t.Fatalf("endpoint %+v", e)
		}
	})

	t.Run("the tenant filter keeps other tenants' events out", func(t *testing.T) {
		other := s.NewWorkspace("api-other")
		s.CreateSession(other.MemberID, other.TenantID)
		s.CreateSession(w.MemberID, w.TenantID)
		hs := r.waitFor(1)
		d := decodeData[sessionData](t, hs[0])
		if len(hs) != 1 || d.Session.TenantID != w.TenantID {
			t.Fatalf("got %d webhooks, first of tenant %s, want one of %s", len(hs), d.Session.TenantID, w.TenantID)
		}
	})

	t.Run("bad input is refused and nothing changes", func(t *testing.T) {
		for _, c := range []struct{ query, code, field string }{
			{`mutation { createWebhookEndpoint(input: {url: "` + r.URL() + `", eventTypes: ["session.nope"]}) { secret } }`, "BAD_USER_INPUT", "eventTypes"},
			{`mutation { createWebhookEndpoint(input: {url: "` + r.URL() + `", tenantId: "no-such-tenant"}) { secret } }`, "NOT_FOUND", ""},
			{`mutation { updateWebhookEndpoint(id: "` + ep.ID + `", input: {url: "gopher://x", description: "changed"}) { id } }`, "BAD_USER_INPUT", "url"},
			{`mutation { updateWebhookEndpoint(id: "nope", input: {description: "x"}) { id } }`, "NOT_FOUND", ""},
			{`mutation { deleteWebhookEndpoint(id: "nope") }`, "NOT_FOUND", ""},
			{`mutation { rotateWebhookSecret(id: "nope") { secret } }`, "NOT_FOUND", ""},
			{`mutation { redeliverWebhook(deliveryId: "nope") { id } }`, "NOT_FOUND", ""},
			{`mutation { sendTestWebhook(endpointId: "nope") { id } }`, "NOT_FOUND", ""},
			{`{ webhookDeliveries(endpointId: "nope") { edges { cursor } } }`, "NOT_FOUND", ""},
			{`{ webhookDeliveries(endpointId: "` + ep.ID + `", after: "garbage") { edges { cursor } } }`, "BAD_USER_INPUT", "after"},
			{`{ webhookDeliveries(endpointId: "` + ep.ID + `", first: 501) { edges { cursor } } }`, "BAD_USER_INPUT", "first"},
		} {
			e := s.MustFail(graphtest.Request{Token: s.AdminKey, Query: c.query}, c.code)
			if c.field != "" && e.Field() != c.field {
				t.Fatalf("%s: field %q, want %q", c.query, e.Field(), c.field)
			}
		}
		if e := endpointByID(t, s, ep.ID); e.Description != "billing" {
			t.Fatalf("a refused update changed the description to %q", e.Description)
		}
		if n := len(endpoints(t, s)); n != 1 {
			t.Fatalf("%d endpoints, want 1", n)
		}
	})

	t.Run("deliveries page newest first; redeliver and test keep the contract", func(t *testing.T) {
		s.Admin(`mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }`, map[string]any{"id": ep.ID}, nil)
		s.Admin(`mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }`, map[string]any{"id": ep.ID}, nil)
		hs := r.waitFor(3)
		if got := ofType(hs, webhook.Test); len(got) != 2 {
			t.Fatalf("%d webhook.test, want 2 (a test ignores the filter)", len(got))
		}
		var all []deliveryView
		after := ""
		for {
			var out struct {
				WebhookDeliveries struct {
					Edges    []struct{ Node deliveryView }
					PageInfo struct {
						HasNextPage bool
						EndCursor   *string
					}
				}
			}
			s.Admin(`query($e: ID!, $a: String) { webhookDeliveries(endpointId: $e, first: 2, after: $a) { edges { node { `+deliveryFields+` } } pageInfo { hasNextPage endCursor } } }`,
				map[string]any{"e": ep.ID, "a": after}, &out)
			for _, e := range out.WebhookDeliveries.Edges {
				all = append(all, e.Node)
			}
			if !out.WebhookDeliveries.PageInfo.HasNextPage {
				break
			}
			after = *out.WebhookDeliveries.PageInfo.EndCursor
		}
		if len(all) != 3 || all[0].EventType != webhook.Test || all[2].EventType != webhook.SessionCreated || all[0].ID < all[1].ID {
			t.Fatalf("pages %+v, want 3 deliveries newest first", all)
		}
		eventually(t, "deliveries to be recorded", func() bool {
			st := "DELIVERED"
			return len(deliveries(t, s, ep.ID, &st)) == 3
		})
		var out struct{ RedeliverWebhook deliveryView }
		s.Admin(`mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { `+deliveryFields+` } }`, map[string]any{"id": all[2].ID}, &out)
		if out.RedeliverWebhook.Status != "PENDING" || out.RedeliverWebhook.WebhookID != all[2].WebhookID {
			t.Fatalf("redelivered %+v", out.RedeliverWebhook)
		}
		hs = r.waitFor(4)
		if hs[3].ID != all[2].WebhookID {
			t.Fatalf("redelivery sent webhook-id %s, want %s", hs[3].ID, all[2].WebhookID)
		}
	})

	t.Run("every change is audited, never with a secret", func(t *testing.T) {
		s.Admin(`mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, map[string]any{"id": ep.ID}, nil)
		s.Admin(`mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {description: "renamed", tenantId: ""}) { id } }`, map[string]any{"id": ep.ID}, nil)
		s.Admin(`mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, map[string]any{"id": ep.ID}, nil)
		var out struct {
			AuditLog struct {
				Edges []struct {
					Node struct {
						Action        string
						Before, After *string
					}
				}
			}
		}
		s.Admin(`{ auditLog(first: 500) { edges { node { action before after } } } }`, nil, &out)
		actions := map[string]int{}
		for _, e := range out.AuditLog.Edges {
			actions[e.Node.Action]++
			for _, doc := range []*string{e.Node.Before, e.Node.After} {
				if doc != nil && strings.Contains(*doc, "whsec_") {
					t.Fatalf("audit entry %s carries a secret: %s", e.Node.Action, *doc)
				}
			}
		}
		for _, a := range []string{"webhook_endpoint.created", "webhook_endpoint.secret_rotated", "webhook_endpoint.updated", "webhook_endpoint.deleted", "webhook_endpoint.test_sent", "webhook_delivery.redelivered"} {
			if actions[a] == 0 {
				t.Fatalf("no %s in the audit log (%v)", a, actions)
			}
		}
		if n := len(endpoints(t, s)); n != 0 {
			t.Fatalf("%d endpoints after delete", n)
		}
	})
}

func TestWebhookAuthorization(t *testing.T) {
	s := startWebhooks(t)
	r := newReceiver(t)
	ep := createEndpoint(t, s, r, nil)
	w := s.NewWorkspace("authz")
	// A member holding every permission the portal knows is still not the admin key.
	member := s.Login(w.AdminEmail, w.Password, w.TenantID)
	ops := map[string]string{
		"createWebhookEndpoint": `mutation { createWebhookEndpoint(input: {url: "` + r.URL() + `"}) { secret } }`,
		"updateWebhookEndpoint": `mutation { updateWebhookEndpoint(id: "` + ep.ID + `", input: {description: "x"}) { id } }`,
		"deleteWebhookEndpoint": `mutation { deleteWebhookEndpoint(id: "` + ep.ID + `") }`,
		"rotateWebhookSecret":   `mutation { rotateWebhookSecret(id: "` + ep.ID + `") { secret } }`,
		"redeliverWebhook":      `mutation { redeliverWebhook(deliveryId: "x") { id } }`,
		"sendTestWebhook":       `mutation { sendTestWebhook(endpointId: "` + ep.ID + `") { id } }`,
		"webhookEndpoints":      `{ webhookEndpoints { id } }`,
		"webhookDeliveries":     `{ webhookDeliveries(endpointId: "` + ep.ID + `") { edges { cursor } } }`,
	}
	for name, q := range ops {
		t.Run(name+": a session token gets FORBIDDEN", func(t *testing.T) {
			s.MustFail(graphtest.Request{Query: q, Token: member.Token}, "FORBIDDEN")
		})
		t.Run(name+": no credential gets UNAUTHENTICATED", func(t *testing.T) {
			s.MustFail(graphtest.Request{Query: q}, "UNAUTHENTICATED")
		})
	}
	if e := endpointByID(t, s, ep.ID); e.Description != "" {
		t.Fatalf("a refused caller changed the endpoint: %+v", e)
	}
}
