// Package app wires sessiond's domain together: it opens the database,
// builds the domain services and starts the background workers. The HTTP
// API is built on top of it by graph.NewServer (server.go and the tests
// both go through that one constructor, so tests exercise the production
// wiring); nothing here knows about GraphQL.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/sessiond/sessiond/db"
	"github.com/sessiond/sessiond/internal/auth"
	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/directory"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/expiry"
	"github.com/sessiond/sessiond/internal/limits"
	"github.com/sessiond/sessiond/internal/metrics"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/internal/retention"
	"github.com/sessiond/sessiond/internal/secret"
	"github.com/sessiond/sessiond/internal/session"
	"github.com/sessiond/sessiond/internal/webhook"
	"github.com/sessiond/sessiond/internal/webhook/admin"
)

// Config configures one sessiond instance.
type Config struct {
	// Database is a SQLite file path (see db.Config.DSN).
	Database string
	// SQLiteSynchronous is FULL (default) or NORMAL; see db.Config.
	SQLiteSynchronous string
	// AdminKey fixes the admin key; empty means generate and store one.
	AdminKey string
	// AllowedOrigins are browser origins allowed besides same-origin and localhost.
	AllowedOrigins []string
	// TrustProxyHeaders takes client addresses from X-Forwarded-For.
	TrustProxyHeaders bool
	// ActivityFlush bounds how long activity waits in memory (default 1 s).
	ActivityFlush time.Duration
	// SingleInstance says no other instance shares a PostgreSQL database, so
	// sessions end exactly at their deadlines (no grace for other
	// instances' unwritten activity). SQLite is always single-instance.
	SingleInstance bool
	// NoNotify keeps events in process even on PostgreSQL (a single
	// instance only; for benchmarks that measure NOTIFY's cost).
	NoNotify bool
	// ExpiringSoon is how long before a deadline EXPIRING_SOON is sent (default 2 min).
	ExpiringSoon time.Duration
	// LoginBudget slows and refuses repeated login failures (default
	// ratelimit.DefaultBudget).
	LoginBudget ratelimit.Budget
	// WebsocketKeepAlive is the websocket ping interval (default 15 s).
	WebsocketKeepAlive time.Duration
	// WebsocketInitTimeout closes websockets that send no connection_init
	// in time (default 10 s).
	WebsocketInitTimeout time.Duration
	// FrameAncestors is the pages' CSP frame-ancestors (default 'none').
	FrameAncestors string

	// Limits bound documents, requests and connections (zero fields take
	// limits.Default); MaxDepth and MaxComplexity bound operations
	// (defaults 12 and 10 000).
	Limits                  limits.Limits
	MaxDepth, MaxComplexity int

	// Webhooks configures webhook delivery (zero fields take defaults).
	Webhooks webhook.Config
	// RetainEnded and RetainAudit are how long ended sessions and audit
	// entries are kept where the environment sets nothing (0: forever);
	// PurgeEvery is how often the server purges (default 1 hour).
	RetainEnded, RetainAudit time.Duration
	PurgeEvery               time.Duration

	// Metrics receives the instance's metrics; nil records none.
	Metrics *metrics.Metrics

	Logger *slog.Logger
	// Clock is the time source; nil means the wall clock.
	Clock clock.Clock
}

// Bus is the event bus with what the app itself needs of it.
type Bus interface {
	events.Bus
	Subscribers() int
	Close()
}

// App is one sessiond instance without its listener.
type App struct {
	Config    Config
	Directory *directory.Service
	Store     *db.DB
	AdminKeys *auth.AdminKeys
	Auth      *auth.Authenticator
	Sessions  *session.Service
	Bus       Bus
	Scheduler *expiry.Scheduler
	// Webhooks manages endpoints; Dispatcher delivers the outbox.
	Webhooks   *admin.Service
	Dispatcher *webhook.Dispatcher
	Retention  *retention.Service
	// Metrics is Config.Metrics (nil when none).
	Metrics *metrics.Metrics

	stop      context.CancelFunc
	wg        sync.WaitGroup
	stopSched context.CancelFunc
	schedDone chan struct{}
}

// Open opens the database, applies migrations, builds the services and
// starts the background workers (expiry scheduler, activity flusher).
func Open(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	dbc := db.Config{DSN: cfg.Database, Logger: cfg.Logger, Clock: cfg.Clock, SQLiteSynchronous: cfg.SQLiteSynchronous}
	if cfg.Metrics != nil {
		dbc.Queries = cfg.Metrics
	}
	store, err := db.Open(ctx, dbc)
	if err != nil {
		return nil, err
	}
	keys, err := auth.NewAdminKeys(store, cfg.AdminKey)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	scfg := session.Config{ActivityFlush: cfg.ActivityFlush, LoginBudget: cfg.LoginBudget, WarnBefore: cfg.ExpiringSoon}
	if cfg.Metrics != nil {
		scfg.Observer = cfg.Metrics
	}
	mem := events.NewMemory()
	if cfg.Metrics != nil {
		mem.Observer = cfg.Metrics
	}
	var bus Bus = mem
	if store.Dialect() == db.Postgres {
		// Several instances may share the database: events go through
		// LISTEN/NOTIFY, one elected instance schedules expiry, and activity
		// not yet written by another instance is honoured for one flush.
		if scfg.ActivityFlush <= 0 {
			scfg.ActivityFlush = 500 * time.Millisecond
		}
		if !cfg.SingleInstance {
			scfg.ExpiryGrace = scfg.ActivityFlush
		}
		if !cfg.NoNotify {
			var obs events.Observer
			if cfg.Metrics != nil {
				obs = cfg.Metrics
			}
			bus = events.NewPG(store, store.DSN(), instanceID(), cfg.Logger, obs)
		}
	}
	sessions := session.New(store, bus, cfg.Clock, cfg.Logger, scfg)
	sched := expiry.New(sessions, cfg.Clock, cfg.Logger)
	if store.Dialect() == db.Postgres {
		sched.Leader = leader{store}
		// Sessions created on other instances may be due before the
		// scheduler's plan; hear of them, and look again at least every
		// few seconds for deadlines moved by other instances' changes.
		sched.MaxSleep = 5 * time.Second
		if _, err := bus.Watch(context.WithoutCancel(ctx), events.Filter{}, func(e events.Event) {
			if e.Kind == events.Created {
				sched.Wake(e.Session.ExpiresAt)
			}
		}); err != nil {
			_ = store.Close()
			return nil, err
		}
	}
	sessions.OnDeadline(sched.Wake)

	dir := directory.New(store, sessions, bus, cfg.Logger)
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	ents, err := auth.NewEntitlementCache(runCtx, store, bus)
	if err != nil {
		stop()
		_ = store.Close()
		return nil, err
	}
	// Streams opened with the old key stop at once: they re-check their
	// caller on every entitlement change.
	keys.OnRotate = func(ctx context.Context) {
		_ = bus.Publish(ctx, events.Event{Kind: events.EntitlementsChanged})
	}
	rcfg := retention.Config{RetainEnded: cfg.RetainEnded, RetainAudit: cfg.RetainAudit, Every: cfg.PurgeEvery}
	if cfg.Metrics != nil {
		rcfg.Observer = cfg.Metrics
	}
	a := &App{
		Config: cfg, Directory: dir, Store: store, AdminKeys: keys, Sessions: sessions, Bus: bus, Scheduler: sched,
		Auth:      auth.NewAuthenticator(keys, sessions, ents),
		Retention: retention.New(store, cfg.Clock, cfg.Logger, rcfg),
		Metrics:   cfg.Metrics,
	}
	a.stop = stop
	if err := a.openWebhooks(runCtx); err != nil {
		stop()
		_ = store.Close()
		return nil, err
	}
	// The scheduler has its own stop, so a drain can hand its lock to
	// another instance while requests still finish here.
	schedCtx, stopSched := context.WithCancel(runCtx)
	a.stopSched, a.schedDone = stopSched, make(chan struct{})
	a.wg.Add(2)
	go func() { defer a.wg.Done(); defer close(a.schedDone); sched.Run(schedCtx) }()
	go func() { defer a.wg.Done(); sessions.RunFlusher(runCtx) }()
	if cfg.Metrics != nil {
		if err := a.watchLive(runCtx); err != nil {
			_ = a.Close()
			return nil, err
		}
	}
	return a, nil
}

var _ admin.Store = (*db.DB)(nil)

// openWebhooks builds the webhook service and starts its dispatcher. On
// SQLite the store hands it every committed delivery; on PostgreSQL every
// committed session change nudges it through the bus (other instances'
// changes too). It also polls.
func (a *App) openWebhooks(ctx context.Context) error {
	cfg := a.Config.Webhooks.WithDefaults()
	sealer, err := webhook.NewSealer(cfg.Key)
	if err != nil {
		return err
	}
	d := webhook.NewDispatcher(cfg, a.Store, a.Config.Clock, a.Config.Logger, sealer, instanceID())
	d.Single = a.Store.Dialect() == db.SQLite
	if m := a.Metrics; m != nil {
		d.OnAttempt = func(o webhook.Outcome) { m.WebhookDelivered(o.Result(), o.Took) }
	}
	a.Webhooks, a.Dispatcher = admin.NewService(a.Store, sealer, a.Config.Clock, a.Config.Logger, cfg, d.Kick, d.EndpointsChanged), d
	if cfg.Disabled {
		return nil
	}
	if d.Single {
		// Committed deliveries come straight from the store; the admin
		// service kicks for the ones it writes, the poll for retries.
		a.Store.HandOffDeliveries(d.Offer)
	} else if _, err := a.Bus.Watch(ctx, events.Filter{}, func(events.Event) { d.Kick() }); err != nil {
		return err
	}
	a.wg.Add(1)
	go func() { defer a.wg.Done(); d.Run(ctx) }()
	return nil
}

// StartRetention purges on Config.PurgeEvery in the background until the
// app closes. The server starts it; tools that open the app do not.
func (a *App) StartRetention(ctx context.Context) {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := a.stop
	a.stop = func() { cancel(); stop() }
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.Retention.Run(runCtx) }()
}

// liveRebaseEvery is how often the live-session gauge is re-based on a count.
const liveRebaseEvery = 30 * time.Second

// watchLive keeps the live-session gauge: every instance's CREATED and
// TERMINATED events move it (so it is cluster-wide on PostgreSQL), and a
// count over the live-session index re-bases it every liveRebaseEvery, so
// a scrape never counts and a missed event is corrected.
func (a *App) watchLive(ctx context.Context) error {
	m := a.Metrics
	if _, err := a.Bus.Watch(ctx, events.Filter{}, func(e events.Event) {
		switch e.Kind {
		case events.Created:
			m.LiveChanged(1)
		case events.Terminated:
			m.LiveChanged(-1)
		}
	}); err != nil {
		return err
	}
	rebase := func() {
		if n, err := a.Store.CountLiveSessions(ctx); err == nil {
			m.SetLive(n)
		} else if ctx.Err() == nil {
			a.Config.Logger.WarnContext(ctx, "count live sessions for metrics", "err", err)
		}
	}
	rebase()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		t := time.NewTicker(liveRebaseEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				rebase()
			}
		}
	}()
	return nil
}

// Drain prepares the instance to stop while requests finish: it writes
// pending activity and stops the expiry scheduler, releasing its lock on
// PostgreSQL so that another instance takes over at its next try instead
// of after this one's connection dies. Close still has to be called.
func (a *App) Drain(ctx context.Context) error {
	a.stopSched()
	select {
	case <-a.schedDone:
	case <-ctx.Done():
	}
	return a.Sessions.Flush(ctx)
}

// leader adapts the store's advisory lock to the scheduler's Leader.
type leader struct{ store *db.DB }

func (l leader) TryLead(ctx context.Context) (expiry.Lease, bool, error) {
	lease, ok, err := l.store.TryLead(ctx)
	if !ok || err != nil {
		return nil, false, err
	}
	return lease, true, nil
}

// instanceID names this process in cross-instance notifications.
func instanceID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), secret.NewToken("")[:8])
}

// Close stops the workers (flushing pending activity) and the database.
func (a *App) Close() error {
	a.stop()
	a.wg.Wait()
	a.Bus.Close()
	return a.Store.Close()
}
