// Package db opens sessiond's database, applies migrations, and implements
// the store: bun models, queries, transactions, and the translation of driver
// errors into domain errors. It holds no business rules.
package db

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/migrate"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"

	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/webhook"
	"github.com/sessiond/sessiond/migrations"
)

// Dialect is the SQL database behind a DB.
type Dialect int

// Supported databases.
const (
	SQLite Dialect = iota
	Postgres
)

// DB is an open, migrated database.
type DB struct {
	bun     *bun.DB
	sql     *sql.DB
	dialect Dialect
	dsn     string
	log     *slog.Logger
	clock   clock.Clock
	stats   *statsHook
	// writes holds this process's turn to write on SQLite (nil on
	// PostgreSQL); queue holds the write transactions waiting for it. See
	// tx in writes.go.
	writes chan struct{}
	queue  writeQueue
	// endpoints caches the enabled webhook endpoints on SQLite (see
	// endpointCache); never nil.
	endpoints *endpointCache
	// handoff receives committed deliveries (HandOffDeliveries); SQLite only.
	handoff atomic.Pointer[func([]webhook.Claim)]
}

// Config says which database to open.
type Config struct {
	// DSN is a SQLite file path, a "file:" URI or "sqlite://path", or a
	// PostgreSQL URL ("postgres://user:pass@host/db?sslmode=disable").
	DSN string
	// MaxConns bounds PostgreSQL's connection pool (default 20).
	MaxConns int
	// SQLiteSynchronous is SQLite's synchronous setting in WAL mode: FULL
	// (the default) syncs the WAL on every commit, so a committed write
	// survives a power loss; NORMAL syncs only at checkpoints, so a power
	// loss may roll back the last commits (a process crash loses nothing
	// either way). See docs/limits.md, "Durability".
	SQLiteSynchronous string
	Logger            *slog.Logger
	// Clock stamps created_at columns; nil means the wall clock.
	Clock clock.Clock
	// Queries, when set, is told of every statement (for metrics).
	Queries QueryObserver
	// NoMigrate opens the database without applying migrations (for
	// `sessiond migrate status`); Migrate applies them later.
	NoMigrate bool
}

// Open opens the database and applies pending migrations.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	dsn := cfg.DSN
	if IsPostgres(dsn) {
		return openPostgres(ctx, cfg, log, clk)
	}
	path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite://"), "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		return nil, fmt.Errorf("database: empty SQLite path")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("database directory: %w", err)
		}
	}
	if err := ownerOnly(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	// Savepoints (every transaction in a group commit is one, DB.tx) keep
	// their undo pages in a statement journal, which SQLite spills to a
	// temporary file past 64 KiB: measured, those writes were a quarter of
	// a session end's storage CPU. In memory they cost a copy; sorts too
	// large for an index then also stay in memory, which our bounded pages
	// keep small.
	q.Add("_pragma", "temp_store(MEMORY)")
	sync, err := sqliteSynchronous(cfg.SQLiteSynchronous)
	if err != nil {
		return nil, err
	}
	q.Add("_pragma", "synchronous("+sync+")")
	// BEGIN IMMEDIATE: a write transaction takes the write lock up front, so
	// two writers queue on the busy timeout instead of failing mid-transaction.
	q.Set("_txlock", "immediate")
	sqldb, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	sqldb.SetMaxOpenConns(8)
	sqldb.SetMaxIdleConns(8)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	d := &DB{bun: bun.NewDB(sqldb, sqlitedialect.New()), sql: sqldb, dialect: SQLite, dsn: dsn, log: log, clock: clk, stats: &statsHook{obs: cfg.Queries},
		writes: make(chan struct{}, 1), endpoints: &endpointCache{on: true}}
	d.bun.AddQueryHook(d.stats)
	if err := d.Ping(ctx); err != nil {
		_ = sqldb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if !cfg.NoMigrate {
		if err := d.applyMigrations(ctx); err != nil {
			_ = sqldb.Close()
			return nil, err
		}
	}
	d.endpoints.prepare(ctx, sqldb, d.stats)
	return d, nil
}

// applyMigrations applies pending migrations (on PostgreSQL under an
// advisory lock, so instances starting together apply each once).
func (d *DB) applyMigrations(ctx context.Context) error {
	if d.dialect == Postgres {
		return d.migrateLocked(ctx)
	}
	if err := d.migrate(ctx, migrations.SQLite()); err != nil {
		return err
	}
	return d.foldUserSearch(ctx)
}

// Migration is one embedded migration and whether it is applied.
type Migration struct {
	Name    string
	Applied bool
}

func (d *DB) migrations() fs.FS {
	if d.dialect == Postgres {
		return migrations.Postgres()
	}
	return migrations.SQLite()
}

func (d *DB) migrator() (*migrate.Migrator, error) {
	ms := migrate.NewMigrations()
	if err := ms.Discover(d.migrations()); err != nil {
		return nil, fmt.Errorf("discover migrations: %w", err)
	}
	return migrate.NewMigrator(d.bun, ms, migrate.WithMarkAppliedOnSuccess(true)), nil
}

// MigrationStatus lists the embedded migrations in order, each with
// whether this database has applied it. It changes nothing, except creating
// bun's empty bookkeeping tables on a new database.
func (d *DB) MigrationStatus(ctx context.Context) ([]Migration, error) {
	m, err := d.migrator()
	if err != nil {
		return nil, err
	}
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("init migrations: %w", err)
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Migration, len(ms))
	for i, mg := range ms {
		out[i] = Migration{Name: mg.Name + "_" + mg.Comment, Applied: mg.IsApplied()}
	}
	return out, nil
}

// Migrate applies pending migrations (on PostgreSQL under an advisory
// lock) and returns how many it applied.
func (d *DB) Migrate(ctx context.Context) (int, error) {
	before, err := d.MigrationStatus(ctx)
	if err != nil {
		return 0, err
	}
	if err := d.applyMigrations(ctx); err != nil {
		return 0, err
	}
	n := 0
	for _, m := range before {
		if !m.Applied {
			n++
		}
	}
	return n, nil
}

// sqliteSynchronous validates a synchronous setting; empty means FULL.
func sqliteSynchronous(s string) (string, error) {
	switch v := strings.ToUpper(strings.TrimSpace(s)); v {
	case "":
		return "FULL", nil
	case "FULL", "NORMAL", "EXTRA":
		return v, nil
	default:
		return "", fmt.Errorf("SQLite synchronous setting %q: want FULL, NORMAL or EXTRA", s)
	}
}

func (d *DB) migrate(ctx context.Context, files fs.FS) error {
	ms := migrate.NewMigrations()
	if err := ms.Discover(files); err != nil {
		return fmt.Errorf("discover migrations: %w", err)
	}
	m := migrate.NewMigrator(d.bun, ms,
		// Without this bun marks a migration applied before running it, so a
		// failed migration would never be retried.
		migrate.WithMarkAppliedOnSuccess(true),
		migrate.AfterMigration(func(_ context.Context, _ bun.IConn, mg *migrate.Migration) error {
			d.log.Info("migration applied", "name", mg.Name, "comment", mg.Comment)
			return nil
		}),
	)
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("init migrations: %w", err)
	}
	if _, err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Dialect says which database this is.
func (d *DB) Dialect() Dialect { return d.dialect }

// Ping checks that the database answers; /readyz uses it.
func (d *DB) Ping(ctx context.Context) error {
	var one int
	return d.bun.NewSelect().ColumnExpr("1").Scan(ctx, &one)
}

// now is truncated to the microseconds bun stores, so the timestamps a
// mutation returns equal the ones later reads return.
func (d *DB) now() time.Time { return d.clock.Now().UTC().Truncate(time.Microsecond) }

// Close closes the database.
func (d *DB) Close() error {
	d.endpoints.close()
	return d.bun.Close()
}

// redact drops credentials from a database URL before it is logged.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	u.User = url.User(u.User.Username())
	return u.String()
}

func dedupe(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// newID returns a time-ordered UUIDv7, so id order is creation order.
func newID() string { return uuid.Must(uuid.NewV7()).String() }
