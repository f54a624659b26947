// Package expiry ends sessions on their deadlines when nobody calls: a
// scheduler that sleeps until the next deadline (not a periodic scan), ends
// what is due through the session lifecycle, and looks again.
package expiry

import (
	"context"
	"log/slog"
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

// Scheduler wakes at the next session deadline.
type Scheduler struct {
	ender Ender
	clock clock.Clock
	log   *slog.Logger
	wake  chan time.Time
	// MaxSleep bounds one sleep, so deadlines written by another process
	// are noticed even without a wake-up (default 1 minute).
	MaxSleep time.Duration
	// RetryAfter is the pause after a failed round (default 1 s).
	RetryAfter time.Duration
}

// New returns a scheduler over ender.
func New(ender Ender, clk clock.Clock, log *slog.Logger) *Scheduler {
	return &Scheduler{ender: ender, clock: clk, log: log, wake: make(chan time.Time, 64), MaxSleep: time.Minute, RetryAfter: time.Second}
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

// Run ends due sessions until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
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
