// Command sessiond serves the session-management GraphQL API.
//
//	go run .                         # :8080, SQLite file sessiond.db
//	go run . -addr :9000 -db data/s.db
//	go run . -rotate-admin-key       # print a new admin key and exit
//
// Every flag has an environment variable; flags win.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sessiond/sessiond/graph"
	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/secret"
)

// config is the server's configuration, from flags and environment.
type config struct {
	addr           string
	database       string
	adminKey       string
	allowedOrigins []string
	logLevel       slog.Level
	rotateKey      bool
	newKey         bool
	demo           bool
	trustProxy     bool
	timeScale      float64
	timeOrigin     string
	sqliteSync     string
	expiringSoon   time.Duration
	activityFlush  time.Duration
	wsKeepAlive    time.Duration
	limits         *limitFlags
	frameAncestors string
	webhooks       *webhookFlags
}

func parseConfig(args []string, getenv func(string) string) (config, error) {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	var c config
	fs := flag.NewFlagSet("sessiond", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", env("SESSIOND_ADDR", ":8080"), "listen address (SESSIOND_ADDR)")
	fs.StringVar(&c.database, "db", env("SESSIOND_DATABASE", "sessiond.db"), "database: a SQLite file path (SESSIOND_DATABASE)")
	origins := fs.String("allowed-origins", env("SESSIOND_ALLOWED_ORIGINS", ""), "comma-separated browser origins allowed besides same-origin and localhost (SESSIOND_ALLOWED_ORIGINS)")
	level := fs.String("log-level", env("SESSIOND_LOG_LEVEL", "info"), "debug, info, warn or error (SESSIOND_LOG_LEVEL)")
	fs.BoolVar(&c.rotateKey, "rotate-admin-key", false, "replace the stored admin key, print the new one and exit")
	fs.BoolVar(&c.newKey, "new-admin-key", false, "print a freshly generated key for SESSIOND_ADMIN_KEY and exit")
	fs.BoolVar(&c.demo, "demo", false, "on an empty database: create a demo tenant, admin and member, turn the portal on, print their credentials")
	fs.BoolVar(&c.trustProxy, "trust-proxy-headers", env("SESSIOND_TRUST_PROXY_HEADERS", "") == "true", "take client IPs from X-Forwarded-For (only behind a proxy that sets it) (SESSIOND_TRUST_PROXY_HEADERS)")
	fs.Float64Var(&c.timeScale, "time-scale", 1, "TESTS ONLY: run the server's clock this many times faster than real time (e.g. 60: a minute passes in a second)")
	fs.StringVar(&c.timeOrigin, "time-origin", "", "TESTS ONLY: with -time-scale, the RFC 3339 instant at which the scaled clock equals the wall clock (default: the start), so restarts keep one timeline")
	fs.StringVar(&c.sqliteSync, "sqlite-synchronous", env("SESSIOND_SQLITE_SYNCHRONOUS", "FULL"), "SQLite only: FULL syncs every commit (survives power loss), NORMAL only at checkpoints (faster; a power loss may lose the last commits) (SESSIOND_SQLITE_SYNCHRONOUS)")
	fs.DurationVar(&c.expiringSoon, "expiring-soon", envDuration(getenv, "SESSIOND_EXPIRING_SOON", 2*time.Minute), "send EXPIRING_SOON this long before a session's deadline (SESSIOND_EXPIRING_SOON)")
	fs.DurationVar(&c.activityFlush, "activity-flush", envDuration(getenv, "SESSIOND_ACTIVITY_FLUSH", time.Second), "write recorded activity at least this often (SESSIOND_ACTIVITY_FLUSH)")
	fs.DurationVar(&c.wsKeepAlive, "ws-keepalive", envDuration(getenv, "SESSIOND_WS_KEEPALIVE", 15*time.Second), "websocket ping interval; a client that answers none for two intervals is disconnected (SESSIOND_WS_KEEPALIVE)")
	c.limits = registerLimitFlags(fs, getenv)
	c.webhooks = registerWebhookFlags(fs, getenv)
	fs.StringVar(&c.frameAncestors, "frame-ancestors", env("SESSIOND_FRAME_ANCESTORS", "'none'"), "CSP frame-ancestors of the pages, e.g. \"'self' https://app.example.com\" to embed the console (SESSIOND_FRAME_ANCESTORS)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if strings.ContainsAny(c.frameAncestors, ";,\r\n") || strings.TrimSpace(c.frameAncestors) == "" {
		return c, fmt.Errorf("-frame-ancestors must be a CSP source list such as 'none', 'self' or https://app.example.com")
	}
	c.adminKey = getenv("SESSIOND_ADMIN_KEY")
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.allowedOrigins = append(c.allowedOrigins, o)
		}
	}
	if err := c.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, fmt.Errorf("-log-level: %w", err)
	}
	if c.timeScale <= 0 {
		return c, fmt.Errorf("-time-scale must be greater than 0")
	}
	return c, nil
}

func envDuration(getenv func(string) string, key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(getenv(key)); err == nil && d > 0 {
		return d
	}
	return def
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sessiond:", err)
		}
		os.Exit(1)
	}
}

// run starts the server and blocks until SIGINT/SIGTERM or ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv)
	if err != nil {
		return err
	}
	if cfg.newKey {
		fmt.Fprintln(stdout, secret.NewToken(secret.AdminKeyPrefix))
		return nil
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	acfg := app.Config{
		Database: cfg.database, AdminKey: cfg.adminKey, AllowedOrigins: cfg.allowedOrigins,
		TrustProxyHeaders: cfg.trustProxy, Logger: log, SQLiteSynchronous: cfg.sqliteSync,
		ExpiringSoon: cfg.expiringSoon, ActivityFlush: cfg.activityFlush, WebsocketKeepAlive: cfg.wsKeepAlive,
		FrameAncestors: cfg.frameAncestors,
	}
	acfg.Limits, acfg.MaxDepth, acfg.MaxComplexity = cfg.limits.resolve()
	if acfg.Webhooks, err = cfg.webhooks.resolve(); err != nil {
		return err
	}
	if cfg.timeScale != 1 {
		log.Warn("TEST MODE: the clock runs faster than real time", "factor", cfg.timeScale)
		acfg.Clock = clock.NewScaled(cfg.timeScale)
		if cfg.timeOrigin != "" {
			origin, err := time.Parse(time.RFC3339Nano, cfg.timeOrigin)
			if err != nil {
				return fmt.Errorf("-time-origin: %w", err)
			}
			acfg.Clock = clock.NewScaledFrom(cfg.timeScale, origin)
		}
	}
	a, err := app.Open(ctx, acfg)
	if err != nil {
		return err
	}
	defer a.Close()

	if cfg.rotateKey {
		key, _, err := a.AdminKeys.Rotate(ctx, model.Actor{Kind: model.ActorSystem})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "New admin key (the old one no longer works):\n\n    %s\n\n", key)
		return nil
	}
	if key, err := a.AdminKeys.EnsureKey(ctx); err != nil {
		return err
	} else if key != "" {
		// The rotate hint names this database: without -db it would rotate
		// the key of ./sessiond.db instead. A PostgreSQL URL may hold a
		// password, so it is not echoed.
		dbArg := cfg.database
		if strings.Contains(dbArg, "://") {
			dbArg = "<the same postgres:// URL>"
		}
		fmt.Fprintf(stdout, "\nGenerated the admin key. It is shown only this once; only its hash is stored:\n\n    %s\n\n"+
			"Send it as `Authorization: Bearer <key>`, or sign in to the console at /console/ with it.\n"+
			"Rotate it with `go run . -rotate-admin-key -db %s`.\n\n", key, dbArg)
	}

	if cfg.demo {
		d, err := a.SeedDemo(ctx)
		switch {
		case errors.Is(err, app.ErrNotEmpty):
			log.Warn("demo data not created", "reason", err.Error())
		case err != nil:
			return err
		default:
			fmt.Fprintf(stdout, "Demo data created (tenant %q, id %s). Log in from the playground:\n\n"+
				"    admin  (holds Revoke User Sessions): %s / %s\n    member:                              %s / %s\n\n",
				"Demo Co", d.TenantID, d.AdminEmail, d.AdminPassword, d.MemberEmail, d.MemberPass)
		}
	}

	// Long-lived requests (SSE streams, websockets) get a context that
	// shutdown cancels, so they end instead of holding Shutdown up.
	baseCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	srv := &http.Server{
		Addr: cfg.addr, Handler: graph.NewServer(a),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		// Tokens and cookies fit many times over; bigger headers are refused
		// with 431 before any handler runs.
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return baseCtx },
	}
	srv.RegisterOnShutdown(cancelRequests)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("sessiond listening", "addr", cfg.addr, "database", cfg.database, "playground", "http://localhost"+portOf(cfg.addr)+"/")

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// maxHeaderBytes bounds a request's headers (net/http's default is 1 MiB).
const maxHeaderBytes = 32 << 10

func portOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i:]
	}
	return ""
}
