package session

import (
	"context"
	"errors"
	"time"

	"github.com/sessiond/sessiond/internal/model"
)

// withPending returns a session as this instance knows it: the latest
// activity it accepted counts in, whether or not it has been written yet.
// Every read of a session goes through it, so that a read right after an
// active request, or during and after a flush, shows the same lastActiveAt
// (the store's copy or a cached one may predate the write).
func (s *Service) withPending(ses model.Session) model.Session {
	s.mu.Lock()
	t, ok := s.pending[ses.ID]
	if w, wok := s.written[ses.ID]; wok && (!ok || w.at.After(t)) {
		t, ok = w.at, true
	}
	s.mu.Unlock()
	if ok {
		return ses.WithActivity(t)
	}
	return ses
}

// writtenActivity is activity this instance flushed recently: copies of the
// session read before the write (the token cache) still lack it.
type writtenActivity struct {
	at      time.Time // the activity
	written time.Time // when it was written
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
	now := s.clock.Now()
	s.mu.Lock()
	batch := s.pending
	if len(batch) == 0 {
		s.forgetWritten(now)
		s.mu.Unlock()
		return nil
	}
	s.pending = make(map[string]time.Time, len(batch))
	// Reads while the batch is being written, and cached copies read
	// before it, still see it through written.
	for id, t := range batch {
		s.written[id] = writtenActivity{at: t, written: now}
	}
	s.forgetWritten(now)
	s.mu.Unlock()
	start := time.Now() // a duration for metrics, not a domain instant
	err := s.store.TouchSessions(ctx, batch)
	s.obs.ActivityFlushed(len(batch), time.Since(start))
	if err != nil {
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

// forgetWritten drops written activity older than any cached copy of a
// session can be. Call with s.mu held.
func (s *Service) forgetWritten(now time.Time) {
	for id, w := range s.written {
		if now.Sub(w.written) > s.cfg.CacheTTL+s.cfg.ActivityFlush {
			delete(s.written, id)
		}
	}
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
