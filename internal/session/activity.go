package session

import (
	"context"
	"errors"
	"time"

	"github.com/sessiond/sessiond/internal/model"
)

func (s *Service) withPending(ses model.Session) model.Session {
	s.mu.Lock()
	t, ok := s.pending[ses.ID]
	s.mu.Unlock()
	if ok {
		return ses.WithActivity(t)
	}
	return ses
}

// Touch records activity on a live session now. It is cheap: activity is
// kept in memory and written in batches (see Config.ActivityFlush).
func (s *Service) Touch(ses model.Session) model.Session {
	now := s.clock.Now()
	s.mu.Lock()
	if t, ok := s.pending[ses.ID]; !ok || now.After(t) {
		s.pending[ses.ID] = now
	}
	s.mu.Unlock()
	return ses.WithActivity(now)
}

// Flush writes pending activity to the store.
func (s *Service) Flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	batch := s.pending
	if len(batch) == 0 {
		s.mu.Unlock()
		return nil
	}
	s.pending = make(map[string]time.Time, len(batch))
	s.mu.Unlock()
	if err := s.store.TouchSessions(ctx, batch); err != nil {
		// Put the batch back so no activity is lost; newer entries win.
		s.mu.Lock()
		for id, t := range batch {
			if cur, ok := s.pending[id]; !ok || t.After(cur) {
				s.pending[id] = t
			}
		}
		s.mu.Unlock()
		return err
	}
	return nil
}

// RunFlusher writes pending activity every ActivityFlush until ctx ends,
// then flushes once more.
func (s *Service) RunFlusher(ctx context.Context) {
	t := time.NewTicker(s.cfg.ActivityFlush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.Flush(context.WithoutCancel(ctx)); err != nil {
				s.log.Error("flush activity at shutdown", "err", err)
			}
			return
		case <-t.C:
			if err := s.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("flush activity", "err", err)
			}
		}
	}
}
