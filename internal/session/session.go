// Package session runs the session lifecycle: login and creation under the
// concurrency rule, token validation, activity, the one function through
// which every session ends (and its event is published), expiry of due
// sessions, and changes to the session policy.
package session

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/medama-io/go-useragent"

	"github.com/sessiond/sessiond/db"
	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/auth"
	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/internal/secret"
)

// Store is the persistence the session lifecycle needs.
type Store interface {
	UserByEmail(ctx context.Context, email string) (model.User, error)
	MembershipsByUserIDs(ctx context.Context, userIDs []string) (map[string][]model.Membership, error)
	CreateSession(ctx context.Context, actor model.Actor, userID, tenantID string, plan db.SessionPlanner) (model.Session, []model.Session, error)
	SessionByTokenHash(ctx context.Context, hash string) (model.Session, error)
	Session(ctx context.Context, id string) (model.Session, error)
	EndSessions(ctx context.Context, ends []model.SessionEnd, actor model.Actor, dueBy *time.Time) ([]model.Session, error)
	EndUserSessions(ctx context.Context, userID, tenantID, except string, reason model.EndReason, actor model.Actor) ([]model.Session, error)
	DueSessions(ctx context.Context, now time.Time, limit int) ([]model.Session, error)
	NextDeadline(ctx context.Context) (time.Time, bool, error)
	NextWarning(ctx context.Context, lead time.Duration) (time.Time, bool, error)
	MarkWarned(ctx context.Context, now time.Time, lead time.Duration, limit int) ([]model.Session, error)
	TouchSessions(ctx context.Context, touches map[string]time.Time) error
	PolicyLevels(ctx context.Context, tenantID string) (env, tenant policy.Overrides, err error)
	UpdatePolicy(ctx context.Context, actor model.Actor, scope string, change func(policy.Overrides) policy.Overrides, plan db.PolicyPlanner) (db.PolicyChange, error)
	ActiveSessions(ctx context.Context, scope string) ([]policy.Active, db.Levels, error)
}

// Config tunes the service. Zero values take defaults.
type Config struct {
	// ActivityFlush is how long recorded activity may wait in memory before
	// it is written (default 1 s). It bounds how stale another instance's
	// view of activity can be; this instance always flushes before expiring.
	ActivityFlush time.Duration
	// CacheTTL is how long a validated token's session is reused without a
	// database read (default 2 s). Ends on this instance evict at once.
	CacheTTL time.Duration
	// LoginLimit punishes repeated login failures.
	LoginLimit ratelimit.Policy
	// WarnBefore is how long before a deadline EXPIRING_SOON is sent
	// (default 2 minutes), or half the idle timeout when that is shorter.
	WarnBefore time.Duration
	// ExpiryGrace delays ending a session past its stored deadline, so that
	// activity another instance has not written yet (at most ActivityFlush
	// old) is honoured. Zero for a single instance, which flushes its own
	// activity before it expires anything.
	ExpiryGrace time.Duration
}

// Service is the session lifecycle.
type Service struct {
	store  Store
	bus    events.Bus
	clock  clock.Clock
	log    *slog.Logger
	cfg    Config
	ua     *useragent.Parser
	cache  *expirable.LRU[string, model.Session]
	emails *ratelimit.Limiter
	ips    *ratelimit.Limiter
	// dummyHash is checked for unknown emails, so they cost what a wrong
	// password costs.
	dummyHash string

	mu      sync.Mutex
	pending map[string]time.Time // session id → latest unflushed activity
	// hashSlots bounds concurrent password checks.
	hashSlots chan struct{}
	wake      func(time.Time) // tells the scheduler of a new deadline
	flushMu   sync.Mutex      // serialises flushes
}

// New returns the session service.
func New(store Store, bus events.Bus, clk clock.Clock, log *slog.Logger, cfg Config) *Service {
	if cfg.ActivityFlush <= 0 {
		cfg.ActivityFlush = time.Second
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 2 * time.Second
	}
	if cfg.WarnBefore <= 0 {
		cfg.WarnBefore = 2 * time.Minute
	}
	if cfg.LoginLimit == (ratelimit.Policy{}) {
		cfg.LoginLimit = ratelimit.DefaultPolicy()
	}
	dummy, _ := secret.HashPassword(secret.NewToken("dummy"))
	s := &Service{
		store: store, bus: bus, clock: clk, log: log, cfg: cfg,
		ua:        useragent.NewParser(),
		cache:     expirable.NewLRU[string, model.Session](100_000, nil, cfg.CacheTTL),
		emails:    ratelimit.New(cfg.LoginLimit, 100_000),
		ips:       ratelimit.New(cfg.LoginLimit, 100_000),
		dummyHash: dummy,
		pending:   map[string]time.Time{},
		hashSlots: make(chan struct{}, 2*runtime.NumCPU()),
		wake:      func(time.Time) {},
	}
	// Sessions ended by another instance leave this one's token cache too.
	_, _ = bus.Watch(context.Background(), events.Filter{}, func(e events.Event) {
		if e.Kind != events.Terminated {
			return
		}
		if e.Session.TokenHash != "" {
			s.cache.Remove(e.Session.TokenHash)
		} else {
			s.cache.Purge()
		}
	})
	return s
}

// OnDeadline registers the scheduler's wake-up: f is told of every new
// deadline that may be earlier than the ones it knows.
func (s *Service) OnDeadline(f func(time.Time)) { s.wake = f }

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

func (s *Service) device(ua string) string {
	if strings.TrimSpace(ua) == "" {
		return "Unknown device"
	}
	a := s.ua.Parse(ua)
	browser, os := string(a.Browser()), string(a.OS())
	if os == "MacOS" {
		os = "macOS"
	}
	switch {
	case browser != "" && os != "":
		return browser + " on " + os
	case browser != "":
		return browser
	case os != "":
		return "Unknown browser on " + os
	}
	return "Unknown device"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}

// Authenticate validates a session token and returns its live session.
// UNAUTHENTICATED for an unknown token, and for an ended or expired session
// with extensions.reason set to why it ended. An expired session that the
// scheduler has not reached yet is ended here, with its reason.
func (s *Service) Authenticate(ctx context.Context, token string) (model.Session, error) {
	hash := secret.HashToken(token)
	ses, ok := s.cache.Get(hash)
	if ok && !s.withPending(ses).ExpiresAt.After(s.clock.Now()) {
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
	if ses.ExpiresAt.Add(s.cfg.ExpiryGrace).After(now) {
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
	if ses.ExpiresAt.Add(s.cfg.ExpiryGrace).After(now) {
		return s.withPending(ses), nil
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
	if cur = s.withPending(cur); cur.ExpiresAt.Add(s.cfg.ExpiryGrace).After(now) {
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

// End ends sessions for the given reasons: the one way a session ends on
// request. It returns the sessions it ended (those still active).
func (s *Service) End(ctx context.Context, actor model.Actor, ends ...model.SessionEnd) ([]model.Session, error) {
	ended, err := s.store.EndSessions(ctx, ends, actor, nil)
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
	ended, err := s.store.EndUserSessions(ctx, userID, tenantID, keep, reason, actor)
	if err != nil {
		return 0, err
	}
	s.ended(ctx, ended)
	return len(ended), nil
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
	s.mu.Lock()
	for i, ses := range ended {
		delete(s.pending, ses.ID)
		evs[i] = events.Event{Kind: events.Terminated, Session: ses, At: *ses.EndedAt}
	}
	s.mu.Unlock()
	for _, ses := range ended {
		s.cache.Remove(ses.TokenHash)
	}
	s.publish(ctx, evs...)
}

func (s *Service) publish(ctx context.Context, evs ...events.Event) {
	if err := s.bus.Publish(ctx, evs...); err != nil {
		s.log.ErrorContext(ctx, "publish session events", "err", err, "events", len(evs))
	}
}

// dueBatch is how many due sessions one transaction ends.
const dueBatch = 2000

// EndDue ends every session whose deadline has passed, with IDLE_TIMEOUT or
// FORCE_RELOGIN, after writing pending activity so that no session ends
// while it had activity within its idle timeout; then it sends
// EXPIRING_SOON for deadlines within WarnBefore. It returns how many ended.
func (s *Service) EndDue(ctx context.Context) (int, error) {
	if err := s.Flush(ctx); err != nil {
		return 0, err
	}
	n, err := s.endAllDue(ctx)
	if err != nil {
		return n, err
	}
	return n, s.warnDue(ctx)
}

// warnDue publishes EXPIRING_SOON once per deadline that is near.
func (s *Service) warnDue(ctx context.Context) error {
	for {
		now := s.clock.Now()
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
		}
		if len(warned) < dueBatch {
			return nil
		}
	}
}

func (s *Service) endAllDue(ctx context.Context) (int, error) {
	total := 0
	for {
		now := s.clock.Now().Add(-s.cfg.ExpiryGrace)
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

// endDue ends sessions that are due by dueBy, each with the reason of the
// deadline that passed. The store re-checks the deadline, so a session
// whose activity was written meanwhile stays.
func (s *Service) endDue(ctx context.Context, due []model.Session, dueBy time.Time) ([]model.Session, error) {
	byReason := make([]model.SessionEnd, len(due))
	for i, d := range due {
		byReason[i] = model.SessionEnd{ID: d.ID, Reason: policy.DueReason(d.IdleExpiresAt, d.AbsoluteExpiresAt)}
	}
	ended, err := s.store.EndSessions(ctx, byReason, model.Actor{Kind: model.ActorSystem}, &dueBy)
	if err != nil {
		return nil, err
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

// Live reports whether a session is active now (not ended, not past its
// deadline, counting activity not yet written).
func (s *Service) Live(ctx context.Context, id string) (bool, error) {
	ses, err := s.store.Session(ctx, id)
	if apperr.CodeOf(err) == apperr.NotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ses = s.withPending(ses)
	return !ses.Ended() && ses.ExpiresAt.Add(s.cfg.ExpiryGrace).After(s.clock.Now()), nil
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
	ses = s.withPending(ses)
	if ses.Ended() || ses.ExpiresAt.Add(s.cfg.ExpiryGrace).After(s.clock.Now()) {
		return nil
	}
	_, err := s.endDue(ctx, []model.Session{ses}, ses.ExpiresAt)
	return err
}
