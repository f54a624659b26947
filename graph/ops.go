package graph

// Operations: counting GraphQL requests for metrics, and the drain that
// SIGTERM starts (readiness off, no new websockets, open websockets closed
// with 1012, SSE streams ended).

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/sessiond/sessiond/graph/wstransport"
	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/metrics"
)

// CloseServiceRestart (RFC 6455's 1012) closes websockets when the
// instance drains: clients reconnect, to another instance, and keep their
// session. It is not 4403: nothing ended.
const CloseServiceRestart = 1012

// Server is the HTTP handler of the API with the controls of its life.
type Server struct {
	http.Handler
	drain *drainState
}

// Drain starts the drain: /readyz answers 503 from now on, websocket
// upgrades are refused with 503, open websockets are closed with 1012 and
// SSE streams end. Plain HTTP requests keep being served (the caller's
// http.Server.Shutdown waits for those in flight). It returns how many
// websockets it closed.
func (s *Server) Drain() int { return s.drain.start() }

// Draining reports whether Drain was called.
func (s *Server) Draining() bool { return s.drain.on.Load() }

type drainState struct {
	on      atomic.Bool
	ws      *wstransport.Transport
	metrics *metrics.Metrics

	mu  sync.Mutex
	sse map[*context.CancelFunc]struct{}
}

func newDrainState(m *metrics.Metrics) *drainState {
	return &drainState{metrics: m, sse: map[*context.CancelFunc]struct{}{}}
}

func (d *drainState) start() int {
	if d.on.Swap(true) {
		return 0
	}
	d.metrics.SetDraining(true)
	d.metrics.SetReady(false)
	d.mu.Lock()
	for cancel := range d.sse {
		(*cancel)()
	}
	d.mu.Unlock()
	return d.ws.CloseAll(CloseServiceRestart, "service restart: reconnect")
}

// guard refuses websocket upgrades while draining, and gives SSE streams
// a context that the drain cancels (their stream then ends).
func (d *drainState) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" && d.on.Load() {
			w.Header().Set("Retry-After", "1")
			writeGraphQLError(w, http.StatusServiceUnavailable, apperr.Internal, "this instance is shutting down; reconnect")
			return
		}
		if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			ctx, cancel := context.WithCancel(r.Context())
			key := &cancel
			d.mu.Lock()
			d.sse[key] = struct{}{}
			d.mu.Unlock()
			if d.on.Load() {
				cancel()
			}
			defer func() {
				d.mu.Lock()
				delete(d.sse, key)
				d.mu.Unlock()
				cancel()
			}()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

type countedKey struct{}

// countOperation counts an operation once, with the code of its first
// response's first error (OK without errors); subscriptions count their
// first response only.
func countOperation(m *metrics.Metrics, oc *graphql.OperationContext, next graphql.ResponseHandler) graphql.ResponseHandler {
	if m == nil {
		return next
	}
	op := ""
	if oc.Operation != nil {
		op = string(oc.Operation.Operation)
	}
	var once atomic.Bool
	return func(ctx context.Context) *graphql.Response {
		resp := next(context.WithValue(ctx, countedKey{}, true))
		if resp != nil && once.CompareAndSwap(false, true) {
			m.GraphQLRequest(op, outcome(resp.Errors))
		}
		return resp
	}
}

// countRefused counts responses that never reached an operation (parse,
// validation and limit errors): AroundOperations did not see them.
func countRefused(m *metrics.Metrics) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		if m == nil || resp == nil || ctx.Value(countedKey{}) != nil {
			return resp
		}
		op := ""
		if graphql.HasOperationContext(ctx) {
			if oc := graphql.GetOperationContext(ctx); oc.Operation != nil {
				op = string(oc.Operation.Operation)
			}
		}
		m.GraphQLRequest(op, outcome(resp.Errors))
		return resp
	}
}

func outcome(errs gqlerror.List) string {
	if len(errs) == 0 {
		return ""
	}
	if code, ok := errs[0].Extensions["code"].(string); ok {
		return code
	}
	return "ERROR"
}
