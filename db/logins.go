package db

import (
	"context"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/ratelimit"
)

var _ ratelimit.Store = (*DB)(nil)

// loginCounterRow is one counter of the login budget.
type loginCounterRow struct {
	bun.BaseModel `bun:"table:login_counters"`
	Key           string `bun:"key,pk"`
	Failures      int    `bun:"failures,notnull"`
	WindowStart   int64  `bun:"window_start,notnull"`
	NotBefore     int64  `bun:"not_before,notnull"`
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// UpdateLoginCounters reads, updates and writes the counters of keys in
// one transaction. On PostgreSQL the rows are created if missing and
// locked (FOR UPDATE, in key order so concurrent attempts never deadlock),
// so every instance's attempts on one email or address queue on the same
// rows; on SQLite the transaction starts with BEGIN IMMEDIATE and holds
// the database's write lock throughout.
//
// On PostgreSQL a counter back at zero is written as zeros rather than
// deleted (PruneLoginCounters deletes it later), so a concurrent attempt
// never finds its row gone between its insert and its lock; a deadlock
// or serialization failure is retried.
func (d *DB) UpdateLoginCounters(ctx context.Context, keys []string, update func([]ratelimit.Counter) []ratelimit.Counter) error {
	var err error
	for range 3 {
		if err = d.updateLoginCounters(ctx, keys, update); err == nil {
			return nil
		}
		if c := pgCode(err); c != "40P01" && c != "40001" {
			return err
		}
	}
	return err
}

func (d *DB) updateLoginCounters(ctx context.Context, keys []string, update func([]ratelimit.Counter) []ratelimit.Counter) error {
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	return d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var rows []loginCounterRow
		q := tx.NewSelect().Model(&rows).Where("key IN (?)", bun.In(sorted)).Order("key")
		if d.dialect == Postgres {
			blank := make([]loginCounterRow, len(sorted))
			for i, k := range sorted {
				blank[i] = loginCounterRow{Key: k}
			}
			if _, err := tx.NewInsert().Model(&blank).On("CONFLICT (key) DO NOTHING").Exec(ctx); err != nil {
				return err
			}
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return err
		}
		byKey := make(map[string]loginCounterRow, len(rows))
		for _, r := range rows {
			byKey[r.Key] = r
		}
		cur := make([]ratelimit.Counter, len(keys))
		for i, k := range keys {
			r := byKey[k]
			cur[i] = ratelimit.Counter{Failures: r.Failures, First: fromMicros(r.WindowStart), NotBefore: fromMicros(r.NotBefore)}
		}
		next := update(cur)
		for i, k := range keys {
			c := next[i]
			if c == cur[i] {
				continue
			}
			if c.Failures == 0 && c.NotBefore.IsZero() && d.dialect == SQLite {
				if _, err := tx.NewDelete().Model((*loginCounterRow)(nil)).Where("key = ?", k).Exec(ctx); err != nil {
					return err
				}
				continue
			}
			row := loginCounterRow{Key: k, Failures: c.Failures, WindowStart: micros(c.First), NotBefore: micros(c.NotBefore)}
			if _, err := tx.NewInsert().Model(&row).
				On("CONFLICT (key) DO UPDATE").
				Set("failures = EXCLUDED.failures, window_start = EXCLUDED.window_start, not_before = EXCLUDED.not_before").
				Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// PruneLoginCounters deletes counters whose window started before cutoff.
func (d *DB) PruneLoginCounters(ctx context.Context, cutoff time.Time) (int, error) {
	done, err := d.writeTurn(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	res, err := d.bun.NewDelete().Model((*loginCounterRow)(nil)).
		Where("window_start < ? AND not_before < ?", micros(cutoff), micros(cutoff)).Exec(ctx)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
