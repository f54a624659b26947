// Package graphtest starts a real sessiond (SQLite file, production wiring,
// httptest server) for tests and speaks GraphQL over HTTP to it.
package graphtest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for creating test databases

	"github.com/sessiond/sessiond/graph"
	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/metrics"
	"github.com/sessiond/sessiond/internal/secret"
	"github.com/sessiond/sessiond/internal/webhook"
)

// Server is a running sessiond under test.
type Server struct {
	t   testing.TB
	App *app.App
	// Graph is the handler under HTTP, with its drain control.
	Graph    *graph.Server
	HTTP     *httptest.Server
	URL      string // the /graphql endpoint
	AdminKey string
	DBPath   string
	// BaseSubscribers is how many bus subscriptions the idle app holds by
	// itself (the session service and scheduler watch events).
	BaseSubscribers int
}

// Option changes the configuration a test server starts with.
type Option func(*app.Config)

// WithClock runs the server on a controllable clock.
func WithClock(c clock.Clock) Option { return func(cfg *app.Config) { cfg.Clock = c } }

// InCluster marks the server as one of several on one PostgreSQL database.
func InCluster() Option { return func(cfg *app.Config) { cfg.SingleInstance = false } }

// WithAdminKey fixes the admin key, e.g. for several instances of one environment.
func WithAdminKey(key string) Option { return func(cfg *app.Config) { cfg.AdminKey = key } }

// WithInitTimeout closes websockets that send no connection_init within d.
func WithInitTimeout(d time.Duration) Option {
	return func(cfg *app.Config) { cfg.WebsocketInitTimeout = d }
}

// WithLimits changes the server's limits (see graph.Limits) from their defaults.
func WithLimits(f func(*graph.Limits)) Option { return func(cfg *app.Config) { f(&cfg.Limits) } }

// WithWebhooks changes the webhook configuration (see webhook.Config);
// tests usually allow insecure URLs to reach their httptest receivers.
func WithWebhooks(f func(*webhook.Config)) Option { return func(cfg *app.Config) { f(&cfg.Webhooks) } }

// WithMetrics gives the app metrics, served on GET /metrics.
func WithMetrics() Option { return func(cfg *app.Config) { cfg.Metrics = metrics.New() } }

// WithDatabase reuses a database file, e.g. to test a restart.
func WithDatabase(path string) Option { return func(cfg *app.Config) { cfg.Database = path } }

// Start opens a fresh database, wires the app exactly as production does and
// serves it over httptest. Everything closes at cleanup. The database is a
// SQLite file in t.TempDir(), or, when SESSIOND_TEST_POSTGRES is set, a new
// PostgreSQL database made for this test (see FreshDatabase).
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	key := secret.NewToken(secret.AdminKeyPrefix)
	cfg := app.Config{Database: FreshDatabase(t), AdminKey: key, SingleInstance: true}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := app.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open app: %v", err)
	}
	h := graph.NewServer(a)
	hs := httptest.NewUnstartedServer(h)
	graph.ConfigureServer(hs.Config, cfg.Limits) // as server.go does
	hs.Start()
	s := &Server{t: t, App: a, Graph: h, HTTP: hs, URL: hs.URL + "/graphql", AdminKey: cfg.AdminKey, DBPath: cfg.Database, BaseSubscribers: a.Bus.Subscribers()}
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		_ = a.Close()
	})
	return s
}

// PostgresEnv names the variable that points the suite at PostgreSQL: a
// URL of a database the tests may create other databases from, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
const PostgresEnv = "SESSIOND_TEST_POSTGRES"

// FreshDatabase returns the DSN of an empty database for one test: a new
// SQLite file, or a new PostgreSQL database dropped at cleanup when
// SESSIOND_TEST_POSTGRES is set.
func FreshDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		return filepath.Join(t.TempDir(), "sessiond.db")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", PostgresEnv, err)
	}
	name := "sessiond_test_" + strings.ToLower(strings.ReplaceAll(secret.NewToken("")[:16], "-", "_"))
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		_ = admin.Close()
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// RequirePostgres skips a test that only makes sense on PostgreSQL.
func RequirePostgres(t testing.TB) {
	t.Helper()
	if os.Getenv(PostgresEnv) == "" {
		t.Skipf("PostgreSQL test: set %s to a PostgreSQL URL to run it", PostgresEnv)
	}
}

// Response is a decoded GraphQL response.
type Response struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []Error         `json:"errors"`
}

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code returns extensions.code.
func (e Error) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Field returns extensions.field.
func (e Error) Field() string { s, _ := e.Extensions["field"].(string); return s }

// Request is one GraphQL request.
type Request struct {
	Query     string
	Variables map[string]any
	// Token is sent as "Authorization: Bearer <Token>" when not empty.
	Token   string
	Headers map[string]string
}

// Do posts a GraphQL request and decodes the response; it fails the test
// on transport errors only.
func (s *Server) Do(r Request) Response {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": r.Query, "variables": r.Variables})
	req, _ := http.NewRequest(http.MethodPost, s.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	res, err := s.HTTP.Client().Do(req)
	if err != nil {
		s.t.Fatalf("post: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := Response{Status: res.StatusCode}
	if err := json.Unmarshal(raw, &out); err != nil {
		s.t.Fatalf("decode response (status %d): %v\n%s", res.StatusCode, err, raw)
	}
	return out
}

// Admin runs a query with the admin key and requires success, decoding
// data into out (if not nil).
func (s *Server) Admin(query string, vars map[string]any, out any) {
	s.t.Helper()
	s.MustDo(Request{Query: query, Variables: vars, Token: s.AdminKey}, out)
}

// MustDo runs a request and requires that it returns no error.
func (s *Server) MustDo(r Request, out any) {
	s.t.Helper()
	res := s.Do(r)
	if len(res.Errors) > 0 {
		s.t.Fatalf("unexpected errors: %+v\nquery: %s", res.Errors, strings.TrimSpace(r.Query))
	}
	if out != nil {
		if err := json.Unmarshal(res.Data, out); err != nil {
			s.t.Fatalf("decode data: %v\n%s", err, res.Data)
		}
	}
}

// MustFail runs a request and requires that its first error has the code.
func (s *Server) MustFail(r Request, code string) Error {
	s.t.Helper()
	res := s.Do(r)
	if len(res.Errors) == 0 {
		s.t.Fatalf("want error %s, got data %s\nquery: %s", code, res.Data, strings.TrimSpace(r.Query))
	}
	if got := res.Errors[0].Code(); got != code {
		s.t.Fatalf("want error code %s, got %s (%s)\nquery: %s", code, got, res.Errors[0].Message, strings.TrimSpace(r.Query))
	}
	return res.Errors[0]
}
