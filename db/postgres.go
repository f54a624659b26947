package db

// PostgreSQL only: opening with the migration lock, NOTIFY for the event
// bus and the reads its listener needs, and the scheduler's leadership lock.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/migrations"
)

// migrationLockKey is the advisory lock that serialises migrations when
// several instances start at once.
const migrationLockKey = 0x5e55_1011

func openPostgres(ctx context.Context, cfg Config, log *slog.Logger, clk clock.Clock) (*DB, error) {
	dsn := cfg.DSN
	if u, err := url.Parse(dsn); err == nil && u.Query().Get("connect_timeout") == "" {
		// Fail fast when PostgreSQL is unreachable instead of hanging requests.
		q := u.Query()
		q.Set("connect_timeout", "3")
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	cfg.DSN = dsn
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
	d := &DB{bun: bun.NewDB(sqldb, pgdialect.New()), sql: sqldb, dialect: Postgres, dsn: cfg.DSN, log: log, clock: clk, stats: &statsHook{obs: cfg.Queries}, endpoints: &endpointCache{}}
	d.bun.AddQueryHook(d.stats)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.Ping(pingCtx); err != nil {
		_ = sqldb.Close()
		return nil, fmt.Errorf("open postgres %s: %w", redact(cfg.DSN), err)
	}
	if !cfg.NoMigrate {
		if err := d.migrateLocked(ctx); err != nil {
			_ = sqldb.Close()
			return nil, err
		}
	}
	d.warnIfNotDurable(ctx)
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
	if err := d.migrate(ctx, migrations.Postgres()); err != nil {
		return err
	}
	return d.foldUserSearch(ctx)
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

// Notify sends a NOTIFY with the payload on channel (PostgreSQL only). The
// channel belongs to whoever listens on it (the event bus), so it is the
// caller's to name.
func (d *DB) Notify(ctx context.Context, channel, payload string) error {
	_, err := d.bun.ExecContext(ctx, "SELECT pg_notify(?, ?)", channel, payload)
	return err
}

// SessionsByIDs returns the sessions that exist among ids.
func (d *DB) SessionsByIDs(ctx context.Context, ids []string) ([]model.Session, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []sessionRow
	if err := d.bun.NewSelect().Model(&rows).Where("id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]model.Session, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// SessionsEndedSince returns the sessions whose end was written at or
// after t, in that order. A session that ended at a deadline nobody swept
// in time is written later than it ended: it is found by when it was
// written, so that a listener catching up hears of it.
func (d *DB) SessionsEndedSince(ctx context.Context, t time.Time) ([]model.Session, error) {
	var rows []sessionRow
	if err := d.bun.NewSelect().Model(&rows).Where("end_written_at >= ?", ms(t)).Order("end_written_at").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]model.Session, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// schedulerLockKey is the advisory lock held by the one instance that runs
// the expiry scheduler.
const schedulerLockKey = 0x5e55_5c4e

// Leadership is a held scheduler lock.
type Leadership struct {
	conn *sql.Conn
	lost chan struct{}
	done chan struct{}
}

// Lost is closed when the lock's connection fails (the lock is gone).
func (l *Leadership) Lost() <-chan struct{} { return l.lost }

// Release gives the lock up.
func (l *Leadership) Release() {
	close(l.done)
	if l.conn == nil {
		return
	}
	_, _ = l.conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", schedulerLockKey)
	_ = l.conn.Close()
}

// TryLead takes the scheduler lock if no other instance holds it. It holds
// the lock on a dedicated connection, checked every second; when that
// connection dies PostgreSQL releases the lock and another instance takes
// over. On SQLite there is one instance per file: it always leads.
func (d *DB) TryLead(ctx context.Context) (*Leadership, bool, error) {
	if d.dialect != Postgres {
		return &Leadership{lost: make(chan struct{}), done: make(chan struct{})}, true, nil
	}
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", schedulerLockKey).Scan(&got); err != nil || !got {
		_ = conn.Close()
		return nil, false, err
	}
	l := &Leadership{conn: conn, lost: make(chan struct{}), done: make(chan struct{})}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-l.done:
				return
			case <-t.C:
				pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				err := conn.PingContext(pctx)
				cancel()
				if err != nil {
					close(l.lost)
					return
				}
			}
		}
	}()
	return l, true, nil
}
