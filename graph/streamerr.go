package graph

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// A subscription that must stop for a reason the client should know (the
// caller lost the permission, a switch was turned off, its session ended)
// records the error with setStreamError and closes its channel; the
// operation then answers one last response carrying that error, with its
// extensions.code, before the stream completes. gqlgen's subscription
// responses carry no errors of their own, so this happens around them.

type streamErrKey struct{}

type streamErr struct {
	mu   sync.Mutex
	err  error
	sent bool
}

// withStreamError gives an operation a place for its final error.
func withStreamError(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamErrKey{}, &streamErr{})
}

// setStreamError records why a subscription stops.
func setStreamError(ctx context.Context, err error) {
	if h, ok := ctx.Value(streamErrKey{}).(*streamErr); ok {
		h.mu.Lock()
		if h.err == nil {
			h.err = err
		}
		h.mu.Unlock()
	}
}

// endWithError wraps an operation's responses: when the stream ends (nil)
// with an error recorded, one response with that error comes first.
func endWithError(ctx context.Context, present graphql.ErrorPresenterFunc, next graphql.ResponseHandler) graphql.ResponseHandler {
	h, _ := ctx.Value(streamErrKey{}).(*streamErr)
	if h == nil {
		return next
	}
	return func(rctx context.Context) *graphql.Response {
		resp := next(rctx)
		if resp != nil {
			return resp
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.err == nil || h.sent {
			return nil
		}
		h.sent = true
		return &graphql.Response{Errors: gqlerror.List{present(ctx, h.err)}}
	}
}
