package session

import (
	"github.com/sessiond/sessiond/internal/text"

	"context"
	"time"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/device"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
	"github.com/sessiond/sessiond/internal/secret"
)

// Grant is a new session and its token, shown once.
type Grant struct {
	Token   string
	Session model.Session
}

// Client describes where a session is used from.
type Client struct {
	IPAddress string
	UserAgent string
}

// Create opens a session for a member of a tenant. Over the tenant's
// concurrency limit, the user's oldest sessions there end with
// CONCURRENT_SESSION_LIMIT. NOT_FOUND when the user is not a member.
func (s *Service) Create(ctx context.Context, actor model.Actor, userID, tenantID string, c Client) (Grant, error) {
	g, err := s.create(ctx, actor, userID, tenantID, c)
	code := ""
	if err != nil {
		code = string(apperr.CodeOf(err))
	}
	s.obs.SessionCreated(code)
	return g, err
}

func (s *Service) create(ctx context.Context, actor model.Actor, userID, tenantID string, c Client) (Grant, error) {
	// The user's sessions past their idle deadline end here: judge them by
	// their latest activity, so write it first. A failed write is retried
	// by the flusher; it must not fail the login.
	if err := s.Flush(ctx); err != nil {
		s.log.WarnContext(ctx, "flush activity before creating a session", "err", err)
	}
	token := secret.NewToken(secret.SessionTokenPrefix)
	ses := model.Session{
		TokenHash: secret.HashToken(token),
		IPAddress: text.Truncate(c.IPAddress, 64), UserAgent: text.Truncate(c.UserAgent, 512),
		Device: s.device(c.UserAgent),
	}
	created, ended, err := s.store.CreateSession(ctx, actor, userID, tenantID, func(env, tenant policy.Overrides, now time.Time) policy.SessionPlan {
		plan := policy.PlanSession(policy.Resolve(env, tenant), ses, now)
		// Another instance's activity may not be written yet: a session
		// within the grace of its deadline still takes a slot.
		plan.LiveAfter = now.Add(-s.cfg.ExpiryGrace)
		return plan
	})
	if err != nil {
		return Grant{}, err
	}
	s.ended(ctx, ended)
	s.publish(ctx, events.Event{Kind: events.Created, Session: created, At: created.CreatedAt})
	// The scheduler must act at the session's warning time, before its deadline.
	s.wake(created.ExpiresAt.Add(-min(s.cfg.WarnBefore, created.IdleTimeout/2)))
	return Grant{Token: token, Session: created}, nil
}

func (s *Service) device(ua string) string { return device.Label(s.ua, ua) }
