package session

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/internal/secret"
)

// Longest credentials a login accepts; longer ones are malformed (and
// counted as failed attempts).
const (
	maxLoginEmailBytes    = 254 // RFC 5321's longest address
	maxLoginPasswordBytes = 1024
	maxLoginTenantIDBytes = 64
)

// pruneEvery is how often an instance deletes login counters whose window
// has ended.
const pruneEvery = 5 * time.Minute

// LoginInput is what a person logs in with.
type LoginInput struct {
	Email, Password string
	// TenantID is required when the user belongs to several tenants.
	TenantID string
	Client   Client
}

// Login verifies a password and opens a session. UNAUTHENTICATED for an
// unknown email or wrong password alike; RATE_LIMITED (with RetryAfter)
// when the login budget refuses the attempt (see package ratelimit);
// BAD_USER_INPUT for malformed credentials (NUL bytes, invalid UTF-8, over
// long), which count as a failed attempt, and when the user belongs to
// several tenants and none is named.
//
// The attempt is counted before the password is checked, in one atomic
// step with the budget's check, so parallel guesses cannot all pass the
// check before any is counted; a right password refunds it.
func (s *Service) Login(ctx context.Context, in LoginInput) (Grant, error) {
	g, err := s.login(ctx, in)
	s.obs.Login(loginResult(err))
	return g, err
}

// loginResult names a login's outcome for metrics.
func loginResult(err error) string {
	if err == nil {
		return "ok"
	}
	switch apperr.CodeOf(err) {
	case apperr.Unauthenticated:
		return "bad_credentials"
	case apperr.RateLimited:
		return "rate_limited"
	case apperr.BadUserInput:
		return "invalid"
	}
	return "error"
}

func (s *Service) login(ctx context.Context, in LoginInput) (Grant, error) {
	now := s.clock.Now()
	email := strings.ToLower(strings.TrimSpace(in.Email))
	attempt, err := s.reserve(ctx, email, in.Client.IPAddress)
	if err != nil {
		return Grant{}, err
	}
	defer s.logins.inflight.end(email)
	s.maybePrune(ctx, now)
	if err := checkCredentials(in); err != nil {
		return Grant{}, err
	}
	fail := func() (Grant, error) {
		return Grant{}, apperr.Errorf(apperr.Unauthenticated, "the email or password is not correct")
	}
	u, err := s.store.UserByEmail(ctx, email)
	if err != nil {
		if apperr.CodeOf(err) != apperr.NotFound {
			return Grant{}, err
		}
		_, _ = s.checkPassword(ctx, in.Password, s.dummyHash)
		return fail()
	}
	hash := u.PasswordHash
	if hash == "" {
		hash = s.dummyHash
	}
	ok, err := s.checkPassword(ctx, in.Password, hash)
	if err != nil {
		// The request's time ran out while other sign-ins held every hash
		// slot: say so, never "wrong password" for a password not checked.
		s.refund(context.WithoutCancel(ctx), attempt, s.clock.Now())
		e := apperr.Errorf(apperr.RateLimited, "the server is busy checking other sign-ins; try again in a moment")
		e.RetryAfter = time.Second
		return Grant{}, e
	}
	if !ok || u.PasswordHash == "" {
		return fail()
	}
	// The password is right: whatever follows, this was no guess.
	s.refund(ctx, attempt, s.clock.Now())
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
	return g, err
}

// maxReserveRetries bounds how often a refused attempt tries again after
// this instance's in-flight attempts for its email completed.
const maxReserveRetries = 32

// reserve counts an attempt for email from ip, or refuses it with
// RATE_LIMITED. A refusal while attempts for the same email are being
// checked on this instance waits for them and tries again: if they were
// right passwords they are refunded, and concurrent logins of one person
// (several tabs, a retrying client) all get through, one after another;
// if they were wrong, the budget refuses this one too. So parallel
// attempts are delayed, never let through by parallelism. The caller ends
// the in-flight mark of an attempt it got.
func (s *Service) reserve(ctx context.Context, email, ip string) (*ratelimit.Attempt, error) {
	for try := 0; ; try++ {
		// The attempt is marked in flight before its reservation is
		// counted: an attempt refused because of this one then always
		// finds the mark and waits for its outcome, instead of slipping
		// between the count and the mark and being refused outright.
		s.logins.inflight.begin(email)
		_, before := s.logins.inflight.watch(email)
		attempt, wait, err := s.logins.Reserve(ctx, email, ip, s.clock.Now())
		if err != nil {
			s.logins.inflight.cancel(email)
			return nil, err
		}
		if wait == 0 {
			return attempt, nil
		}
		s.logins.inflight.cancel(email)
		done, after := s.logins.inflight.watch(email)
		if try >= maxReserveRetries || (done == nil && after == before) {
			secs := int((wait + time.Second - 1) / time.Second)
			e := apperr.Errorf(apperr.RateLimited, "too many failed logins; try again in %d seconds", secs)
			e.RetryAfter = time.Duration(secs) * time.Second
			return nil, e
		}
		if done == nil {
			continue // attempts began and ended meanwhile: look again
		}
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// refund gives back a right password's attempt. A failure to write it
// leaves the attempt counted (the budget errs on the strict side) and
// must not fail the login.
func (s *Service) refund(ctx context.Context, a *ratelimit.Attempt, now time.Time) {
	if err := s.logins.Refund(context.WithoutCancel(ctx), a, now); err != nil {
		s.log.WarnContext(ctx, "refund a successful login's attempt", "err", err)
	}
}

// maybePrune deletes ended login counters at most every pruneEvery, in
// the background.
func (s *Service) maybePrune(ctx context.Context, now time.Time) {
	last := s.lastPrune.Load()
	if now.UnixNano()-last < int64(pruneEvery) || !s.lastPrune.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	go func() {
		if _, err := s.logins.Prune(context.WithoutCancel(ctx), now); err != nil {
			s.log.WarnContext(ctx, "prune login counters", "err", err)
		}
	}()
}

// checkCredentials refuses credentials no account can have: text that is
// not valid UTF-8 or holds NUL bytes, or longer than any stored value.
func checkCredentials(in LoginInput) error {
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"email", in.Email, maxLoginEmailBytes},
		{"password", in.Password, maxLoginPasswordBytes},
		{"tenantId", in.TenantID, maxLoginTenantIDBytes},
	} {
		switch {
		case !utf8.ValidString(f.value):
			return apperr.Invalid(f.name, "%s must be valid UTF-8", f.name)
		case strings.IndexByte(f.value, 0) >= 0:
			return apperr.Invalid(f.name, "%s must not contain NUL characters", f.name)
		case len(f.value) > f.max:
			return apperr.Invalid(f.name, "%s must be at most %d bytes", f.name, f.max)
		}
	}
	return nil
}

// checkPassword verifies a password with at most hashSlots argon2id
// computations at once (19 MiB each), so a burst of logins cannot exhaust
// memory; the rest queue. A caller that gives up waiting fails.
func (s *Service) checkPassword(ctx context.Context, password, hash string) (bool, error) {
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-s.hashSlots }()
	return secret.CheckPassword(password, hash), nil
}
