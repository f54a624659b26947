// Command sessiond serves the session-management GraphQL API.
//
//	go run .                         # serve on :8080, SQLite file sessiond.db
//	go run . -addr :9000 -db data/s.db
//	go run . admin-key rotate        # print a new admin key and exit
//	go run . help                    # the other commands
//
// Every flag has an environment variable; flags win. docs/configuration.md
// lists them all.
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

	"github.com/sessiond/sessiond/db"
	"github.com/sessiond/sessiond/graph"
	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/metrics"
	"github.com/sessiond/sessiond/internal/secret"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sessiond:", err)
		}
		os.Exit(1)
	}
}

// newLogger builds the logger the configuration asks for.
func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// appConfig turns the configuration into the app's.
func appConfig(cfg config, log *slog.Logger) (app.Config, error) {
	acfg := app.Config{
		Database: cfg.database, AdminKey: cfg.adminKey, AllowedOrigins: cfg.allowedOrigins,
		TrustProxyHeaders: cfg.trustProxy, Logger: log, SQLiteSynchronous: cfg.sqliteSync,
		ExpiringSoon: cfg.expiringSoon, ActivityFlush: cfg.activityFlush, WebsocketKeepAlive: cfg.wsKeepAlive,
		FrameAncestors: cfg.frameAncestors,
		RetainEnded:    time.Duration(cfg.retainEnded), RetainAudit: time.Duration(cfg.retainAudit), PurgeEvery: cfg.purgeEvery,
	}
	acfg.Limits, acfg.MaxDepth, acfg.MaxComplexity = cfg.limits.resolve()
	var err error
	if acfg.Webhooks, err = cfg.webhooks.resolve(); err != nil {
		return acfg, err
	}
	if cfg.timeScale != 1 {
		log.Warn("TEST MODE: the clock runs faster than real time", "factor", cfg.timeScale)
		acfg.Clock = clock.NewScaled(cfg.timeScale)
		if cfg.timeOrigin != "" {
			origin, err := time.Parse(time.RFC3339Nano, cfg.timeOrigin)
			if err != nil {
				return acfg, fmt.Errorf("-time-origin: %w", err)
			}
			acfg.Clock = clock.NewScaledFrom(cfg.timeScale, origin)
		}
	}
	return acfg, nil
}

// serve runs the server until SIGINT/SIGTERM or ctx ends. The order is
// what keeps a credential from being lost: take the SQLite instance lock
// and bind the listeners first (a second instance, or a port in use, stops
// here), then open the database and print the admin key and demo
// passwords, then log "listening"; on a signal, drain.
func serve(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	unlock, err := db.LockInstance(cfg.database)
	if err != nil {
		return err
	}
	defer unlock()
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	defer ln.Close()
	var metricsLn net.Listener
	if cfg.metricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.metricsAddr); err != nil {
			return fmt.Errorf("listen on -metrics-addr %s: %w", cfg.metricsAddr, err)
		}
		defer metricsLn.Close()
	}

	acfg, err := appConfig(cfg, log)
	if err != nil {
		return err
	}
	acfg.Metrics = metrics.New()
	a, err := app.Open(ctx, acfg)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := printCredentials(ctx, a, cfg, stdout, log); err != nil {
		return err
	}
	a.StartRetention(ctx)

	// Long-lived requests (SSE streams, websockets) end in the drain; the
	// base context is cancelled only when the shutdown timeout runs out.
	baseCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	h := graph.NewServerWith(a, graph.ServerOptions{ServeMetrics: cfg.metricsAddr == "", MetricsToken: cfg.metricsToken, MetricsMaxAge: cfg.metricsMaxAge})
	srv := &http.Server{
		Handler:     h,
		IdleTimeout: 120 * time.Second,
		// Tokens and cookies fit many times over; bigger headers are refused
		// with 431 before any handler runs.
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return baseCtx },
	}
	graph.ConfigureServer(srv, a.Config.Limits) // header and body read deadlines
	// The listeners are bound already; log before serving so that anyone who
	// got an answer has seen the line (scripts and tests wait on either).
	attrs := []any{"addr", ln.Addr().String(), "database", redactDSN(cfg.database), "playground", "http://localhost" + portOf(ln.Addr().String()) + "/"}
	if metricsLn != nil {
		attrs = append(attrs, "metrics", metricsLn.Addr().String())
	}
	log.Info("sessiond listening", attrs...)
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	var metricsSrv *http.Server
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.Metrics.Handler(metrics.HandlerOpts{Token: cfg.metricsToken, MaxAge: cfg.metricsMaxAge}))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- metricsSrv.Serve(metricsLn) }()
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return drain(a, h, srv, metricsSrv, cancelRequests, cfg.shutdownTimeout, log)
}

// drain stops the instance without dropping work: readiness goes 503 and
// websockets close with 1012 at once (clients reconnect elsewhere), SSE
// streams end, the scheduler hands its lock over, pending activity is
// written, and in-flight requests get until timeout to finish. Activity
// accepted by those requests is written when the app closes.
func drain(a *app.App, h *graph.Server, srv, metricsSrv *http.Server, cancelRequests context.CancelFunc, timeout time.Duration, log *slog.Logger) error {
	closed := h.Drain()
	log.Info("draining", "websockets_closed", closed, "timeout", timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := a.Drain(ctx); err != nil {
		log.Error("drain: flush activity", "err", err)
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		// Out of time: cancel what is left and close the connections.
		cancelRequests()
		_ = srv.Close()
		err = fmt.Errorf("shutdown: requests still running after %v: %w", timeout, err)
	}
	if metricsSrv != nil {
		_ = metricsSrv.Close()
	}
	log.Info("stopped")
	return err
}

// printCredentials creates and prints the admin key (first start) and the
// demo data's passwords (-demo on an empty database).
func printCredentials(ctx context.Context, a *app.App, cfg config, stdout io.Writer, log *slog.Logger) error {
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
			"Rotate it with `go run . admin-key rotate -db %s`.\n\n", key, dbArg)
	}
	if !cfg.demo {
		return nil
	}
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
	return nil
}

// newAdminKey prints a fresh admin key for SESSIOND_ADMIN_KEY.
func newAdminKey(stdout io.Writer) error {
	fmt.Fprintln(stdout, secret.NewToken(secret.AdminKeyPrefix))
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

// redactDSN hides a PostgreSQL URL's password before it is logged.
func redactDSN(dsn string) string {
	if !db.IsPostgres(dsn) {
		return dsn
	}
	if at := strings.LastIndexByte(dsn, '@'); at >= 0 {
		if i := strings.Index(dsn, "://"); i >= 0 && i+3 < at {
			user := dsn[i+3 : at]
			if c := strings.IndexByte(user, ':'); c >= 0 {
				return dsn[:i+3] + user[:c] + ":xxxxx" + dsn[at:]
			}
		}
	}
	return dsn
}
