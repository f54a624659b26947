package db

// Statement counts for load tests, and bulk import of existing sessions.

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/model"
)

// Stats counts the statements a DB has run, for load tests and metrics.
type Stats struct {
	Reads, Writes uint64
	// WriteWaits counts the writers that found SQLite's write turn taken
	// and queued for it (see DB.tx).
	WriteWaits uint64
	// Groups counts the SQLite transactions that committed more than one
	// write transaction together (see DB.tx).
	Groups uint64
}

type statsHook struct {
	reads, writes, writeWaits, groups atomic.Uint64
	obs                               QueryObserver
}

// QueryObserver is told of every statement, for metrics
// (*metrics.Metrics implements it).
type QueryObserver interface {
	// Query reports one statement: its operation (SELECT, INSERT, UPDATE,
	// DELETE or another keyword) and how long it took.
	Query(operation string, d time.Duration)
	// WriteWait reports how long a writer queued for SQLite's write turn
	// (only writers that found it taken).
	WriteWait(d time.Duration)
}

var _ bun.QueryHook = (*statsHook)(nil)

func (h *statsHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (h *statsHook) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	h.record(e.Operation(), e.StartTime)
}

// record counts one statement of operation op that started at start, for
// bun's queries and the few statements run without bun (the outbox's
// prepared INSERT).
func (h *statsHook) record(op string, start time.Time) {
	if h.obs != nil {
		h.obs.Query(op, time.Since(start))
	}
	switch op {
	case "SELECT":
		h.reads.Add(1)
	case "INSERT", "UPDATE", "DELETE":
		h.writes.Add(1)
	}
}

// Stats returns the statement counts since Open.
func (d *DB) Stats() Stats {
	return Stats{Reads: d.stats.reads.Load(), Writes: d.stats.writes.Load(), WriteWaits: d.stats.writeWaits.Load(), Groups: d.stats.groups.Load()}
}

// Writes is Stats().Writes: the INSERT, UPDATE and DELETE statements run
// since Open (the retention purge backs off while it grows).
func (d *DB) Writes() uint64 { return d.stats.writes.Load() }

// ImportSessions stores existing sessions as they are (deadlines included),
// in batches, e.g. to migrate from another provider or to load-test. Each
// session needs an id, a token hash, and a user who is a member of its tenant.
func (d *DB) ImportSessions(ctx context.Context, sessions []model.Session) error {
	const batch = 500
	return d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		for start := 0; start < len(sessions); start += batch {
			rows := make([]sessionRow, 0, batch)
			for _, s := range sessions[start:min(start+batch, len(sessions))] {
				rows = append(rows, sessionRowOf(s))
			}
			if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}
