// Package retention deletes what sessiond no longer needs to keep: ended
// sessions after the ended-session retention, finished webhook deliveries
// (which copy a session's device and address) once created longer ago
// than that, audit entries after the audit retention (0 keeps them
// forever). The
// environment may set its own values (admin key, audited); otherwise the
// server's flags apply.
//
// A purge runs inside the server, in small batches (each one short
// transaction, a pause between them so API requests interleave), by one
// instance at a time (the store's purge lock), and reports what it deleted
// in the log and through its Observer. Audit entries of a live session are
// never deleted.
package retention

import (
	"context"
	"log/slog"
	"time"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/auth"
	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/model"
)

// Day is the unit of the environment's retention settings.
const Day = 24 * time.Hour

// maxDays bounds a retention setting (a hundred years).
const maxDays = 36_500

// Store is what retention needs of the database.
type Store interface {
	RetentionSettings(ctx context.Context) (model.RetentionSettings, error)
	UpdateRetentionSettings(ctx context.Context, actor model.Actor, u model.RetentionUpdate) (model.RetentionSettings, error)
	// PurgeEndedSessions and PurgeAudit delete one batch of at most limit
	// rows, oldest first, and return how many they deleted.
	PurgeEndedSessions(ctx context.Context, endedBefore time.Time, limit int) (int, error)
	PurgeAudit(ctx context.Context, before time.Time, limit int) (int, error)
	// PurgeWebhookDeliveries deletes finished (delivered or failed)
	// deliveries created before before; pending ones are still owed.
	PurgeWebhookDeliveries(ctx context.Context, before time.Time, limit int) (int, error)
	// CountPurgeable counts what would go (a zero cutoff counts none).
	CountPurgeable(ctx context.Context, endedBefore, auditBefore time.Time) (model.Purgeable, error)
	// TryPurgeLock makes this instance the only one purging.
	TryPurgeLock(ctx context.Context) (release func(), ok bool, err error)
	// Writes counts the write statements this process has run so far; the
	// purge compares it across a pause to tell whether anyone else wrote.
	Writes() uint64
}

// Observer is what a purge reports, for metrics (*metrics.Metrics).
type Observer interface {
	// Purged reports n rows deleted from table (sessions,
	// webhook_deliveries, audit_log).
	Purged(table string, n int)
	// PurgeRun reports one run: ok, error, or skipped (another instance
	// holds the purge lock).
	PurgeRun(result string)
}

// Config tunes retention. Zero values take defaults, except the
// retentions themselves, where 0 keeps forever.
type Config struct {
	// RetainEnded and RetainAudit are the server's retentions (-retain-ended,
	// -retain-audit), used where the environment sets none.
	RetainEnded, RetainAudit time.Duration
	// Batch is the most rows one transaction deletes (default 1 000).
	Batch int
	// BatchTime is how long one delete transaction should take while
	// others write (default 2 ms); QuietBatchTime while nobody else wrote
	// during the last pause (default 50 ms). The purge sizes each batch
	// from the rows per second of the last one, between a thousandth of
	// Batch (at least 1) and Batch. On SQLite a delete holds the only write
	// lock, and a writer that finds it taken sleeps in SQLite's busy
	// handler (1, 2, 5, 10 ms…): a 10 ms batch cost a waiting write ~18 ms,
	// and while the API writes, batches of a few rows keep its p99 where it
	// was. An idle server purges in large batches.
	BatchTime, QuietBatchTime time.Duration
	// Pause is the least wait between batches (default 20 ms). The wait is
	// also at least Yield times the last batch's duration (default 9), so a
	// long purge takes at most a tenth of one core and of the database's
	// write lock (SQLite has one writer, and its driver is pure Go): the API
	// keeps the rest, however slow the machine, and few of its writes ever
	// meet a batch (with 4, a fifth of them did, and creation p99 rose
	// 1.21–1.35×; with 9, 1.08×).
	Pause time.Duration
	Yield float64
	// Every is how often the server purges (default 1 hour).
	Every time.Duration
	// Observer, when set, is told of every purge.
	Observer Observer
}

// Service applies the retention policy.
type Service struct {
	store Store
	clock clock.Clock
	log   *slog.Logger
	cfg   Config
}

// New returns the retention service.
func New(store Store, clk clock.Clock, log *slog.Logger, cfg Config) *Service {
	if cfg.Batch <= 0 {
		cfg.Batch = 1000
	}
	if cfg.BatchTime <= 0 {
		cfg.BatchTime = 2 * time.Millisecond
	}
	if cfg.QuietBatchTime <= 0 {
		cfg.QuietBatchTime = 50 * time.Millisecond
	}
	if cfg.Yield <= 0 {
		cfg.Yield = 9
	}
	if cfg.Pause <= 0 {
		cfg.Pause = 20 * time.Millisecond
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Hour
	}
	if cfg.Observer == nil {
		cfg.Observer = nop{}
	}
	return &Service{store: store, clock: clk, log: log, cfg: cfg}
}

type nop struct{}

func (nop) Purged(string, int) {}
func (nop) PurgeRun(string)    {}

// Policy returns the retention in force. Admin key only.
func (s *Service) Policy(ctx context.Context, p auth.Principal) (model.RetentionPolicy, error) {
	if err := auth.RequireAdmin(p); err != nil {
		return model.RetentionPolicy{}, err
	}
	set, err := s.store.RetentionSettings(ctx)
	if err != nil {
		return model.RetentionPolicy{}, err
	}
	return s.effective(set), nil
}

// UpdatePolicy changes the environment's retention settings, audited.
// Admin key only; BAD_USER_INPUT for a negative or over-long value.
func (s *Service) UpdatePolicy(ctx context.Context, p auth.Principal, u model.RetentionUpdate) (model.RetentionPolicy, error) {
	if err := auth.RequireAdmin(p); err != nil {
		return model.RetentionPolicy{}, err
	}
	for _, f := range []struct {
		name string
		v    *int
	}{{"endedSessionsDays", u.EndedSessionsDays}, {"auditDays", u.AuditDays}} {
		if f.v != nil && (*f.v < 0 || *f.v > maxDays) {
			return model.RetentionPolicy{}, apperr.Invalid(f.name, "%s must be between 0 (keep forever) and %d", f.name, maxDays)
		}
	}
	set, err := s.store.UpdateRetentionSettings(ctx, p.Actor(), u)
	if err != nil {
		return model.RetentionPolicy{}, err
	}
	return s.effective(set), nil
}

// effective merges the environment's settings over the server's flags.
func (s *Service) effective(set model.RetentionSettings) model.RetentionPolicy {
	p := model.RetentionPolicy{EndedSessionsDays: days(s.cfg.RetainEnded), AuditDays: days(s.cfg.RetainAudit), UpdatedAt: set.UpdatedAt}
	if set.EndedSessionsDays != nil {
		p.EndedSessionsDays, p.EndedSessionsDaysSet = *set.EndedSessionsDays, true
	}
	if set.AuditDays != nil {
		p.AuditDays, p.AuditDaysSet = *set.AuditDays, true
	}
	return p
}

// days rounds a retention up to whole days, so that a short retention is
// never shown as 0 (forever).
func days(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + Day - 1) / Day)
}

// Report says what a purge deleted, or a dry run would delete.
type Report struct {
	// EndedBefore and AuditBefore are the cutoffs; zero when that
	// retention keeps forever. Deliveries are finished webhook deliveries
	// created before EndedBefore.
	EndedBefore, AuditBefore    time.Time
	Sessions, Audit, Deliveries int
	// Skipped is set when another instance holds the purge lock.
	Skipped bool
}

// cutoffs are the instants before which rows go, now.
func (s *Service) cutoffs(ctx context.Context) (ended, audit time.Time, err error) {
	set, err := s.store.RetentionSettings(ctx)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	endedFor, auditFor := s.cfg.RetainEnded, s.cfg.RetainAudit
	if set.EndedSessionsDays != nil {
		endedFor = time.Duration(*set.EndedSessionsDays) * Day
	}
	if set.AuditDays != nil {
		auditFor = time.Duration(*set.AuditDays) * Day
	}
	now := s.clock.Now()
	if endedFor > 0 {
		ended = now.Add(-endedFor)
	}
	if auditFor > 0 {
		audit = now.Add(-auditFor)
	}
	return ended, audit, nil
}

// DryRun counts what Purge would delete now, deleting nothing.
func (s *Service) DryRun(ctx context.Context) (Report, error) {
	ended, audit, err := s.cutoffs(ctx)
	if err != nil {
		return Report{}, err
	}
	r := Report{EndedBefore: ended, AuditBefore: audit}
	c, err := s.store.CountPurgeable(ctx, ended, audit)
	r.Sessions, r.Audit, r.Deliveries = c.Sessions, c.Audit, c.Deliveries
	return r, err
}

// Purge deletes what the retention policy no longer keeps, in batches of
// at most Config.Batch rows, until nothing is left or ctx ends. When
// another instance is purging it returns at once with Skipped set.
func (s *Service) Purge(ctx context.Context) (Report, error) {
	r, err := s.purge(ctx)
	switch {
	case err != nil:
		s.cfg.Observer.PurgeRun("error")
	case r.Skipped:
		s.cfg.Observer.PurgeRun("skipped")
	default:
		s.cfg.Observer.PurgeRun("ok")
	}
	return r, err
}

func (s *Service) purge(ctx context.Context) (Report, error) {
	release, ok, err := s.store.TryPurgeLock(ctx)
	if err != nil {
		return Report{}, err
	}
	if !ok {
		return Report{Skipped: true}, nil
	}
	defer release()
	ended, audit, err := s.cutoffs(ctx)
	if err != nil {
		return Report{}, err
	}
	r := Report{EndedBefore: ended, AuditBefore: audit}
	if !ended.IsZero() {
		if r.Sessions, err = s.batches(ctx, "sessions", func(ctx context.Context, limit int) (int, error) {
			return s.store.PurgeEndedSessions(ctx, ended, limit)
		}); err != nil {
			return r, err
		}
		if r.Deliveries, err = s.batches(ctx, "webhook_deliveries", func(ctx context.Context, limit int) (int, error) {
			return s.store.PurgeWebhookDeliveries(ctx, ended, limit)
		}); err != nil {
			return r, err
		}
	}
	if !audit.IsZero() {
		if r.Audit, err = s.batches(ctx, "audit_log", func(ctx context.Context, limit int) (int, error) {
			return s.store.PurgeAudit(ctx, audit, limit)
		}); err != nil {
			return r, err
		}
	}
	if r.Sessions > 0 || r.Audit > 0 || r.Deliveries > 0 {
		s.log.InfoContext(ctx, "retention purged", "sessions", r.Sessions, "webhook_deliveries", r.Deliveries, "audit_entries", r.Audit,
			"ended_before", ended, "audit_before", audit)
	}
	return r, nil
}

// batches runs one delete batch after another until a batch comes back
// short, pausing between them and sizing each from the last and from
// whether others wrote during the pause (see Config.BatchTime).
func (s *Service) batches(ctx context.Context, table string, batch func(ctx context.Context, limit int) (int, error)) (int, error) {
	total := 0
	lo := max(1, s.cfg.Batch/1000)
	limit := lo
	for {
		start := time.Now() // a duration for throttling, not a domain instant
		n, err := batch(ctx, limit)
		took := time.Since(start)
		total += n
		s.cfg.Observer.Purged(table, n)
		if err != nil || n < limit {
			return total, err
		}
		before := s.store.Writes()
		t := time.NewTimer(max(s.cfg.Pause, time.Duration(float64(took)*s.cfg.Yield)))
		select {
		case <-ctx.Done():
			t.Stop()
			return total, ctx.Err()
		case <-t.C:
		}
		target := s.cfg.BatchTime
		if s.store.Writes() == before {
			target = s.cfg.QuietBatchTime
		}
		limit = nextBatch(n, took, target, lo, s.cfg.Batch)
	}
}

// nextBatch is the size of the next batch after n rows took took: what
// the same rate deletes in target, growing at most twofold per batch (one
// quick batch may have been luck), within [lo, hi].
func nextBatch(n int, took, target time.Duration, lo, hi int) int {
	next := 2 * n
	if took > 0 {
		next = min(next, int(float64(n)*float64(target)/float64(took)))
	}
	return min(hi, max(lo, next))
}

// Run purges every Config.Every (the first time one minute after start)
// until ctx ends.
func (s *Service) Run(ctx context.Context) {
	wait := min(time.Minute, s.cfg.Every)
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if _, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "retention purge failed", "err", err)
		}
		wait = s.cfg.Every
	}
}
