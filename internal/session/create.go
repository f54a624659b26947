package session

import (
	"context"
	"github.com/sessiond/sessiond/internal/device"
	"time"

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
	// The user's sessions past their idle deadline end here: judge them by
	// their latest activity, so write it first. A failed write is retried
	// by the flusher; it must not fail the login.
	if err := s.Flush(ctx); err != nil {
		s.log.WarnContext(ctx, "flush activity before creating a session", "err", err)
	}
	token := secret.NewToken(secret.SessionTokenPrefix)
	ses := model.Session{
		TokenHash: secret.HashToken(token),
		IPAddress: truncate(c.IPAddress, 64), UserAgent: truncate(c.UserAgent, 512),
		Device: s.device(c.UserAgent),
	}
	created, ended, err := s.store.CreateSession(ctx, actor, userID, tenantID, func(env, tenant policy.Overrides, active []policy.Active, now time.Time) (model.Session, []policy.Termination) {
		eff := policy.Resolve(env, tenant)
		out := ses
		out.CreatedAt, out.LastActiveAt = now, now
		out.IdleExpiresAt, out.AbsoluteExpiresAt, out.ExpiresAt = eff.Deadlines(now, now)
		out.IdleTimeout = eff.Idle()
		// The new session counts too: at the limit, make room for one.
		ends := policy.Terminations(eff, active, now)
		if limit := eff.Limit(); limit > 0 {
			live := liveAfter(active, ends)
			for _, a := range policy.Oldest(live, len(live)-limit+1) {
				ends = append(ends, policy.Termination{ID: a.ID, Reason: model.EndConcurrentSessionLimit})
			}
		}
		return out, ends
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

// liveAfter returns the active sessions that the terminations leave.
func liveAfter(active []policy.Active, ends []policy.Termination) []policy.Active {
	gone := make(map[string]bool, len(ends))
	for _, e := range ends {
		gone[e.ID] = true
	}
	out := make([]policy.Active, 0, len(active))
	for _, a := range active {
		if !gone[a.ID] {
			out = append(out, a)
		}
	}
	return out
}

func (s *Service) device(ua string) string { return device.Label(s.ua, ua) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}
