package session

import (
	"context"
	"strings"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/internal/secret"
)

// LoginInput is what a person logs in with.
type LoginInput struct {
	Email, Password string
	// TenantID is required when the user belongs to several tenants.
	TenantID string
	Client   Client
}

// Login verifies a password and opens a session. UNAUTHENTICATED for an
// unknown email or wrong password alike; RATE_LIMITED after repeated
// failures for the email or the IP address; BAD_USER_INPUT when the user
// belongs to several tenants and none is named.
func (s *Service) Login(ctx context.Context, in LoginInput) (Grant, error) {
	now := s.clock.Now()
	emailKey := strings.ToLower(strings.TrimSpace(in.Email))
	ipKey := in.Client.IPAddress
	for _, k := range []struct {
		l   *ratelimit.Limiter
		key string
	}{{s.emails, emailKey}, {s.ips, ipKey}} {
		if k.key == "" {
			continue
		}
		if ok, wait := k.l.Allow(k.key, now); !ok {
			e := apperr.Errorf(apperr.RateLimited, "too many failed logins; try again in %d seconds", int(wait.Seconds()+0.999))
			e.RetryAfter = wait
			return Grant{}, e
		}
	}
	fail := func() (Grant, error) {
		s.emails.Fail(emailKey, now)
		if ipKey != "" {
			s.ips.Fail(ipKey, now)
		}
		return Grant{}, apperr.Errorf(apperr.Unauthenticated, "the email or password is not correct")
	}
	u, err := s.store.UserByEmail(ctx, emailKey)
	if err != nil {
		if apperr.CodeOf(err) != apperr.NotFound {
			return Grant{}, err
		}
		s.checkPassword(ctx, in.Password, s.dummyHash)
		return fail()
	}
	hash := u.PasswordHash
	if hash == "" {
		hash = s.dummyHash
	}
	if !s.checkPassword(ctx, in.Password, hash) || u.PasswordHash == "" {
		return fail()
	}
	tenantID := in.TenantID
	if tenantID == "" {
		ms, err := s.store.MembershipsByUserIDs(ctx, []string{u.ID})
		if err != nil {
			return Grant{}, err
		}
		switch len(ms[u.ID]) {
		case 0:
			return fail()
		case 1:
			tenantID = ms[u.ID][0].TenantID
		default:
			return Grant{}, apperr.Invalid("tenantId", "this user belongs to %d tenants; name one with tenantId", len(ms[u.ID]))
		}
	}
	g, err := s.Create(ctx, model.Actor{Kind: model.ActorUser, ID: u.ID}, u.ID, tenantID, in.Client)
	if apperr.CodeOf(err) == apperr.NotFound {
		// Not a member of that tenant: the same answer as a wrong password.
		return fail()
	}
	if err == nil {
		s.emails.Reset(emailKey)
	}
	return g, err
}

// checkPassword verifies a password with at most hashSlots argon2id
// computations at once (19 MiB each), so a burst of logins cannot exhaust
// memory; the rest queue. A caller that gives up waiting fails.
func (s *Service) checkPassword(ctx context.Context, password, hash string) bool {
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	defer func() { <-s.hashSlots }()
	return secret.CheckPassword(password, hash)
}
