package session

import (
	"context"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/model"
)

// End ends sessions for the given reasons: the one way a session ends on
// request. A session already past its deadline (not yet swept) was over
// then: it is recorded as ending at its deadline, for the deadline's reason.
// It returns the sessions it ended (those still active).
func (s *Service) End(ctx context.Context, actor model.Actor, ends ...model.SessionEnd) ([]model.Session, error) {
	overdueBy, err := s.OverdueBy(ctx)
	if err != nil {
		return nil, err
	}
	ended, err := s.store.EndSessions(ctx, ends, actor, overdueBy)
	if err != nil {
		return nil, err
	}
	s.ended(ctx, ended)
	return ended, nil
}

// SignOut ends every active session of a user in a tenant (all tenants
// when tenantID is ""), except the session keep, with reason, in one
// transaction, and publishes their ends. It returns how many ended.
func (s *Service) SignOut(ctx context.Context, actor model.Actor, userID, tenantID, keep string, reason model.EndReason) (int, error) {
	overdueBy, err := s.OverdueBy(ctx)
	if err != nil {
		return 0, err
	}
	ended, err := s.store.EndUserSessions(ctx, userID, tenantID, keep, reason, actor, overdueBy)
	if err != nil {
		return 0, err
	}
	s.ended(ctx, ended)
	return len(ended), nil
}

// OverdueBy writes pending activity, so that the store judges deadlines by
// the latest activity, and returns the instant at or before which a stored
// deadline means the session is over: now, less the grace in which another
// instance's unwritten activity may still move it. Whatever ends a session
// (an end here, a directory change) ends one overdue by then with its
// deadline's reason instead.
func (s *Service) OverdueBy(ctx context.Context) (time.Time, error) {
	if err := s.Flush(ctx); err != nil {
		return time.Time{}, err
	}
	return s.clock.Now().Add(-s.cfg.ExpiryGrace), nil
}

// Ended publishes sessions that the store ended inside another change
// (a deleted user, a removed membership, a deleted tenant).
func (s *Service) Ended(ctx context.Context, ended []model.Session) { s.ended(ctx, ended) }

// ended runs after every committed end: it evicts the sessions from the
// token cache and publishes one TERMINATED event each.
func (s *Service) ended(ctx context.Context, ended []model.Session) {
	if len(ended) == 0 {
		return
	}
	evs := make([]events.Event, len(ended))
	byReason := map[model.EndReason]int{}
	s.mu.Lock()
	for i, ses := range ended {
		delete(s.pending, ses.ID)
		delete(s.written, ses.ID)
		byReason[ses.EndReason]++

		evs[i] = events.Event{Kind: events.Terminated, Session: ses, At: *ses.EndedAt}
	}
	s.mu.Unlock()
	for _, ses := range ended {
		s.cache.Remove(ses.TokenHash)
	}
	for r, n := range byReason {
		s.obs.SessionsEnded(string(r), n)
	}
	s.publish(ctx, evs...)
}

func (s *Service) publish(ctx context.Context, evs ...events.Event) {
	if err := s.bus.Publish(ctx, evs...); err != nil {
		s.log.ErrorContext(ctx, "publish session events", "err", err, "events", len(evs))
	}
}

// dueBatch is how many due sessions one transaction ends.
