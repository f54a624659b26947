package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/sessiond/sessiond/db"
	"github.com/sessiond/sessiond/internal/apperr"
)

// errorPresenter turns every error into a GraphQL error with extensions.code.
// Domain errors keep their message; request errors (parse, validation,
// argument coercion) are BAD_USER_INPUT; anything else is logged with its
// cause and answered as a plain INTERNAL, so no driver text reaches a client.
func errorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		if ae, ok := apperr.As(err); ok {
			out := &gqlerror.Error{Message: ae.Message, Path: graphql.GetPath(ctx), Extensions: map[string]any{"code": string(ae.Code)}}
			if ge, ok := errors.AsType[*gqlerror.Error](err); ok {
				out.Path, out.Locations = ge.Path, ge.Locations
			}
			if ae.Field != "" {
				out.Extensions["field"] = ae.Field
			}
			if ae.Reason != "" {
				out.Extensions["reason"] = ae.Reason
			}
			if ae.RetryAfter > 0 {
				out.Extensions["retryAfter"] = int(math.Ceil(ae.RetryAfter.Seconds()))
			}
			return out
		}
		var ge *gqlerror.Error
		if errors.As(err, &ge) && ge.Err == nil {
			out := *ge
			out.Err = nil
			// gqlgen echoes an undecodable body; it may hold a password.
			if i := strings.Index(out.Message, " body:"); i >= 0 && strings.HasPrefix(out.Message, "json request body could not be decoded") {
				out.Message = out.Message[:i]
			}
			ext := map[string]any{}
			for k, v := range ge.Extensions {
				ext[k] = v
			}
			ext["code"] = string(apperr.BadUserInput)
			out.Extensions = ext
			return &out
		}
		log.ErrorContext(ctx, "internal error", "err", err, "path", graphql.GetPath(ctx).String())
		msg := "internal error"
		if db.IsUnavailable(err) {
			msg = unavailableMessage
		}
		out := &gqlerror.Error{Message: msg, Path: graphql.GetPath(ctx), Extensions: map[string]any{"code": string(apperr.Internal)}}
		if ge != nil {
			out.Path, out.Locations = ge.Path, ge.Locations
		}
		return out
	}
}

// unavailableMessage tells clients that retrying later will help.
const unavailableMessage = "the database is unavailable; try again shortly"

// recoverFunc turns a resolver panic into an INTERNAL error and logs the stack.
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return apperr.Errorf(apperr.Internal, "internal error")
	}
}
