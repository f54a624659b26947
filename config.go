package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/metrics"
)

// config is the server's configuration, from flags and environment.
type config struct {
	addr           string
	addrSet        bool // -addr or SESSIOND_ADDR was given
	database       string
	adminKey       string
	allowedOrigins []string
	logLevel       slog.Level
	logFormat      string
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
	webhooks       *webhookFlags
	frameAncestors string

	metricsAddr     string
	metricsToken    string
	metricsMaxAge   time.Duration
	retainEnded     daysDuration
	retainAudit     daysDuration
	purgeEvery      time.Duration
	shutdownTimeout time.Duration
}

// envOnly are settings read only from the environment (secrets, which
// must not show in a process listing); docs/configuration.md lists them
// with the flags.
var envOnly = []struct{ name, usage string }{
	{"SESSIOND_ADMIN_KEY", "the admin key (sdk_admin_…, 256 bits; make one with `sessiond admin-key new`); unset: generate one on the first start and store its hash"},
	{"SESSIOND_METRICS_TOKEN", "when set, GET /metrics needs `Authorization: Bearer <token>`"},
}

// flagSet declares every flag of the server on a new FlagSet, with
// defaults from the environment (SESSIOND_*; flags win). Each flag's usage
// ends with its variable in parentheses: docs/configuration.md is generated
// from this FlagSet (see config_doc_test.go), so a flag registered here,
// or by a register…Flags function called here, is documented.
func flagSet(name string, c *config, getenv func(string) string) (*flag.FlagSet, *stringFlags) {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	s := &stringFlags{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", env("SESSIOND_ADDR", ":8080"), "listen address; with -demo and no address given, 127.0.0.1:8080 (SESSIOND_ADDR)")
	c.addrSet = getenv("SESSIOND_ADDR") != ""
	fs.StringVar(&c.database, "db", env("SESSIOND_DATABASE", "sessiond.db"), "database: a SQLite file path, or a postgres:// URL (SESSIOND_DATABASE)")
	fs.StringVar(&s.origins, "allowed-origins", env("SESSIOND_ALLOWED_ORIGINS", ""), "comma-separated browser origins allowed besides same-origin and localhost (SESSIOND_ALLOWED_ORIGINS)")
	fs.StringVar(&s.level, "log-level", env("SESSIOND_LOG_LEVEL", "info"), "debug, info, warn or error (SESSIOND_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", env("SESSIOND_LOG_FORMAT", "text"), "text (key=value lines) or json (one JSON object a line) (SESSIOND_LOG_FORMAT)")
	fs.BoolVar(&c.rotateKey, "rotate-admin-key", false, "alias of `sessiond admin-key rotate`: replace the stored admin key, print the new one and exit")
	fs.BoolVar(&c.newKey, "new-admin-key", false, "alias of `sessiond admin-key new`: print a freshly generated key for SESSIOND_ADMIN_KEY and exit")
	fs.BoolVar(&c.demo, "demo", false, "on an empty database: create a demo tenant, admin and member, turn the portal on, print their credentials (listens on 127.0.0.1 unless -addr is given)")
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
	registerOpsFlags(fs, c, getenv)
	return fs, s
}

// registerOpsFlags adds the operations flags: metrics, retention, shutdown.
func registerOpsFlags(fs *flag.FlagSet, c *config, getenv func(string) string) {
	fs.StringVar(&c.metricsAddr, "metrics-addr", getenv("SESSIOND_METRICS_ADDR"), "serve GET /metrics on this address instead of the main listener (e.g. 127.0.0.1:9090) (SESSIOND_METRICS_ADDR)")
	fs.DurationVar(&c.metricsMaxAge, "metrics-max-age", envDuration(getenv, "SESSIOND_METRICS_MAX_AGE", metrics.DefaultMaxAge), "serve one rendering of /metrics to every scrape within this long of it, so several scrapers cost one; 0 renders each scrape (SESSIOND_METRICS_MAX_AGE)")
	c.retainEnded = daysDuration(30 * day)
	c.retainAudit = daysDuration(365 * day)
	for _, v := range []struct {
		p   *daysDuration
		env string
	}{{&c.retainEnded, "SESSIOND_RETAIN_ENDED"}, {&c.retainAudit, "SESSIOND_RETAIN_AUDIT"}} {
		if e := getenv(v.env); e != "" {
			_ = v.p.Set(e) // an invalid value keeps the default; check-config reports it
		}
	}
	fs.Var(&c.retainEnded, "retain-ended", "delete ended sessions this long after their end, e.g. 30d or 720h; 0 keeps them forever; the environment's retentionPolicy overrides it (SESSIOND_RETAIN_ENDED)")
	fs.Var(&c.retainAudit, "retain-audit", "delete audit entries this long after they were written; 0 keeps them forever; entries of live sessions stay (SESSIOND_RETAIN_AUDIT)")
	fs.DurationVar(&c.purgeEvery, "purge-every", envDuration(getenv, "SESSIOND_PURGE_EVERY", time.Hour), "how often the server purges what retention no longer keeps (SESSIOND_PURGE_EVERY)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", envDuration(getenv, "SESSIOND_SHUTDOWN_TIMEOUT", 15*time.Second), "on SIGTERM, how long in-flight requests may take to finish (SESSIOND_SHUTDOWN_TIMEOUT)")
	c.metricsToken = getenv("SESSIOND_METRICS_TOKEN")
}

// stringFlags hold flag values that parseConfig turns into config fields.
type stringFlags struct{ origins, level string }

// parseConfig parses the server's flags and environment.
func parseConfig(args []string, getenv func(string) string) (config, error) {
	return parseConfigNamed("sessiond", args, getenv, nil)
}

// parseConfigNamed parses args with the server's flags plus extra ones
// (a subcommand's own) registered by extra.
func parseConfigNamed(name string, args []string, getenv func(string) string, extra func(*flag.FlagSet)) (config, error) {
	var c config
	fs, s := flagSet(name, &c, getenv)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (flags go before it? see `sessiond help`)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "addr" {
			c.addrSet = true
		}
	})
	if c.demo && !c.addrSet {
		// The demo prints passwords: keep it off the network unless asked.
		c.addr = "127.0.0.1:8080"
	}
	if strings.ContainsAny(c.frameAncestors, ";,\r\n") || strings.TrimSpace(c.frameAncestors) == "" {
		return c, fmt.Errorf("-frame-ancestors must be a CSP source list such as 'none', 'self' or https://app.example.com")
	}
	c.adminKey = getenv("SESSIOND_ADMIN_KEY")
	for _, o := range strings.Split(s.origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.allowedOrigins = append(c.allowedOrigins, o)
		}
	}
	if err := c.logLevel.UnmarshalText([]byte(s.level)); err != nil {
		return c, fmt.Errorf("-log-level: %w", err)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return c, fmt.Errorf("-log-format must be text or json, not %q", c.logFormat)
	}
	if c.timeScale <= 0 {
		return c, fmt.Errorf("-time-scale must be greater than 0")
	}
	if c.shutdownTimeout <= 0 {
		return c, fmt.Errorf("-shutdown-timeout must be greater than 0")
	}
	for _, v := range []struct{ flag, env string }{{"retain-ended", "SESSIOND_RETAIN_ENDED"}, {"retain-audit", "SESSIOND_RETAIN_AUDIT"}} {
		if e := getenv(v.env); e != "" {
			var d daysDuration
			if err := d.Set(e); err != nil {
				return c, fmt.Errorf("%s: %w", v.env, err)
			}
		}
	}
	if c.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.metricsAddr); err != nil {
			return c, fmt.Errorf("-metrics-addr: %w", err)
		}
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return c, fmt.Errorf("-addr: %w", err)
	}
	return c, nil
}

func envDuration(getenv func(string) string, key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(getenv(key)); err == nil && d > 0 {
		return d
	}
	return def
}

const day = 24 * time.Hour

// daysDuration is a flag.Value for retentions: a Go duration (720h) or a
// number of days (30d); 0 means forever.
type daysDuration time.Duration

func (d *daysDuration) String() string {
	v := time.Duration(*d)
	switch {
	case v == 0:
		return "0"
	case v%day == 0:
		return strconv.FormatInt(int64(v/day), 10) + "d"
	}
	return v.String()
}

func (d *daysDuration) Set(s string) error {
	s = strings.TrimSpace(s)
	var v time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return fmt.Errorf("%q: want a number of days such as 30d, or a duration such as 720h", s)
		}
		v = time.Duration(days) * day
	} else if s == "0" {
		v = 0
	} else {
		var err error
		if v, err = time.ParseDuration(s); err != nil {
			return fmt.Errorf("%q: want a number of days such as 30d, or a duration such as 720h", s)
		}
	}
	if v < 0 {
		return fmt.Errorf("%q: a retention cannot be negative", s)
	}
	*d = daysDuration(v)
	return nil
}
