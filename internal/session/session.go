// Package session runs the session lifecycle: login and creation under the
// concurrency rule, token validation, activity, the one function through
// which every session ends (and its event is published), expiry of due
// sessions, and changes to the session policy.
package session

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/medama-io/go-useragent"

	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/internal/secret"
)

// Store is the persistence the session lifecycle needs.
type Store interface {
	User(ctx context.Context, id string) (model.User, error)
	Tenant(ctx context.Context, id string) (model.Tenant, error)
	Membership(ctx context.Context, userID, tenantID string) (model.Membership, error)
	Sessions(ctx context.Context, f model.SessionFilter) ([]model.Session, error)
	CountActiveSessions(ctx context.Context, userIDs []string, tenantID string) (map[string]int, error)
	UserByEmail(ctx context.Context, email string) (model.User, error)
	MembershipsByUserIDs(ctx context.Context, userIDs []string) (map[string][]model.Membership, error)
	CreateSession(ctx context.Context, actor model.Actor, userID, tenantID string, plan policy.SessionPlanner) (model.Session, []model.Session, error)
	SessionByTokenHash(ctx context.Context, hash string) (model.Session, error)
	Session(ctx context.Context, id string) (model.Session, error)
	EndSessions(ctx context.Context, ends []model.SessionEnd, actor model.Actor, overdueBy time.Time) ([]model.Session, error)
	EndDueSessions(ctx context.Context, ids []string, dueBy time.Time) ([]model.Session, error)
	EndUserSessions(ctx context.Context, userID, tenantID, except string, reason model.EndReason, actor model.Actor, overdueBy time.Time) ([]model.Session, error)
	DueSessions(ctx context.Context, now time.Time, limit int) ([]model.Session, error)
	NextDeadline(ctx context.Context) (time.Time, bool, error)
	NextWarning(ctx context.Context, lead time.Duration) (time.Time, bool, error)
	MarkWarned(ctx context.Context, now time.Time, lead time.Duration, limit int) ([]model.Session, error)
	TouchSessions(ctx context.Context, touches map[string]time.Time) error
	PolicyLevels(ctx context.Context, tenantID string) (env, tenant policy.Overrides, err error)
	UpdatePolicy(ctx context.Context, actor model.Actor, scope string, change func(policy.Overrides) policy.Overrides, plan policy.PolicyPlanner) (policy.Change, error)
	ActiveSessions(ctx context.Context, scope string) ([]policy.Active, policy.Levels, error)
	// The login budget's counters live in the database (shared by all
	// instances on PostgreSQL, kept across restarts on both).
	ratelimit.Store
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
	// LoginBudget slows and refuses repeated login failures (default
	// ratelimit.DefaultBudget).
	LoginBudget ratelimit.Budget
	// WarnBefore is how long before a deadline EXPIRING_SOON is sent
	// (default 2 minutes), or half the idle timeout when that is shorter.
	WarnBefore time.Duration
	// ExpiryGrace delays ending a session past its stored deadline, so that
	// activity another instance has not written yet (at most ActivityFlush
	// old) is honoured. Zero for a single instance, which flushes its own
	// activity before it expires anything.
	ExpiryGrace time.Duration
	// Observer is told what happens, for metrics (nil: nobody).
	Observer Observer
}

// Observer is what the session lifecycle reports, for metrics
// (*metrics.Metrics implements it). Calls must be cheap and never block:
// they run on the request path.
type Observer interface {
	// SessionCreated reports a creation: code is "" on success, else the
	// error's code.
	SessionCreated(code string)
	// SessionsEnded reports n sessions this instance ended for reason.
	SessionsEnded(reason string, n int)
	// Expired reports a session ended at its deadline, lag after it.
	Expired(lag time.Duration)
	// ExpiringSoonSent reports n EXPIRING_SOON warnings published.
	ExpiringSoonSent(n int)
	// Login reports a password login: ok, bad_credentials, rate_limited,
	// invalid or error.
	Login(result string)
	// Validated reports a token validation: ok, unknown, ended or error,
	// and whether the token cache answered.
	Validated(result string, cacheHit bool)
	// ActivityFlushed reports a flush of n sessions' activity.
	ActivityFlushed(n int, d time.Duration)
}

type nopObserver struct{}

func (nopObserver) SessionCreated(string)              {}
func (nopObserver) SessionsEnded(string, int)          {}
func (nopObserver) Expired(time.Duration)              {}
func (nopObserver) ExpiringSoonSent(int)               {}
func (nopObserver) Login(string)                       {}
func (nopObserver) Validated(string, bool)             {}
func (nopObserver) ActivityFlushed(int, time.Duration) {}

// Service is the session lifecycle.
type Service struct {
	store  Store
	bus    events.Bus
	clock  clock.Clock
	log    *slog.Logger
	cfg    Config
	obs    Observer
	ua     *useragent.Parser
	cache  *expirable.LRU[string, model.Session]
	logins *loginBudget
	// lastPrune is when this instance last deleted ended login counters
	// (Unix nanoseconds).
	lastPrune atomic.Int64
	// dummyHash is checked for unknown emails, so they cost what a wrong
	// password costs.
	dummyHash string

	mu      sync.Mutex
	pending map[string]time.Time // session id → latest unflushed activity
	written map[string]writtenActivity
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
	if cfg.LoginBudget == (ratelimit.Budget{}) {
		cfg.LoginBudget = ratelimit.DefaultBudget()
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	dummy, _ := secret.HashPassword(secret.NewToken("dummy"))
	s := &Service{
		store: store, bus: bus, clock: clk, log: log, cfg: cfg, obs: cfg.Observer,
		ua:        useragent.NewParser(),
		cache:     expirable.NewLRU[string, model.Session](100_000, nil, cfg.CacheTTL),
		logins:    &loginBudget{Limiter: ratelimit.New(cfg.LoginBudget, store)},
		dummyHash: dummy,
		pending:   map[string]time.Time{},
		written:   map[string]writtenActivity{},
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
