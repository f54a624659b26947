package main

import (
	"flag"
	"strconv"
	"time"

	"github.com/sessiond/sessiond/graph"
)

// limitFlags are the flags of graph.Limits and the operation bounds; each
// has an environment variable, and docs/limits.md describes them.
type limitFlags struct {
	limits                  graph.Limits
	maxDepth, maxComplexity int
	introspection           bool
	queryCacheMiB           int
	wsKiB                   *int
}

// registerLimitFlags adds the limit flags to fs, with defaults from the
// environment (SESSIOND_*), falling back to graph.DefaultLimits.
func registerLimitFlags(fs *flag.FlagSet, getenv func(string) string) *limitFlags {
	d := graph.DefaultLimits
	lf := &limitFlags{}
	l := &lf.limits
	intVar := func(p *int, name, env string, def int, usage string) {
		if v, err := strconv.Atoi(getenv(env)); err == nil {
			def = v
		}
		fs.IntVar(p, name, def, usage+" ("+env+")")
	}
	durVar := func(p *time.Duration, name, env string, def time.Duration, usage string) {
		fs.DurationVar(p, name, envDuration(getenv, env, def), usage+" ("+env+")")
	}
	intro := true
	if v, err := strconv.ParseBool(getenv("SESSIOND_INTROSPECTION")); err == nil {
		intro = v
	}
	fs.BoolVar(&lf.introspection, "introspection", intro, "serve __schema and __type (the playground needs them) (SESSIOND_INTROSPECTION)")
	intVar(&lf.maxDepth, "max-depth", "SESSIOND_MAX_DEPTH", 12, "refuse operations nested deeper than this")
	intVar(&lf.maxComplexity, "max-complexity", "SESSIOND_MAX_COMPLEXITY", 10_000, "refuse operations costlier than this (a field costs 1, a list its page size times its selection)")
	intVar(&l.MaxTokens, "max-tokens", "SESSIOND_MAX_TOKENS", d.MaxTokens, "refuse documents of more tokens")
	intVar(&l.MaxFields, "max-fields", "SESSIOND_MAX_FIELDS", d.MaxFields, "refuse operations of more fields, fragments expanded")
	intVar(&l.MaxSelectionFields, "max-selection-fields", "SESSIOND_MAX_SELECTION_FIELDS", d.MaxSelectionFields, "refuse selection sets of more fields")
	intVar(&l.MaxAliases, "max-aliases", "SESSIOND_MAX_ALIASES", d.MaxAliases, "refuse operations of more aliased fields")
	intVar(&l.MaxRootFields, "max-root-fields", "SESSIOND_MAX_ROOT_FIELDS", d.MaxRootFields, "refuse operations of more top-level fields")
	intVar(&l.MaxOperations, "max-operations", "SESSIOND_MAX_OPERATIONS", d.MaxOperations, "refuse documents of more operations")
	intVar(&l.MaxDirectives, "max-directives", "SESSIOND_MAX_DIRECTIVES", d.MaxDirectives, "refuse documents of more directives")
	intVar(&l.MaxIntrospection, "max-introspection", "SESSIOND_MAX_INTROSPECTION", d.MaxIntrospection, "refuse operations of more __schema/__type fields")
	intVar(&l.MaxErrors, "max-errors", "SESSIOND_MAX_ERRORS", d.MaxErrors, "errors shown per response; the rest are counted in one")
	intVar(&lf.queryCacheMiB, "query-cache-mb", "SESSIOND_QUERY_CACHE_MB", int(d.QueryCacheBytes>>20), "memory for parsed documents, in MiB")
	durVar(&l.RequestTimeout, "request-timeout", "SESSIOND_REQUEST_TIMEOUT", d.RequestTimeout, "time budget of one HTTP query or mutation")
	durVar(&l.BodyReadTimeout, "body-read-timeout", "SESSIOND_BODY_READ_TIMEOUT", d.BodyReadTimeout, "time allowed to send a request (headers and body)")
	intVar(&l.WSConnsPerIP, "ws-conns-per-ip", "SESSIOND_WS_CONNS_PER_IP", d.WSConnsPerIP, "open websockets per client address")
	intVar(&l.WSConns, "ws-conns", "SESSIOND_WS_CONNS", d.WSConns, "open websockets per instance")
	intVar(&l.WSSubscriptions, "ws-subscriptions", "SESSIOND_WS_SUBSCRIPTIONS", d.WSSubscriptions, "running operations per websocket")
	ws := int(d.WSMessageBytes >> 10)
	intVar(&ws, "ws-message-kb", "SESSIOND_WS_MESSAGE_KB", ws, "largest incoming websocket message, in KiB")
	intVar(&l.WSMessageRate, "ws-message-rate", "SESSIOND_WS_MESSAGE_RATE", d.WSMessageRate, "incoming websocket messages per second per connection, pings included (bursts of twice as many)")
	intVar(&l.SSEStreamsPerIP, "sse-streams-per-ip", "SESSIOND_SSE_STREAMS_PER_IP", d.SSEStreamsPerIP, "concurrent SSE streams per client address")
	lf.wsKiB = &ws
	return lf
}

// resolve turns the parsed flags into the app's limits.
func (lf *limitFlags) resolve() (graph.Limits, int, int) {
	l := lf.limits
	l.DisableIntrospection = !lf.introspection
	l.QueryCacheBytes = int64(lf.queryCacheMiB) << 20
	l.WSMessageBytes = int64(*lf.wsKiB) << 10
	return l, lf.maxDepth, lf.maxComplexity
}
