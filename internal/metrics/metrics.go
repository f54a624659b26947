// Package metrics owns sessiond's Prometheus registry: every metric the
// instance exports, the Go runtime and process collectors, and the /metrics
// handler. Nothing here is global: an App creates one Metrics and hands it
// to the packages that report, each of which declares the small observer
// interface it needs (session.Observer, events.Observer, wstransport's
// Observer, db.QueryObserver); *Metrics implements them all.
//
// Label values are bounded: end reasons, error codes, protocols, operation
// kinds. No tenant, user or session id is ever a label.
//
// A nil *Metrics is valid and records nothing, so tests and tools that do
// not care need not build one.
package metrics

import (
	"crypto/subtle"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one instance's metrics.
type Metrics struct {
	reg *prometheus.Registry

	liveSessions   prometheus.Gauge
	created        *prometheus.CounterVec
	ended          *prometheus.CounterVec
	logins         *prometheus.CounterVec
	validations    *prometheus.CounterVec
	expiryLag      prometheus.Histogram
	expiringSoon   prometheus.Counter
	pushLatency    *prometheus.HistogramVec
	wsConns        *prometheus.GaugeVec
	wsSubs         *prometheus.GaugeVec
	slowConsumers  prometheus.Counter
	busPublished   prometheus.Counter
	busReceived    prometheus.Counter
	busResyncs     *prometheus.CounterVec
	busLag         prometheus.Histogram
	flushSize      prometheus.Histogram
	flushDuration  prometheus.Histogram
	dbQuery        *prometheus.HistogramVec
	dbWriteWait    prometheus.Histogram
	graphql        *prometheus.CounterVec
	purged         *prometheus.CounterVec
	purgeRuns      *prometheus.CounterVec
	webhooks       *prometheus.CounterVec
	webhookLatency prometheus.Histogram
	ready          prometheus.Gauge
	draining       prometheus.Gauge

	// validation counters, resolved once: the validation path must not
	// look up label values on every request.
	validationOK [2]prometheus.Counter // [miss, hit]
	live         atomic.Int64
}

// latencyBuckets span a millisecond to ten seconds.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New returns the metrics of one instance, registered on a registry of
// their own along with the Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	// The runtime and process collectors read the runtime's metrics and
	// /proc (the process collector's network statistics alone cost more
	// than all of sessiond's own metrics): cached for a second, a scrape
	// storm costs the request path nothing.
	f(cached(collectors.NewGoCollector(), time.Second))
	f(cached(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), time.Second))
	f(buildInfo())

	m.liveSessions = prometheus.NewGauge(prometheus.GaugeOpts{Name: "sessiond_sessions_live",
		Help: "Sessions not ended (cluster-wide: moved by every instance's CREATED and TERMINATED events, re-based on a count of the live-session index every 30 s)."})
	m.created = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sessiond_sessions_created_total",
		Help: "Session creations by result: ok, or the error code in lower case."}, []string{"result"})
	m.ended = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sessiond_sessions_ended_total",
		Help: "Sessions ended by this instance, by reason (the SessionEndReason values)."}, []string{"reason"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sessiond_logins_total",
		Help: "Password logins by result: ok, bad_credentials, rate_limited, invalid (malformed input), error."}, []string{"result"})
	m.validations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sessiond_token_validations_total",
		Help: "Session token validations by result (ok, unknown, ended, error) and token cache (hit, miss)."}, []string{"result", "cache"})
	m.expiryLag = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sessiond_expiry_lag_seconds",
		Help: "Time from a session's deadline (idle or absolute) to its end being written.", Buckets: latencyBuckets})
	m.expiringSoon = prometheus.NewCounter(prometheus.CounterOpts{Name: "sessiond_expiring_soon_sent_total",
		Help: "EXPIRING_SOON warnings this instance published."})
	m.pushLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sessiond_push_latency_seconds",
		Help:    "Time from an event's publication (right after its commit, or its arrival from another instance) to its message being written to a websocket.",
		Buckets: latencyBuckets}, []string{"protocol"})
	m.wsConns = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sessiond_websocket_connections",
		Help: "Open websocket connections by sub-protocol."}, []string{"protocol"})
	m.wsSubs = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sessiond_websocket_subscriptions",
		Help: "Running websocket operations by sub-protocol."}, []string{"protocol"})
	m.slowConsumers = prometheus.NewCounter(prometheus.CounterOpts{Name: "sessiond_slow_consumer_disconnects_total",
		Help: "Connections closed because they did not read their events fast enough (close code 4604)."})
	m.busPublished = prometheus.NewCounter(prometheus.CounterOpts{Name: "sessiond_bus_published_events_total",
		Help: "Events this instance published on the event bus."})
	m.busReceived = prometheus.NewCounter(prometheus.CounterOpts{Name: "sessiond_bus_received_events_total",
		Help: "Events received from other instances (PostgreSQL NOTIFY, re-syncs and catch-ups)."})
	m.busResyncs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sessiond_bus_resyncs_total",
		Help: "PostgreSQL listener re-syncs: kind=reconnect after a lost listener, kind=catch_up when a periodic check found missed terminations."}, []string{"kind"})
	m.busLag = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sessiond_bus_notify_lag_seconds",
		Help: "Time from a NOTIFY being sent by another instance to its arrival here (includes clock skew between hosts).", Buckets: latencyBuckets})
	m.flushSize = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sessiond_activity_flush_sessions",
		Help: "Sessions whose activity one flush wrote.", Buckets: prometheus.ExponentialBuckets(1, 4, 10)})
	m.flushDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sessiond_activity_flush_duration_seconds",
		Help: "Time one activity flush took.", Buckets: latencyBuckets})
	m.dbWriteWait = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sessiond_db_write_wait_seconds",
		Help: "SQLite only: how long a write transaction queued for the process's write turn (only those that found it taken).", Buckets: latencyBuckets})
	m.dbQuery = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sessiond_db_query_duration_seconds",
		Help: "Database statement duration by operation kind (select, insert, update, delete, other).", Buckets: latencyBuckets}, []string{"operation"})
	m.graphql = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sessiond_graphql_requests_total",
		Help: "GraphQL operations by type (query, mutation, subscription, none when the document did not parse) and outcome (OK or the first error's extensions.code)."}, []string{"operation", "code"})
	m.purged = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sessiond_retention_purged_rows_total",
		Help: "Rows deleted by retention, by table (sessions, webhook_deliveries, audit_log)."}, []string{"table"})
	m.purgeRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sessiond_retention_purge_runs_total",
		Help: "Retention runs by result (ok, error, skipped: another instance purges)."}, []string{"result"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sessiond_webhook_deliveries_total",
		Help: "Webhook delivery attempts by result (see Metrics.WebhookDelivered)."}, []string{"result"})
	m.webhookLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sessiond_webhook_delivery_duration_seconds",
		Help: "Time one webhook delivery attempt took.", Buckets: latencyBuckets})
	m.ready = prometheus.NewGauge(prometheus.GaugeOpts{Name: "sessiond_ready",
		Help: "1 when the last readiness check (/readyz, and every scrape) found the database answering and the instance not draining."})
	m.draining = prometheus.NewGauge(prometheus.GaugeOpts{Name: "sessiond_draining",
		Help: "1 once the instance received SIGTERM and is draining its connections."})
	for _, c := range []prometheus.Collector{m.liveSessions, m.created, m.ended, m.logins, m.validations, m.expiryLag,
		m.expiringSoon, m.pushLatency, m.wsConns, m.wsSubs, m.slowConsumers, m.busPublished, m.busReceived, m.busResyncs,
		m.busLag, m.flushSize, m.flushDuration, m.dbQuery, m.dbWriteWait, m.graphql, m.purged, m.purgeRuns, m.webhooks, m.webhookLatency,
		m.ready, m.draining} {
		f(c)
	}
	m.validationOK = [2]prometheus.Counter{m.validations.WithLabelValues("ok", "miss"), m.validations.WithLabelValues("ok", "hit")}
	return m
}

// buildInfo is sessiond_build_info: the module version and Go version.
func buildInfo() prometheus.Collector {
	version, goVersion := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version, goVersion = bi.Main.Version, bi.GoVersion
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sessiond_build_info", Help: "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion}})
	g.Set(1)
	return g
}

// cachedCollector replays a collector's last collection for ttl.
type cachedCollector struct {
	c   prometheus.Collector
	ttl time.Duration

	mu   sync.Mutex
	at   time.Time
	last []prometheus.Metric
}

func cached(c prometheus.Collector, ttl time.Duration) prometheus.Collector {
	return &cachedCollector{c: c, ttl: ttl}
}

func (c *cachedCollector) Describe(ch chan<- *prometheus.Desc) { c.c.Describe(ch) }

func (c *cachedCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil || time.Since(c.at) >= c.ttl {
		buf := make(chan prometheus.Metric, 256)
		go func() { c.c.Collect(buf); close(buf) }()
		c.last = c.last[:0]
		for m := range buf {
			c.last = append(c.last, m)
		}
		c.at = time.Now()
	}
	for _, m := range c.last {
		ch <- m
	}
}

// Registry is the registry behind Handler, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// DefaultMaxAge is how long sessiond serves one rendering of /metrics to
// every scrape (-metrics-max-age).
const DefaultMaxAge = time.Second

// HandlerOpts tune Handler.
type HandlerOpts struct {
	// Token, when non-empty, is required as `Authorization: Bearer
	// <token>` (compared in constant time); others get 401.
	Token string
	// MaxAge, when positive, serves one rendering to every scrape within
	// MaxAge of it (per response format), so that several scrapers, or a
	// scrape storm, cost one gathering: a rendering costs ~0.35 ms of CPU
	// and ~160 KB of garbage, a cached answer a copy of ~22 KB. Values are
	// then up to MaxAge old, which a scrape interval of seconds never
	// notices. Zero renders every scrape.
	MaxAge time.Duration
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler(o HandlerOpts) http.Handler {
	// Uncompressed: a scrape is ~20 KB, and gzip would double its CPU cost.
	var h http.Handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, DisableCompression: true})
	if o.MaxAge > 0 {
		h = &renderCache{next: h, maxAge: o.MaxAge, byFormat: map[string]*rendering{}}
	}
	if o.Token == "" {
		return h
	}
	want := []byte("Bearer " + o.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// renderCache keeps the last rendering of next per Accept header (the
// exposition format promhttp negotiates from it) for maxAge. Scrapes that
// arrive while one renders wait for it rather than render again.
type renderCache struct {
	next     http.Handler
	maxAge   time.Duration
	mu       sync.Mutex
	byFormat map[string]*rendering
}

// maxFormats bounds the cache: a scraper sends one of a few Accept
// values; anything beyond is rendered without being kept.
const maxFormats = 8

type rendering struct {
	at     time.Time
	status int
	header http.Header
	body   []byte
}

func (c *renderCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Accept")
	c.mu.Lock()
	e := c.byFormat[key]
	if e == nil || time.Since(e.at) >= c.maxAge {
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		c.next.ServeHTTP(rec, r)
		e = &rendering{at: time.Now(), status: rec.status, header: rec.header, body: rec.body}
		if rec.status == http.StatusOK && (len(c.byFormat) < maxFormats || c.byFormat[key] != nil) {
			c.byFormat[key] = e
		}
	}
	c.mu.Unlock()
	for k, v := range e.header {
		w.Header()[k] = v
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body)
}

// recorder is the http.ResponseWriter a rendering is written to.
type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(status int)      { r.status = status }
func (r *recorder) Write(p []byte) (int, error) { r.body = append(r.body, p...); return len(p), nil }

// Sessions.

// SessionCreated counts a creation attempt; code is "" on success.
func (m *Metrics) SessionCreated(code string) {
	if m == nil {
		return
	}
	m.created.WithLabelValues(result(code)).Inc()
}

// SessionsEnded counts ends committed by this instance.
func (m *Metrics) SessionsEnded(reason string, n int) {
	if m == nil {
		return
	}
	m.ended.WithLabelValues(bounded(reason)).Add(float64(n))
}

// Expired records the lag of one session ended at its deadline.
func (m *Metrics) Expired(lag time.Duration) {
	if m == nil {
		return
	}
	m.expiryLag.Observe(max(lag, 0).Seconds())
}

// ExpiringSoonSent counts EXPIRING_SOON warnings.
func (m *Metrics) ExpiringSoonSent(n int) {
	if m == nil {
		return
	}
	m.expiringSoon.Add(float64(n))
}

// Login counts one password login by result (ok, bad_credentials,
// rate_limited, invalid, error).
func (m *Metrics) Login(res string) {
	if m == nil {
		return
	}
	m.logins.WithLabelValues(res).Inc()
}

// Validated counts one token validation; res is ok, unknown, ended or error.
func (m *Metrics) Validated(res string, cacheHit bool) {
	if m == nil {
		return
	}
	hit := 0
	if cacheHit {
		hit = 1
	}
	if res == "ok" {
		m.validationOK[hit].Inc()
		return
	}
	m.validations.WithLabelValues(res, [2]string{"miss", "hit"}[hit]).Inc()
}

// ActivityFlushed records one flush of n sessions' activity.
func (m *Metrics) ActivityFlushed(n int, d time.Duration) {
	if m == nil {
		return
	}
	m.flushSize.Observe(float64(n))
	m.flushDuration.Observe(d.Seconds())
}

// Live sessions: moved by events, re-based by a count.

// LiveChanged moves the live-session gauge by delta.
func (m *Metrics) LiveChanged(delta int) {
	if m == nil {
		return
	}
	m.liveSessions.Set(float64(max(m.live.Add(int64(delta)), 0)))
}

// SetLive re-bases the live-session gauge on a count.
func (m *Metrics) SetLive(n int) {
	if m == nil {
		return
	}
	m.live.Store(int64(n))
	m.liveSessions.Set(float64(n))
}

// Event bus.

// Published counts events published on this instance.
func (m *Metrics) Published(n int) {
	if m == nil {
		return
	}
	m.busPublished.Add(float64(n))
}

// Received counts events received from other instances.
func (m *Metrics) Received(n int, lag time.Duration) {
	if m == nil {
		return
	}
	m.busReceived.Add(float64(n))
	if lag >= 0 {
		m.busLag.Observe(lag.Seconds())
	}
}

// Resynced counts a re-sync of kind reconnect or catch_up.
func (m *Metrics) Resynced(kind string) {
	if m == nil {
		return
	}
	m.busResyncs.WithLabelValues(kind).Inc()
}

// Websockets.

// ConnOpened and ConnClosed move the connection gauge of a protocol.
func (m *Metrics) ConnOpened(proto string) {
	if m != nil {
		m.wsConns.WithLabelValues(proto).Inc()
	}
}

// ConnClosed: see ConnOpened.
func (m *Metrics) ConnClosed(proto string) {
	if m != nil {
		m.wsConns.WithLabelValues(proto).Dec()
	}
}

// OperationStarted and OperationEnded move the subscription gauge.
func (m *Metrics) OperationStarted(proto string) {
	if m != nil {
		m.wsSubs.WithLabelValues(proto).Inc()
	}
}

// OperationEnded: see OperationStarted.
func (m *Metrics) OperationEnded(proto string) {
	if m != nil {
		m.wsSubs.WithLabelValues(proto).Dec()
	}
}

// Pushed records the latency of one event written to a websocket.
func (m *Metrics) Pushed(proto string, d time.Duration) {
	if m != nil {
		m.pushLatency.WithLabelValues(proto).Observe(max(d, 0).Seconds())
	}
}

// SlowConsumerDisconnected counts a connection closed with 4604.
func (m *Metrics) SlowConsumerDisconnected() {
	if m != nil {
		m.slowConsumers.Inc()
	}
}

// Database and API.

// Query records one database statement (operation: SELECT, INSERT, …).
func (m *Metrics) Query(operation string, d time.Duration) {
	if m == nil {
		return
	}
	op := "other"
	switch operation {
	case "SELECT", "INSERT", "UPDATE", "DELETE":
		op = strings.ToLower(operation)
	}
	m.dbQuery.WithLabelValues(op).Observe(d.Seconds())
}

// WriteWait records how long a SQLite writer queued for the write turn.
func (m *Metrics) WriteWait(d time.Duration) {
	if m == nil {
		return
	}
	m.dbWriteWait.Observe(d.Seconds())
}

// GraphQLRequest counts one operation by type and outcome code ("" is OK).
func (m *Metrics) GraphQLRequest(operation, code string) {
	if m == nil {
		return
	}
	if code == "" {
		code = "OK"
	}
	switch operation {
	case "query", "mutation", "subscription":
	default:
		operation = "none"
	}
	m.graphql.WithLabelValues(operation, bounded(code)).Inc()
}

// Retention.

// Purged counts rows deleted by retention from table.
func (m *Metrics) Purged(table string, n int) {
	if m != nil && n > 0 {
		m.purged.WithLabelValues(table).Add(float64(n))
	}
}

// PurgeRun counts one retention run by result (ok, error, skipped).
func (m *Metrics) PurgeRun(res string) {
	if m != nil {
		m.purgeRuns.WithLabelValues(res).Inc()
	}
}

// Webhooks is what webhook delivery reports. *Metrics implements it; the
// webhook dispatcher declares (or takes) this interface and calls it once
// per delivery attempt.
type Webhooks interface {
	// WebhookDelivered records one attempt: result is a bounded word such
	// as "delivered", "retrying", "failed", "disabled" (never a URL or id).
	WebhookDelivered(result string, d time.Duration)
}

var _ Webhooks = (*Metrics)(nil)

// WebhookDelivered implements Webhooks.
func (m *Metrics) WebhookDelivered(res string, d time.Duration) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(bounded(strings.ToLower(res))).Inc()
	m.webhookLatency.Observe(d.Seconds())
}

// Readiness.

// SetReady records the result of a readiness check.
func (m *Metrics) SetReady(ok bool) {
	if m != nil {
		m.ready.Set(b2f(ok))
	}
}

// SetDraining records that the instance is draining.
func (m *Metrics) SetDraining(on bool) {
	if m != nil {
		m.draining.Set(b2f(on))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func result(code string) string {
	if code == "" {
		return "ok"
	}
	return strings.ToLower(bounded(code))
}

var labelWord = regexp.MustCompile(`^[A-Za-z_]{1,40}$`)

// bounded keeps label values to short words, so a stray message can never
// become an unbounded label set.
func bounded(s string) string {
	if labelWord.MatchString(s) {
		return s
	}
	return "OTHER"
}
