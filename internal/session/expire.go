package session

import (
	"context"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/model"
)

const dueBatch = 2000

// EndDue ends every session whose deadline has passed, with IDLE_TIMEOUT or
// FORCE_RELOGIN, after writing pending activity so that no session ends
// while it had activity within its idle timeout; then it sends
// EXPIRING_SOON for deadlines within WarnBefore. It returns how many ended.
func (s *Service) EndDue(ctx context.Context) (int, error) {
	// Judge by the time the flush started: activity accepted after the
	// flush is not in the store, so a later "now" could end a session that
	// such activity keeps alive.
	now := s.clock.Now()
	if err := s.Flush(ctx); err != nil {
		return 0, err
	}
	n, err := s.endAllDue(ctx, now)
	if err != nil {
		return n, err
	}
	// The same instant: a session that passed its deadline since is ended
	// by the next round, never warned as if it were still live.
	return n, s.warnDue(ctx, now)
}

// warnDue publishes EXPIRING_SOON once per deadline near now.
func (s *Service) warnDue(ctx context.Context, now time.Time) error {
	for {
		warned, err := s.store.MarkWarned(ctx, now, s.cfg.WarnBefore, dueBatch)
		if err != nil {
			return err
		}
		if len(warned) > 0 {
			evs := make([]events.Event, len(warned))
			for i := range warned {
				evs[i] = events.Event{Kind: events.ExpiringSoon, Session: s.withPending(warned[i]), At: now}
			}
			s.publish(ctx, evs...)
			s.obs.ExpiringSoonSent(len(warned))
		}
		if len(warned) < dueBatch {
			return nil
		}
	}
}

func (s *Service) endAllDue(ctx context.Context, at time.Time) (int, error) {
	total := 0
	now := at.Add(-s.cfg.ExpiryGrace)
	for {
		due, err := s.store.DueSessions(ctx, now, dueBatch)
		if err != nil {
			return total, err
		}
		if len(due) == 0 {
			return total, nil
		}
		ended, err := s.endDue(ctx, due, now)
		if err != nil {
			return total, err
		}
		total += len(ended)
		if len(due) < dueBatch {
			return total, nil
		}
	}
}

// endDue ends sessions that are due by dueBy, each at its deadline and
// with the reason of the deadline that passed. The store re-checks the
// deadline, so a session whose activity was written meanwhile stays.
func (s *Service) endDue(ctx context.Context, due []model.Session, dueBy time.Time) ([]model.Session, error) {
	ids := make([]string, len(due))
	for i, d := range due {
		ids[i] = d.ID
	}
	ended, err := s.store.EndDueSessions(ctx, ids, dueBy)
	if err != nil {
		return nil, err
	}
	// An expired session ends at its deadline: the lag is how late the
	// end was written.
	now := s.clock.Now()
	for _, e := range ended {
		if e.EndedAt != nil {
			s.obs.Expired(now.Sub(*e.EndedAt))
		}
	}
	s.ended(ctx, ended)
	return ended, nil
}

// NextDeadline is when the scheduler must act next: the earliest deadline
// of an active session, or the earliest EXPIRING_SOON warning due.
func (s *Service) NextDeadline(ctx context.Context) (time.Time, bool, error) {
	next, ok, err := s.store.NextDeadline(ctx)
	if err != nil || !ok {
		return next, ok, err
	}
	warn, wok, err := s.store.NextWarning(ctx, s.cfg.WarnBefore)
	if err != nil {
		return time.Time{}, false, err
	}
	next = next.Add(s.cfg.ExpiryGrace)
	if wok && warn.Before(next) {
		next = warn
	}
	return next, true, nil
}

// IsLive applies the liveness rule (model.Session.LiveAt) to a session as
// this instance knows it: its unwritten activity counted in, the expiry
// grace of a cluster allowed.
func (s *Service) IsLive(ses model.Session) bool {
	return s.withPending(ses).LiveAt(s.clock.Now(), s.cfg.ExpiryGrace)
}

// Get returns a session with activity not yet written counted in.
func (s *Service) Get(ctx context.Context, id string) (model.Session, error) {
	ses, err := s.store.Session(ctx, id)
	if err != nil {
		return ses, err
	}
	return s.withPending(ses), nil
}

// EndIfDue ends a session whose deadline has passed, as the scheduler
// would, so a caller never waits on a session that is over but not swept.
func (s *Service) EndIfDue(ctx context.Context, ses model.Session) error {
	if ses.Ended() || s.IsLive(ses) {
		return nil
	}
	ses = s.withPending(ses)
	_, err := s.endDue(ctx, []model.Session{ses}, ses.ExpiresAt)
	return err
}
