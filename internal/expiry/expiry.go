// Package expiry ends sessions on their deadlines when nobody calls: a
// scheduler that sleeps until the next deadline (not a periodic scan), ends
// what is due through the session lifecycle, and looks again.
package expiry

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/internal/clock"
)

// Ender is what the scheduler needs of the session lifecycle.
type Ender interface {
	// NextDeadline is the earliest deadline of an active session.
	NextDeadline(ctx context.Context) (time.Time, bool, error)
	// EndDue ends every session whose deadline has passed.
	EndDue(ctx context.Context) (int, error)
}

// Lease is held by the one instance that schedules.
type Lease interface {
	// Lost is closed when the lease is gone (its connection failed).
	Lost() <-chan struct{}
	Release()
}

// Leader elects the scheduling instance when several share a database.
type Leader interface {
	// TryLead takes the lease if nobody holds it.
	TryLead(ctx context.Context) (Lease, bool, error)
}

// Scheduler wakes at the next session deadline.
type Scheduler struct {
	ender Ender
	// Leader, when set, lets only the instance holding its lease schedule;
	// the others try to take over every TakeoverEvery.
	Leader Leader
	// TakeoverEvery is how often a follower tries to lead (default 2 s).
	TakeoverEvery time.Duration
	leading       atomic.Bool
	clock         clock.Clock
	log           *slog.Logger
	wake          chan time.Time
	// MaxSleep bounds one sleep, so deadlines written by another process
	// are noticed even without a wake-up (default 1 minute).
	MaxSleep time.Duration
	// RetryAfter is the pause after a failed round (default 1 s).
	RetryAfter time.Duration
}

// New returns a scheduler over ender.
func New(ender Ender, clk clock.Clock, log *slog.Logger) *Scheduler {
	return &Scheduler{ender: ender, clock: clk, log: log, wake: make(chan time.Time, 64), MaxSleep: time.Minute, RetryAfter: time.Second, TakeoverEvery: 2 * time.Second}
}

// Wake tells the scheduler of a deadline that may be earlier than the one
// it sleeps until; the zero time means "look again now". It never blocks.
func (s *Scheduler) Wake(t time.Time) {
	select {
	case s.wake <- t:
	default:
		// The channel is full of wake-ups already; one of them will do.
	}
}

// Run ends due sessions until ctx ends; with a Leader, only while it holds
// the lease.
func (s *Scheduler) Run(ctx context.Context) {
	if s.Leader == nil {
		s.lead(ctx, nil)
		return
	}
	for ctx.Err() == nil {
		lease, ok, err := s.Leader.TryLead(ctx)
		if err != nil {
			s.log.WarnContext(ctx, "scheduler: could not try to lead", "err", err)
		}
		if !ok {
			t := time.NewTimer(s.TakeoverEvery)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		s.log.InfoContext(ctx, "scheduler: this instance now schedules expiry")
		s.leading.Store(true)
		s.lead(ctx, lease.Lost())
		s.leading.Store(false)
		lease.Release()
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "scheduler: lost the lead; another instance takes over")
		}
	}
}

// Leading reports whether this instance schedules now (always with no Leader).
func (s *Scheduler) Leading() bool { return s.Leader == nil || s.leading.Load() }

// lead runs scheduling rounds until ctx ends or lost is closed.
func (s *Scheduler) lead(ctx context.Context, lost <-chan struct{}) {
	timer := s.clock.NewTimer(0)
	defer timer.Stop()
	<-timer.C()
	for {
		sleep, err := s.round(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.ErrorContext(ctx, "expiry round failed", "err", err)
			sleep = s.RetryAfter
		}
		target := s.clock.Now().Add(sleep)
		timer.Reset(sleep)
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-lost:
				return
			case <-timer.C():
				break wait
			case t := <-s.wake:
				if t.IsZero() || t.Before(target) {
					if !timer.Stop() {
						select {
						case <-timer.C():
						default:
						}
					}
					break wait
				}
			}
		}
	}
}

// round ends what is due and returns how long to sleep until the next deadline.
func (s *Scheduler) round(ctx context.Context) (time.Duration, error) {
	n, err := s.ender.EndDue(ctx)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.log.InfoContext(ctx, "sessions expired", "count", n)
	}
	next, ok, err := s.ender.NextDeadline(ctx)
	if err != nil {
		return 0, err
	}
	if !ok {
		return s.MaxSleep, nil
	}
	return min(max(next.Sub(s.clock.Now()), 0), s.MaxSleep), nil
}
