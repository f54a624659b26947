package graph_test

// Operations through the production handler: metrics parsed from
// GET /metrics, the retention policy over GraphQL, and the drain.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"

	"github.com/sessiond/sessiond/graph"
	"github.com/sessiond/sessiond/graph/graphtest"
)

// scrape reads GET /metrics and parses it with Prometheus's text parser.
func scrape(t *testing.T, s *graphtest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := s.HTTP.Client().Get(s.HTTP.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", res.StatusCode)
	}
	p := expfmt.NewTextParser(pmodel.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sample finds the metric of family name whose labels include labels.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		for k, v := range labels {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a counter's or gauge's value, 0 when the series does not exist.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	m := sample(fams, name, labels)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// histCount is a histogram's observation count.
func histCount(fams map[string]*dto.MetricFamily, name string, labels map[string]string) uint64 {
	if m := sample(fams, name, labels); m != nil && m.Histogram != nil {
		return m.Histogram.GetSampleCount()
	}
	return 0
}

func TestMetricsMoveWithEvents(t *testing.T) {
	s := graphtest.Start(t, graphtest.WithMetrics())
	w := s.NewWorkspace("metrics")
	before := scrape(t, s)

	a := s.Login(w.MemberEmail, w.Password, "")
	b := s.Login(w.MemberEmail, w.Password, "")
	bad := s.Do(graphtest.Request{Query: `mutation { login(input: {email: "` + w.MemberEmail + `", password: "wrong"}) { token } }`})
	if len(bad.Errors) == 0 {
		t.Fatal("want the wrong password refused")
	}
	userDo(t, s, b.Token, `mutation($id: ID!) { revokeSession(id: $id) { id } }`, map[string]any{"id": a.ID}, nil)
	requireEnded(t, s, a.Token, "REVOKED_BY_USER")
	after := scrape(t, s)

	delta := func(name string, labels map[string]string) float64 {
		return value(after, name, labels) - value(before, name, labels)
	}
	t.Run("a revoke counts as ended with REVOKED_BY_USER", func(t *testing.T) {
		if got := delta("sessiond_sessions_ended_total", map[string]string{"reason": "REVOKED_BY_USER"}); got != 1 {
			t.Fatalf("ended{reason=REVOKED_BY_USER} moved by %v, want 1", got)
		}
	})
	t.Run("logins count by result", func(t *testing.T) {
		if got := delta("sessiond_logins_total", map[string]string{"result": "ok"}); got != 2 {
			t.Fatalf("logins{result=ok} moved by %v, want 2", got)
		}
		if got := delta("sessiond_logins_total", map[string]string{"result": "bad_credentials"}); got != 1 {
			t.Fatalf("logins{result=bad_credentials} moved by %v, want 1", got)
		}
		if got := delta("sessiond_sessions_created_total", map[string]string{"result": "ok"}); got != 2 {
			t.Fatalf("sessions_created{result=ok} moved by %v, want 2", got)
		}
	})
	t.Run("the live-session gauge follows creations and ends", func(t *testing.T) {
		if got := delta("sessiond_sessions_live", nil); got != 1 {
			t.Fatalf("sessions_live moved by %v, want 1 (two created, one ended)", got)
		}
	})
	t.Run("token validations count an ended session", func(t *testing.T) {
		ended := value(after, "sessiond_token_validations_total", map[string]string{"result": "ended", "cache": "miss"}) +
			value(after, "sessiond_token_validations_total", map[string]string{"result": "ended", "cache": "hit"})
		if ended < 1 {
			t.Fatalf("want at least one validation with result=ended, got %v", ended)
		}
	})
	t.Run("GraphQL requests count by operation and code", func(t *testing.T) {
		if got := delta("sessiond_graphql_requests_total", map[string]string{"operation": "mutation", "code": "OK"}); got < 3 {
			t.Fatalf("graphql_requests{mutation,OK} moved by %v, want at least 3", got)
		}
		if got := delta("sessiond_graphql_requests_total", map[string]string{"operation": "mutation", "code": "UNAUTHENTICATED"}); got < 1 {
			t.Fatalf("graphql_requests{mutation,UNAUTHENTICATED} moved by %v, want at least 1", got)
		}
	})
	t.Run("database statements are timed by kind", func(t *testing.T) {
		if histCount(after, "sessiond_db_query_duration_seconds", map[string]string{"operation": "update"}) == 0 {
			t.Fatal("want update statements in sessiond_db_query_duration_seconds")
		}
	})
	t.Run("the Go and process collectors are on", func(t *testing.T) {
		if after["go_goroutines"] == nil || after["process_start_time_seconds"] == nil {
			t.Fatal("want go_goroutines and process_start_time_seconds")
		}
	})
}

func TestMetricsIdleExpiryShowsInSchedulerLag(t *testing.T) {
	s, clk := startFake(t, graphtest.WithMetrics())
	w := s.NewWorkspace("lag")
	setPolicy(t, s, w.TenantID, idle(30, "MINUTES"))
	ses := s.CreateSession(w.MemberID, w.TenantID)
	before := histCount(scrape(t, s), "sessiond_expiry_lag_seconds", nil)
	clk.Advance(31 * time.Minute)
	waitForEnd(t, s, w.MemberID, ses.ID)
	after := scrape(t, s)
	if got := histCount(after, "sessiond_expiry_lag_seconds", nil) - before; got != 1 {
		t.Fatalf("expiry lag histogram gained %d observations, want 1", got)
	}
	if got := value(after, "sessiond_sessions_ended_total", map[string]string{"reason": "IDLE_TIMEOUT"}); got != 1 {
		t.Fatalf("ended{reason=IDLE_TIMEOUT} = %v, want 1", got)
	}
}

func TestMetricsWebsocketsAndPushLatency(t *testing.T) {
	s := graphtest.Start(t, graphtest.WithMetrics())
	w := s.NewWorkspace("push")
	a := s.Login(w.MemberEmail, w.Password, "")
	b := s.Login(w.MemberEmail, w.Password, "")
	ws := connect(t, s, bearerInit(a.Token))
	ws.subscribe("1", `subscription { sessionTerminated { id endReason } }`, nil)
	waitFor(t, "the subscription to be counted", func() bool {
		return value(scrape(t, s), "sessiond_websocket_subscriptions", map[string]string{"protocol": transportWS}) == 1
	})
	if got := value(scrape(t, s), "sessiond_websocket_connections", map[string]string{"protocol": transportWS}); got != 1 {
		t.Fatalf("websocket_connections{graphql-transport-ws} = %v, want 1", got)
	}
	userDo(t, s, b.Token, `mutation($id: ID!) { revokeSession(id: $id) { id } }`, map[string]any{"id": a.ID}, nil)
	var ended any
	ws.next("1", &ended)
	waitFor(t, "the push to be timed", func() bool {
		return histCount(scrape(t, s), "sessiond_push_latency_seconds", map[string]string{"protocol": transportWS}) == 1
	})
}

func TestMetricsToken(t *testing.T) {
	s := graphtest.Start(t, graphtest.WithMetrics())
	h := graph.NewServerWith(s.App, graph.ServerOptions{ServeMetrics: true, MetricsToken: "s3cret"})
	get := func(auth string) int {
		req, _ := http.NewRequest(http.MethodGet, "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, c := range []struct {
		name, auth string
		want       int
	}{
		{"no token is refused", "", http.StatusUnauthorized},
		{"a wrong token is refused", "Bearer nope", http.StatusUnauthorized},
		{"the token is accepted", "Bearer s3cret", http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := get(c.auth); got != c.want {
				t.Fatalf("status %d, want %d", got, c.want)
			}
		})
	}
}

func TestRetentionPolicyAPI(t *testing.T) {
	s := graphtest.Start(t)
	w := s.NewWorkspace("retention")
	member := s.Login(w.MemberEmail, w.Password, "")
	const read = `{ retentionPolicy { endedSessionsDays auditDays endedSessionsDaysSet auditDaysSet } }`
	type policyView struct {
		EndedSessionsDays, AuditDays       int
		EndedSessionsDaysSet, AuditDaysSet bool
	}

	t.Run("the server's defaults apply until the environment sets its own", func(t *testing.T) {
		var out struct{ RetentionPolicy policyView }
		s.Admin(read, nil, &out)
		if want := (policyView{EndedSessionsDays: 0, AuditDays: 0}); out.RetentionPolicy != want {
			// graphtest starts the app with no retention flags: 0 (forever).
			t.Fatalf("got %+v, want %+v", out.RetentionPolicy, want)
		}
	})
	t.Run("the admin key changes it, audited", func(t *testing.T) {
		var out struct{ UpdateRetentionPolicy policyView }
		s.Admin(`mutation { updateRetentionPolicy(input: {endedSessionsDays: 7, auditDays: 90}) { endedSessionsDays auditDays endedSessionsDaysSet auditDaysSet } }`, nil, &out)
		if want := (policyView{7, 90, true, true}); out.UpdateRetentionPolicy != want {
			t.Fatalf("got %+v, want %+v", out.UpdateRetentionPolicy, want)
		}
		var found bool
		for _, e := range auditOf(t, s, "") {
			found = found || e.Action == "retention.updated"
		}
		if !found {
			t.Fatal("want a retention.updated audit entry")
		}
	})
	t.Run("useServerDefaults forgets the environment's values", func(t *testing.T) {
		var out struct{ UpdateRetentionPolicy policyView }
		s.Admin(`mutation { updateRetentionPolicy(input: {useServerDefaults: true}) { endedSessionsDays auditDays endedSessionsDaysSet auditDaysSet } }`, nil, &out)
		if out.UpdateRetentionPolicy.EndedSessionsDaysSet || out.UpdateRetentionPolicy.AuditDaysSet {
			t.Fatalf("got %+v, want both unset", out.UpdateRetentionPolicy)
		}
	})
	t.Run("a negative value is BAD_USER_INPUT", func(t *testing.T) {
		s.MustFail(graphtest.Request{Query: `mutation { updateRetentionPolicy(input: {auditDays: -1}) { auditDays } }`, Token: s.AdminKey}, "BAD_USER_INPUT")
	})
	for _, c := range []struct{ name, query string }{
		{"retentionPolicy", read},
		{"updateRetentionPolicy", `mutation { updateRetentionPolicy(input: {auditDays: 1}) { auditDays } }`},
	} {
		t.Run(c.name+": a member gets FORBIDDEN", func(t *testing.T) {
			s.MustFail(graphtest.Request{Query: c.query, Token: member.Token}, "FORBIDDEN")
		})
		t.Run(c.name+": no credential gets UNAUTHENTICATED", func(t *testing.T) {
			s.MustFail(graphtest.Request{Query: c.query}, "UNAUTHENTICATED")
		})
	}
}

func TestDrain(t *testing.T) {
	s := graphtest.Start(t)
	w := s.NewWorkspace("drain")
	a := s.Login(w.MemberEmail, w.Password, "")
	ws := connect(t, s, bearerInit(a.Token))
	ws.subscribe("1", `subscription { sessionTerminated { id } }`, nil)
	sse := subscribeSSE(t, s, a.Token, `subscription { sessionEvents { kind } }`)
	waitSubscribers(t, s, 3) // the connection's watch, its subscription, the SSE stream

	ready := func() int {
		res, err := s.HTTP.Client().Get(s.HTTP.URL + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		_ = res.Body.Close()
		return res.StatusCode
	}
	if got := ready(); got != http.StatusOK {
		t.Fatalf("before the drain /readyz = %d, want 200", got)
	}
	if n := s.Graph.Drain(); n != 1 {
		t.Fatalf("Drain closed %d websockets, want 1", n)
	}

	t.Run("an open websocket closes with 1012, not 4403", func(t *testing.T) {
		ws.in(t).closed(graph.CloseServiceRestart, "restart")
	})
	t.Run("an SSE stream ends (with complete)", func(t *testing.T) {
		timeout := time.After(readTimeout)
		for {
			select {
			case ev, ok := <-sse.events:
				if !ok {
					return
				}
				if ev.Event != "complete" {
					t.Fatalf("want only complete before the end, got %q: %s", ev.Event, ev.Data)
				}
			case <-timeout:
				t.Fatal("want the stream to end, it stayed open")
			}
		}
	})
	t.Run("/readyz answers 503 at once", func(t *testing.T) {
		if got := ready(); got != http.StatusServiceUnavailable {
			t.Fatalf("/readyz = %d, want 503", got)
		}
	})
	t.Run("a new websocket upgrade is refused", func(t *testing.T) {
		_, res, err := dial(t, s, transportWS, nil)
		if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
			status := 0
			if res != nil {
				status = res.StatusCode
			}
			t.Fatalf("want the upgrade refused with 503, got err %v status %d", err, status)
		}
	})
	t.Run("plain requests are still served", func(t *testing.T) {
		requireLive(t, s, a.Token)
	})
	t.Run("the session did not end", func(t *testing.T) {
		requireActive(t, s, w.MemberID, a.ID)
	})
}

func TestDrainHandsTheSchedulerOver(t *testing.T) {
	nodes := cluster(t, 2, nil)
	waitFor(t, "exactly one instance to lead", func() bool { return nodes[0].App.Scheduler.Leading() != nodes[1].App.Scheduler.Leading() })
	leader, follower := nodes[0], nodes[1]
	if !leader.App.Scheduler.Leading() {
		leader, follower = follower, leader
	}
	// While the leader's app stays open (its requests may still run), the
	// drain releases the lock: the follower takes over at its next try,
	// not when the leader's connection dies.
	leader.Graph.Drain()
	if err := leader.App.Drain(context.Background()); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if leader.App.Scheduler.Leading() {
		t.Fatal("the drained instance still schedules")
	}
	waitFor(t, "the other instance to take over", follower.App.Scheduler.Leading)
}
