package session

import (
	"context"
	"errors"
	"strings"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/auth"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
	"github.com/sessiond/sessiond/internal/secret"
)

// Authenticate validates a session token and returns its live session.
// UNAUTHENTICATED for an unknown token, and for an ended or expired session
// with extensions.reason set to why it ended. An expired session that the
// scheduler has not reached yet is ended here, with its reason.
func (s *Service) Authenticate(ctx context.Context, token string) (model.Session, error) {
	return s.AuthenticateHash(ctx, secret.HashToken(token))
}

// AuthenticateHash is Authenticate for a token known by its hash: open
// connections revalidate their session this way without keeping the token.
func (s *Service) AuthenticateHash(ctx context.Context, hash string) (model.Session, error) {
	ses, hit, err := s.authenticateHash(ctx, hash)
	s.obs.Validated(validationResult(err), hit)
	return ses, err
}

// validationResult names a validation's outcome for metrics.
func validationResult(err error) string {
	var e *apperr.Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &e) && e.Code == apperr.Unauthenticated && e.Reason != "":
		return "ended"
	case apperr.CodeOf(err) == apperr.Unauthenticated:
		return "unknown"
	}
	return "error"
}

func (s *Service) authenticateHash(ctx context.Context, hash string) (model.Session, bool, error) {
	ses, hit := s.cache.Get(hash)
	ses, err := s.validate(ctx, hash, ses, hit)
	return ses, hit, err
}

func (s *Service) validate(ctx context.Context, hash string, ses model.Session, ok bool) (model.Session, error) {
	if ok && !s.withPending(ses).LiveAt(s.clock.Now(), 0) {
		// The copy may predate activity written since (a flush drops the
		// pending activity it would be seen through, and other instances
		// write theirs): only the store can say that the session is over.
		ok = false
	}
	if !ok {
		var err error
		if ses, err = s.load(ctx, hash); err != nil {
			return model.Session{}, err
		}
	}
	if ses.Ended() {
		return ses, endedError(ses.EndReason)
	}
	ses = s.withPending(ses)
	now := s.clock.Now()
	if ses.LiveAt(now, s.cfg.ExpiryGrace) {
		return ses, nil
	}
	// It looks expired, but the cached copy may be stale: its activity may
	// have been flushed (and so left the pending map) since it was cached.
	// Decide on the stored session, with pending activity written first, so
	// that no session ends while it had activity within its idle timeout.
	if err := s.Flush(ctx); err != nil {
		return model.Session{}, err
	}
	s.cache.Remove(hash)
	ses, err := s.load(ctx, hash)
	if err != nil {
		return model.Session{}, err
	}
	if ses.Ended() {
		return ses, endedError(ses.EndReason)
	}
	if ses = s.withPending(ses); ses.LiveAt(now, s.cfg.ExpiryGrace) {
		return ses, nil
	}
	ended, err := s.endDue(ctx, []model.Session{ses}, ses.ExpiresAt)
	if err != nil {
		return model.Session{}, err
	}
	if len(ended) == 1 {
		return ses, endedError(ended[0].EndReason)
	}
	// Nothing ended: someone else ended it meanwhile (report their reason),
	// or activity written meanwhile keeps it alive.
	cur, err := s.store.Session(ctx, ses.ID)
	if err != nil {
		return model.Session{}, err
	}
	if cur.Ended() {
		return cur, endedError(cur.EndReason)
	}
	if cur = s.withPending(cur); cur.LiveAt(now, s.cfg.ExpiryGrace) {
		return cur, nil
	}
	return ses, endedError(policy.DueReason(ses.IdleExpiresAt, ses.AbsoluteExpiresAt))
}

// load reads a token's session from the store and caches it while active.
func (s *Service) load(ctx context.Context, hash string) (model.Session, error) {
	ses, err := s.store.SessionByTokenHash(ctx, hash)
	if apperr.CodeOf(err) == apperr.NotFound {
		return model.Session{}, auth.Unauthenticated()
	}
	if err != nil {
		return model.Session{}, err
	}
	if !secret.EqualHash(ses.TokenHash, hash) {
		return model.Session{}, auth.Unauthenticated()
	}
	if !ses.Ended() {
		s.cache.Add(hash, ses)
	}
	return ses, nil
}

// EndedError is the UNAUTHENTICATED error for a session that ended for
// reason; extensions.reason carries the reason.
func EndedError(reason model.EndReason) error { return endedError(reason) }

func endedError(reason model.EndReason) error {
	e := apperr.Errorf(apperr.Unauthenticated, "the session has ended (%s); sign in again", strings.ToLower(strings.ReplaceAll(string(reason), "_", " ")))
	e.Reason = string(reason)
	return e
}
