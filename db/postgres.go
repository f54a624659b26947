package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/migrations"
)

// migrationLockKey is the advisory lock that serialises migrations when
// several instances start at once.
const migrationLockKey = 0x5e55_1011

func openPostgres(ctx context.Context, cfg Config, log *slog.Logger, clk clock.Clock) (*DB, error) {
	sqldb, err := sql.Open("pgx", cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", redact(cfg.DSN), err)
	}
	maxConns := cfg.MaxConns
	if maxConns <= 0 {
		maxConns = 20
	}
	sqldb.SetMaxOpenConns(maxConns)
	sqldb.SetMaxIdleConns(maxConns)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	d := &DB{bun: bun.NewDB(sqldb, pgdialect.New()), sql: sqldb, dialect: Postgres, dsn: cfg.DSN, log: log, clock: clk, stats: &statsHook{}}
	d.bun.AddQueryHook(d.stats)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.Ping(pingCtx); err != nil {
		_ = sqldb.Close()
		return nil, fmt.Errorf("open postgres %s: %w", redact(cfg.DSN), err)
	}
	if err := d.migrateLocked(ctx); err != nil {
		_ = sqldb.Close()
		return nil, err
	}
	return d, nil
}

// migrateLocked applies migrations while holding an advisory lock on one
// connection, so instances starting together apply each migration once.
func (d *DB) migrateLocked(ctx context.Context) error {
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey)
	}()
	return d.migrate(ctx, migrations.Postgres())
}

// DSN returns the database's connection string, for components that need
// their own connection (the PostgreSQL event listener).
func (d *DB) DSN() string { return d.dsn }

// Bun returns the underlying bun database, for the PostgreSQL event bus and
// the scheduler's lock, which live beside the store.
func (d *DB) Bun() *bun.DB { return d.bun }

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
