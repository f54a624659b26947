package db

// Write transactions on SQLite: one write lock per file, so this process's
// writers take turns, and whoever holds the turn commits the transactions
// queued behind it together (group commit).

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/webhook"
)

// maxGroup bounds the transactions one commit carries, so that the last
// of a long queue does not wait for all the others' statements.
const maxGroup = 64

// writeQueue is the write transactions waiting for the turn.
type writeQueue struct {
	mu      sync.Mutex
	pending []*writeReq
}

type writeReq struct {
	ctx context.Context
	fn  func(context.Context, bun.Tx) error
	err error
	pnc any // a panic of fn, raised again in the caller's goroutine
	// began is when a group started it: the end of its wait for the turn.
	began time.Time
	done  chan struct{}
	// claims are the webhook deliveries fn wrote (writeOutbox), handed to
	// the dispatcher once they are committed (HandOffDeliveries).
	claims []webhook.Claim
}

// writeKey carries the running *writeReq in fn's context, so that what
// fn writes deep in a domain method (the outbox) can be handed on after
// the commit without every signature carrying it.
type writeKey struct{}

// writeOf returns the write transaction ctx runs in on SQLite, or nil.
func writeOf(ctx context.Context) *writeReq {
	r, _ := ctx.Value(writeKey{}).(*writeReq)
	return r
}

// HandOffDeliveries gives f every webhook delivery committed from now on
// (SQLite only; on PostgreSQL it does nothing, as other instances claim
// too): f gets the deliveries of each commit as ready claims, so that the
// dispatcher of the only instance can send them without reading the
// outbox again. f is called while this process holds the write turn, so
// an attempt at a delivery that f's dispatcher found by reading the
// outbox meanwhile cannot have had its outcome written yet: the dispatcher
// sees it held and does not send it twice. f must not block or write.
// A delivery f does not take stays pending in the outbox, for the
// dispatcher's next read.
func (d *DB) HandOffDeliveries(f func([]webhook.Claim)) {
	if d.writes != nil {
		d.handoff.Store(&f)
	}
}

// handOff passes what the committed requests wrote to the hook.
func (d *DB) handOff(group []*writeReq) {
	f := d.handoff.Load()
	if f == nil {
		return
	}
	var claims []webhook.Claim
	for _, r := range group {
		if r.err == nil && r.pnc == nil {
			claims = append(claims, r.claims...)
		}
		r.claims = nil
	}
	if len(claims) > 0 {
		(*f)(claims)
	}
}

// tx runs fn in a write transaction and returns once it has committed (or
// failed).
//
// On SQLite the process's writers take turns, in the order they asked: a
// writer that found SQLite's lock taken would wait in its busy handler,
// which sleeps in steps of up to 100 ms and leaves the lock idle while
// others queue (measured: revokeSession p99 135-185 ms with eight clients,
// 12-13 ms with turns). The writer that gets the turn runs every
// transaction queued by then in one SQLite transaction, each in a savepoint
// of its own, and commits once: one WAL sync for the group instead of one
// each, which is what a commit costs with synchronous=FULL. Each caller
// still gets its own outcome: an error of its fn rolls back its savepoint
// only, and nobody returns before the commit that holds their writes is
// durable. Within a group the transactions run one after the other, each
// seeing the writes of those before it, exactly as if they had committed
// one by one. A caller whose context ends while it is still queued is
// dropped (nothing written); once its fn has started it runs to the end
// without the context's cancellation, because an interrupted statement
// would roll back the whole group's transaction.
//
// On PostgreSQL fn runs in a transaction of its own at once.
func (d *DB) tx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	if d.writes == nil {
		return d.bun.RunInTx(ctx, nil, fn)
	}
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	q := &d.queue
	q.mu.Lock()
	q.pending = append(q.pending, r)
	q.mu.Unlock()

	start := time.Now()
	waited := false
	for {
		select {
		case d.writes <- struct{}{}:
			d.commitGroup()
			<-d.writes
		default:
			if !waited {
				waited = true
				d.stats.writeWaits.Add(1)
			}
			select {
			case d.writes <- struct{}{}:
				d.commitGroup()
				<-d.writes
			case <-r.done:
			case <-ctx.Done():
				if q.remove(r) {
					return ctx.Err()
				}
				<-r.done // it is running: report what happened to it
			}
		}
		select {
		case <-r.done:
			if waited && d.stats.obs != nil && !r.began.IsZero() {
				d.stats.obs.WriteWait(r.began.Sub(start))
			}
			if r.pnc != nil {
				panic(r.pnc)
			}
			return r.err
		default:
			// The turn came while this request was still queued behind a
			// full group: take it again.
		}
	}
}

// remove takes r out of the queue; false if a group has taken it already.
func (q *writeQueue) remove(r *writeReq) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, p := range q.pending {
		if p == r {
			q.pending = append(q.pending[:i], q.pending[i+1:]...)
			return true
		}
	}
	return false
}

// commitGroup runs the queued transactions (at most maxGroup) in one
// SQLite transaction; the caller holds the turn.
func (d *DB) commitGroup() {
	q := &d.queue
	q.mu.Lock()
	n := min(len(q.pending), maxGroup)
	group := make([]*writeReq, n)
	copy(group, q.pending)
	q.pending = append(q.pending[:0], q.pending[n:]...)
	q.mu.Unlock()
	if n == 0 {
		return
	}
	defer func() {
		for _, r := range group {
			close(r.done)
		}
	}()
	began := time.Now()
	for _, r := range group {
		r.began = began
	}
	if n == 1 {
		// Alone: its own transaction, with its own context, as always.
		r := group[0]
		r.err = d.bun.RunInTx(r.ctx, nil, func(ctx context.Context, tx bun.Tx) error { return r.run(ctx, tx) })
		if r.err != nil {
			d.endpoints.changed() // a rolled-back transaction may have cached what it wrote
		}
		d.handOff(group)
		return
	}
	d.stats.groups.Add(1)
	err := d.bun.RunInTx(context.Background(), nil, func(_ context.Context, tx bun.Tx) error {
		for _, r := range group {
			ctx := context.WithoutCancel(r.ctx)
			sp, err := tx.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if r.err = r.run(ctx, sp); r.err != nil {
				r.claims = nil // rolled back: they were never written
				if err := sp.Rollback(); err != nil {
					return fmt.Errorf("roll back a grouped write: %w", err)
				}
				continue
			}
			if err := sp.Commit(); err != nil {
				return fmt.Errorf("release a grouped write: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		// The group's transaction failed as a whole: nothing of it is written.
		d.endpoints.changed()
		for _, r := range group {
			if r.pnc == nil {
				r.err = err
			}
		}
	}
	d.handOff(group)
}

// run calls fn, turning a panic into an error for the group and keeping
// it for the caller's goroutine.
func (r *writeReq) run(ctx context.Context, tx bun.Tx) (err error) {
	ctx = context.WithValue(ctx, writeKey{}, r)
	defer func() {
		if p := recover(); p != nil {
			r.pnc = p
			err = fmt.Errorf("write transaction panicked: %v", p)
		}
	}()
	return r.fn(ctx, tx)
}

// writeTurn waits for this process's turn to write on SQLite (at once on
// PostgreSQL, whose row locks order writers) and returns its release. Every
// write outside tx takes it too; a write inside fn of tx must not.
func (d *DB) writeTurn(ctx context.Context) (release func(), err error) {
	if d.writes == nil {
		return func() {}, nil
	}
	release = func() { <-d.writes }
	select {
	case d.writes <- struct{}{}:
		return release, nil
	default:
	}
	d.stats.writeWaits.Add(1)
	start := time.Now()
	select {
	case d.writes <- struct{}{}:
		if d.stats.obs != nil {
			d.stats.obs.WriteWait(time.Since(start))
		}
		return release, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
