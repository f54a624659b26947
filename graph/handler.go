package graph

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	jsclient "github.com/sessiond/sessiond/clients/js"
	"github.com/sessiond/sessiond/db"
	"github.com/sessiond/sessiond/graph/wstransport"
	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/auth"
	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/directory"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/metrics"
	"github.com/sessiond/sessiond/internal/retention"
	"github.com/sessiond/sessiond/internal/session"
	"github.com/sessiond/sessiond/internal/webhook/admin"
)

// Deps are the domain services the API is built on. The API reads and
// changes nothing except through them.
type Deps struct {
	Directory *directory.Service
	Sessions  *session.Service
	// Auth authenticates callers (HTTP, SSE and websockets alike).
	Auth      *auth.Authenticator
	AdminKeys *auth.AdminKeys
	// Webhooks manages webhook endpoints and deliveries.
	Webhooks *admin.Service
	Bus      events.Bus
	Clock    clock.Clock
	Logger   *slog.Logger
	// Ready reports whether the instance can serve (the database answers),
	// for /readyz.
	Ready func(ctx context.Context) error
	// TrustProxyHeaders takes the client address from X-Forwarded-For /
	// X-Real-IP; set it only behind a proxy that sets them.
	TrustProxyHeaders bool
	// Retention reads and changes the retention policy.
	Retention *retention.Service
	// Metrics receives request, websocket and push metrics (nil: none).
	Metrics *metrics.Metrics
}

func (d Deps) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Options tune the API's transports and limits. Zero values take defaults.
type Options struct {
	Logger *slog.Logger
	// MaxBodyBytes refuses larger request bodies with 413 (default 1 MiB).
	MaxBodyBytes int64
	// MaxDepth refuses operations nested deeper than this (default 12).
	MaxDepth int
	// MaxComplexity refuses operations costlier than this (default 10 000):
	// a field costs 1, a list its page size (or an assumed size) times its
	// selection (see cost.go).
	MaxComplexity int
	// AllowedOrigins lists browser origins allowed besides the same origin
	// and localhost, for CORS and websocket upgrades; "*" allows any.
	AllowedOrigins []string
	// KeepAlive is the websocket ping interval (default 15 s).
	KeepAlive time.Duration
	// Limits bound documents, requests and connections (see limits.go).
	Limits Limits
	// InitTimeout closes websockets that send no connection_init (default 10 s).
	InitTimeout time.Duration
	// FrameAncestors is the CSP frame-ancestors source list of the pages
	// (playground, portal, console); default 'none'.
	FrameAncestors string
	// ServeMetrics serves Deps.Metrics on GET /metrics, behind a bearer
	// MetricsToken when that is set.
	ServeMetrics bool
	MetricsToken string
	// MetricsMaxAge serves one rendering of /metrics to every scrape
	// within it (see metrics.HandlerOpts); zero renders each scrape.
	MetricsMaxAge time.Duration
}

func (c *Options) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = 12
	}
	if c.MaxComplexity == 0 {
		c.MaxComplexity = 10_000
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 15 * time.Second
	}
	if c.InitTimeout == 0 {
		c.InitTimeout = 10 * time.Second
	}
	c.Limits.Defaults()
	if c.FrameAncestors == "" {
		c.FrameAncestors = "'none'"
	}
}

// NewServer returns the HTTP handler of an opened app, configured from the
// app's configuration: what server.go serves and what the tests run. With
// metrics on the app, GET /metrics serves them (without a token).
func NewServer(a *app.App) *Server {
	return NewServerWith(a, ServerOptions{ServeMetrics: a.Metrics != nil})
}

// ServerOptions are what server.go decides beyond the app's configuration.
type ServerOptions struct {
	// ServeMetrics serves the app's metrics on GET /metrics of this
	// handler (false when they have a listener of their own).
	ServeMetrics bool
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	// MetricsMaxAge: see Options.MetricsMaxAge.
	MetricsMaxAge time.Duration
}

// NewServerWith is NewServer with options.
func NewServerWith(a *app.App, o ServerOptions) *Server {
	c := a.Config
	return NewHandler(Deps{
		Directory: a.Directory, Sessions: a.Sessions, Auth: a.Auth, AdminKeys: a.AdminKeys, Webhooks: a.Webhooks,
		Bus: a.Bus, Clock: c.Clock, Logger: c.Logger, TrustProxyHeaders: c.TrustProxyHeaders,
		Ready: a.Store.Ping, Metrics: a.Metrics, Retention: a.Retention,
	}, Options{Logger: c.Logger, AllowedOrigins: c.AllowedOrigins, InitTimeout: c.WebsocketInitTimeout, KeepAlive: c.WebsocketKeepAlive,
		Limits: c.Limits, MaxDepth: c.MaxDepth, MaxComplexity: c.MaxComplexity, FrameAncestors: c.FrameAncestors,
		ServeMetrics: o.ServeMetrics && a.Metrics != nil, MetricsToken: o.MetricsToken, MetricsMaxAge: o.MetricsMaxAge})
}

// NewHandler returns the HTTP handler serving the GraphQL API on /graphql,
// the embedded pages (playground on /, /portal/, /console/), and the health
// endpoints. Production and tests build
// the API through this one function.
func NewHandler(deps Deps, cfg Options) *Server {
	cfg.defaults()
	drain := newDrainState(deps.Metrics)
	log := cfg.Logger
	originOK := wstransport.AllowOrigins(cfg.AllowedOrigins)

	ipOf := func(r *http.Request) string { return clientIP(r, deps.TrustProxyHeaders) }
	schemaCfg := Config{
		Resolvers:  &Resolver{Deps: deps},
		Directives: DirectiveRoot{Admin: requireAdmin},
	}
	setComplexity(&schemaCfg.Complexity)
	es := NewExecutableSchema(schemaCfg)
	srv := handler.New(es)
	// SSE must come before POST: POST.Supports ignores the Accept header.
	srv.AddTransport(transport.SSE{})
	// Our own websocket transport on gorilla (see graph/wstransport): one
	// goroutine per idle connection, pings from one shared goroutine.
	ws := limitWebsockets(&wstransport.Transport{
		Upgrader:    websocket.Upgrader{CheckOrigin: originOK, ReadBufferSize: 1024, WriteBufferSize: 1024, WriteBufferPool: &sync.Pool{}},
		InitFunc:    wsInit(deps, log),
		InitTimeout: cfg.InitTimeout,
		Pinger:      wstransport.NewPinger(cfg.KeepAlive),
		OnAccept:    onAccept,
	}, &cfg.Limits, ipOf)
	if deps.Metrics != nil {
		ws.Observer = deps.Metrics
	}
	drain.ws = ws
	srv.AddTransport(ws)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	useLimits(srv, &cfg.Limits, cfg.MaxDepth, cfg.MaxComplexity)
	srv.Use(inputCheck{schema: es.Schema()}) // NUL bytes, invalid UTF-8, over-long strings: see inputs.go
	srv.AroundResponses(responseLoaders(sourceOf(deps)))
	srv.AroundResponses(countRefused(deps.Metrics))
	srv.SetErrorPresenter(errorPresenter(log))
	srv.SetRecoverFunc(recoverFunc(log))
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		if info := requestInfoFrom(ctx); info != nil {
			name := oc.OperationName
			if name == "" && oc.Operation != nil {
				name = string(oc.Operation.Operation)
			}
			info.setOperation(name)
		}
		ctx, err := revalidate(ctx, deps)
		if err != nil {
			return countOperation(deps.Metrics, oc, graphql.OneShot(&graphql.Response{Errors: gqlerror.List{errorPresenter(log)(ctx, err)}}))
		}
		ctx = withStreamError(countActivity(ctx, deps, oc))
		return countOperation(deps.Metrics, oc, endWithError(ctx, errorPresenter(log), next(ctx)))
	})

	api := withLoaders(sourceOf(deps), authenticate(deps, withWSHolder(badRequestFor422(srv))))
	api = limitBody(cfg.MaxBodyBytes, checkRequest(api))
	api = guardHTTP(&cfg.Limits, ipOf, api)
	api = cors(originOK, drain.guard(api))

	mux := http.NewServeMux()
	mux.Handle("/graphql", api)
	mountPages(mux, originOK, cfg.FrameAncestors)
	// The browser SDK (clients/js), embedded: import it from /sdk/sessiond-client.js.
	sdk := jsclient.Handler()
	mux.Handle("GET /sdk/sessiond-client.js", sdk)
	mux.Handle("GET /sdk/sessiond-client.js.map", sdk)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if drain.on.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining", "reason": "the instance is shutting down"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := deps.Ready(ctx); err != nil {
			deps.Metrics.SetReady(false)
			log.WarnContext(ctx, "not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database does not answer"})
			return
		}
		deps.Metrics.SetReady(!drain.on.Load())
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if cfg.ServeMetrics && deps.Metrics != nil {
		mux.Handle("GET /metrics", deps.Metrics.Handler(metrics.HandlerOpts{Token: cfg.MetricsToken, MaxAge: cfg.MetricsMaxAge}))
	}
	return &Server{Handler: logRequests(log, mux), drain: drain}
}

// requireAdmin implements the schema's @admin directive: the field runs
// only for the admin key.
func requireAdmin(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	if err := auth.RequireAdmin(auth.PrincipalFrom(ctx)); err != nil {
		return nil, err
	}
	return next(ctx)
}

type passiveKey struct{}

// authenticate resolves the bearer token of HTTP requests into a principal,
// and notes the client's address and user agent for new sessions.
func authenticate(deps Deps, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p, err := deps.Auth.Authenticate(ctx, auth.BearerToken(r.Header.Get("Authorization")))
		if err != nil {
			msg := "internal error"
			if db.IsUnavailable(err) {
				msg = unavailableMessage
			}
			deps.logger().ErrorContext(ctx, "authenticate", "err", err)
			writeGraphQLError(w, http.StatusServiceUnavailable, apperr.Internal, msg)
			return
		}
		ctx = auth.WithPrincipal(ctx, p)
		ctx = withClient(ctx, session.Client{IPAddress: clientIP(r, deps.TrustProxyHeaders), UserAgent: r.UserAgent()})
		if strings.EqualFold(r.Header.Get("X-Session-Activity"), "passive") {
			ctx = context.WithValue(ctx, passiveKey{}, true)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// revalidate re-checks the caller of an operation on a websocket, which was
// authenticated once at connection_init (HTTP and SSE requests authenticate
// every time): a rotated admin key or an ended session stops working on
// open connections too, and changed entitlements apply.
func revalidate(ctx context.Context, deps Deps) (context.Context, error) {
	if _, ok := ctx.Value(wsConnKey{}).(*wsConn); !ok {
		return ctx, nil
	}
	p, err := deps.Auth.Revalidate(ctx, auth.PrincipalFrom(ctx))
	if err != nil {
		return ctx, err
	}
	return auth.WithPrincipal(ctx, p), nil
}

// countActivity records activity for queries and mutations made with a
// session token, unless the request is marked passive. Subscriptions (and
// so websocket keep-alives) never count.
func countActivity(ctx context.Context, deps Deps, oc *graphql.OperationContext) context.Context {
	p := auth.PrincipalFrom(ctx)
	if p.Kind != auth.User || oc.Operation == nil || oc.Operation.Operation == ast.Subscription {
		return ctx
	}
	if passive, _ := ctx.Value(passiveKey{}).(bool); passive {
		return ctx
	}
	p.Session = deps.Sessions.Touch(p.Session)
	return auth.WithPrincipal(ctx, p)
}

type clientKey struct{}

func withClient(ctx context.Context, c session.Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

func clientFrom(ctx context.Context) session.Client {
	c, _ := ctx.Value(clientKey{}).(session.Client)
	return c
}

// clientIP is the request's peer address, or the address the trusted proxy
// forwarded when proxy headers are trusted.
func clientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		// The right-most address is the one the trusted proxy added; the
		// ones before it come from the client and can be forged.
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := strings.TrimSpace(last); ip != "" {
				return ip
			}
		}
		if ip := strings.TrimSpace(r.Header.Get("X-Real-IP")); ip != "" {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// badRequestFor422 answers 400 where gqlgen answers 422 (unparsable or
// invalid GraphQL), as the GraphQL-over-HTTP spec and our clients expect.
func badRequestFor422(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&statusRewriter{ResponseWriter: w}, r)
	})
}

type statusRewriter struct{ http.ResponseWriter }

func (s *statusRewriter) WriteHeader(code int) {
	if code == http.StatusUnprocessableEntity {
		code = http.StatusBadRequest
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRewriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush and Hijack pass through: SSE needs a Flusher and gorilla's upgrade
// a Hijacker on the writer it is handed.
func (s *statusRewriter) Flush() { flush(s.ResponseWriter) }

func (s *statusRewriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return hijack(s.ResponseWriter)
}

// limitBody answers 413 for bodies over max bytes, before gqlgen reads them.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			writeGraphQLError(w, http.StatusRequestEntityTooLarge, apperr.BadUserInput, "request body is larger than the limit of 1 MiB")
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
		if err != nil {
			writeGraphQLError(w, http.StatusBadRequest, apperr.BadUserInput, "could not read the request body")
			return
		}
		if int64(len(body)) > max {
			writeGraphQLError(w, http.StatusRequestEntityTooLarge, apperr.BadUserInput, "request body is larger than the limit of 1 MiB")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// cors answers preflights and allows the configured browser origins.
func cors(originOK func(*http.Request) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && originOK(r) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, X-Session-Activity")
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Max-Age", "600")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeGraphQLError(w http.ResponseWriter, status int, code apperr.Code, msg string) {
	writeJSON(w, status, graphql.Response{Errors: gqlerror.List{{Message: msg, Extensions: map[string]any{"code": string(code)}}}})
}
