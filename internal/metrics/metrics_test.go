package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/metrics"
)

// touched returns metrics with one observation on every series family,
// so that Gather lists them all.
func touched() *metrics.Metrics {
	m := metrics.New()
	m.SessionCreated("")
	m.SessionsEnded("LOGOUT", 1)
	m.Expired(time.Second)
	m.ExpiringSoonSent(1)
	m.Login("ok")
	m.Validated("ok", true)
	m.ActivityFlushed(1, time.Millisecond)
	m.LiveChanged(1)
	m.Published(1)
	m.Received(1, time.Millisecond)
	m.Resynced("reconnect")
	m.ConnOpened("graphql-transport-ws")
	m.OperationStarted("graphql-transport-ws")
	m.Pushed("graphql-transport-ws", time.Millisecond)
	m.SlowConsumerDisconnected()
	m.Query("SELECT", time.Millisecond)
	m.GraphQLRequest("query", "")
	m.Purged("sessions", 1)
	m.PurgeRun("ok")
	m.WebhookDelivered("delivered", time.Millisecond)
	m.SetReady(true)
	m.SetDraining(false)
	return m
}

func TestNamesAreSessiondWithUnits(t *testing.T) {
	fams, err := touched().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		name := f.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		if !strings.HasPrefix(name, "sessiond_") {
			t.Errorf("metric %s is not under sessiond_", name)
		}
		for _, l := range f.GetMetric() {
			for _, lp := range l.GetLabel() {
				switch lp.GetName() {
				case "tenant", "tenant_id", "user", "user_id", "session", "session_id":
					t.Errorf("metric %s has an unbounded label %s", name, lp.GetName())
				}
			}
		}
	}
}

var metricName = regexp.MustCompile(`sessiond_[a-z_]+`)

// The example dashboard and alert rules name only metrics that exist.
func TestDashboardAndAlertsUseExistingMetrics(t *testing.T) {
	fams, err := touched().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range fams {
		have[f.GetName()] = true
	}
	for _, file := range []string{"../../docs/ops/alerts.yml", "../../docs/ops/grafana-dashboard.json"} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range metricName.FindAllString(string(raw), -1) {
			base := n
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if b, ok := strings.CutSuffix(n, suffix); ok && have[b] {
					base = b
				}
			}
			if !have[base] {
				t.Errorf("%s names %s, which sessiond does not export", file, n)
			}
		}
	}
}

func TestHandlerToken(t *testing.T) {
	h := metrics.New().Handler(metrics.HandlerOpts{Token: "tok"})
	for _, c := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer other", 401}, {"Bearer tok", 200}} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("Authorization %q: status %d, want %d", c.auth, rec.Code, c.want)
		}
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *metrics.Metrics
	m.SessionCreated("")
	m.Query("SELECT", time.Millisecond)
	m.WebhookDelivered("delivered", time.Second)
}

func TestHandlerServesOneRenderingWithinMaxAge(t *testing.T) {
	m := metrics.New()
	get := func(h http.Handler, accept, auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	created := regexp.MustCompile(`(?m)^sessiond_sessions_created_total\{result="ok"\} (\d+)$`)
	count := func(rec *httptest.ResponseRecorder) string {
		t.Helper()
		got := created.FindStringSubmatch(rec.Body.String())
		if got == nil {
			t.Fatalf("no sessiond_sessions_created_total{result=\"ok\"} in:\n%.400s", rec.Body.String())
		}
		return got[1]
	}

	t.Run("within MaxAge the same rendering, after it a fresh one", func(t *testing.T) {
		h := m.Handler(metrics.HandlerOpts{MaxAge: 100 * time.Millisecond})
		m.SessionCreated("")
		if got := count(get(h, "", "")); got != "1" {
			t.Fatalf("first scrape: %s created, want 1", got)
		}
		m.SessionCreated("")
		if got := count(get(h, "", "")); got != "1" {
			t.Fatalf("scrape within MaxAge: %s created, want the cached 1", got)
		}
		time.Sleep(120 * time.Millisecond)
		if got := count(get(h, "", "")); got != "2" {
			t.Fatalf("scrape after MaxAge: %s created, want 2", got)
		}
	})
	t.Run("zero renders every scrape", func(t *testing.T) {
		h := m.Handler(metrics.HandlerOpts{})
		before := count(get(h, "", ""))
		m.SessionCreated("")
		if after := count(get(h, "", "")); after == before {
			t.Fatalf("created stayed %s after one more creation", after)
		}
	})
	t.Run("each format has its own rendering", func(t *testing.T) {
		h := m.Handler(metrics.HandlerOpts{MaxAge: time.Hour})
		text := get(h, "", "")
		pb := get(h, "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "")
		if ct := pb.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/vnd.google.protobuf") {
			t.Fatalf("protobuf scrape after a text one answered %q", ct)
		}
		if ct := get(h, "", "").Header().Get("Content-Type"); ct != text.Header().Get("Content-Type") || !strings.HasPrefix(ct, "text/plain") {
			t.Fatalf("text scrape answered %q, want %q", ct, text.Header().Get("Content-Type"))
		}
	})
	t.Run("the token is checked on every scrape, cached or not", func(t *testing.T) {
		h := m.Handler(metrics.HandlerOpts{Token: "tok", MaxAge: time.Hour})
		if rec := get(h, "", "Bearer tok"); rec.Code != http.StatusOK {
			t.Fatalf("with the token: %d", rec.Code)
		}
		if rec := get(h, "", ""); rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), "sessiond_") {
			t.Fatalf("without the token after a cached rendering: %d %.100s", rec.Code, rec.Body.String())
		}
	})
}
