package db_test

// The harness of the storage contract suite: every test runs once per
// database, on SQLite always and on PostgreSQL when SESSIOND_TEST_POSTGRES
// is set (as Kratos runs its persister suite on every database), each time
// on a database made fresh for it.

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/db"
	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
	"github.com/sessiond/sessiond/internal/secret"
)

// postgresEnv points the suite at a PostgreSQL server it may create
// databases on (the same variable internal/testkit reads).
const postgresEnv = "SESSIOND_TEST_POSTGRES"

// dialects are the databases this run covers.
func dialects() []string {
	if os.Getenv(postgresEnv) != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// env is one test's store on a fresh database, with a fake clock that
// stamps what the store writes.
type env struct {
	*db.DB
	Clock   *clock.Fake
	Dialect string
	DSN     string
	admin   model.Actor
}

// t0 is where every test's fake clock starts.
var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// eachDB runs f as a subtest per database.
func eachDB(t *testing.T, f func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range dialects() {
		t.Run(d, func(t *testing.T) { f(t, openEnv(t, d)) })
	}
}

func openEnv(t testing.TB, dialect string) *env {
	t.Helper()
	dsn := freshDSN(t, dialect)
	clk := clock.NewFake(t0)
	store, err := db.Open(context.Background(), db.Config{DSN: dsn, Clock: clk})
	if err != nil {
		t.Fatalf("open %s: %v", dialect, err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return &env{DB: store, Clock: clk, Dialect: dialect, DSN: dsn, admin: model.Actor{Kind: model.ActorAdmin}}
}

var dbSeq atomic.Int64

// freshDSN makes an empty database: a file in t.TempDir(), or a PostgreSQL
// database dropped at cleanup.
func freshDSN(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == "sqlite" {
		return filepath.Join(t.TempDir(), "store.db")
	}
	base := os.Getenv(postgresEnv)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", postgresEnv, err)
	}
	name := fmt.Sprintf("sessiond_store_%d_%s", dbSeq.Add(1), strings.ToLower(secret.NewToken("")[:10]))
	name = strings.NewReplacer("-", "_").Replace(name)
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
		t.Fatalf("parse %s: %v", postgresEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// tenant creates a tenant.
func (e *env) tenant(t testing.TB, name string) string {
	t.Helper()
	tn, err := e.CreateTenant(context.Background(), e.admin, name)
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	return tn.ID
}

// user creates a user with the default roles in a tenant.
func (e *env) user(t testing.TB, tenantID, email string) string {
	t.Helper()
	u, err := e.CreateUser(context.Background(), e.admin, model.NewUser{Email: email, Name: "User " + email, TenantID: tenantID})
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	return u.ID
}

// setPolicy stores a scope's settings, ending what the planner says.
func (e *env) setPolicy(t testing.TB, scope string, in policy.Input) policy.Change {
	t.Helper()
	ch, err := e.UpdatePolicy(context.Background(), e.admin, scope, func(o policy.Overrides) policy.Overrides { return policy.Apply(o, in) }, planPolicy)
	if err != nil {
		t.Fatalf("update policy: %v", err)
	}
	return ch
}

// planPolicy is the session service's planner, written from the pure policy
// functions.
func planPolicy(levels policy.Levels, active []policy.Active, now time.Time) (map[string]policy.Effective, []policy.Termination) {
	byTenant := map[string][]policy.Active{}
	for _, a := range active {
		byTenant[a.TenantID] = append(byTenant[a.TenantID], a)
	}
	eff := map[string]policy.Effective{}
	var ends []policy.Termination
	for tn, group := range byTenant {
		eff[tn] = levels.Effective(tn)
		ends = append(ends, policy.Terminations(eff[tn], group, now)...)
	}
	return eff, ends
}

// planSession is the session service's planner for a single instance.
func planSession(env, tenant policy.Overrides, now time.Time) policy.SessionPlan {
	return policy.PlanSession(policy.Resolve(env, tenant), model.Session{TokenHash: secret.HashToken(secret.NewToken("sds_"))}, now)
}

// session creates a session for a member, returning it and what it ended.
func (e *env) session(t testing.TB, userID, tenantID string) (model.Session, []model.Session) {
	t.Helper()
	s, ended, err := e.CreateSession(context.Background(), e.admin, userID, tenantID, planSession)
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	return s, ended
}

// get reads a session back.
func (e *env) get(t testing.TB, id string) model.Session {
	t.Helper()
	s, err := e.Session(context.Background(), id)
	if err != nil {
		t.Fatalf("read session %s: %v", id, err)
	}
	return s
}

func minutes(n int) *policy.Toggle {
	return &policy.Toggle{Enabled: true, Span: &policy.Span{Value: n, Unit: policy.Minutes}}
}

func limit(n int) *policy.Limit { return &policy.Limit{Enabled: true, Max: &n} }
