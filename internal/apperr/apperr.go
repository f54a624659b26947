// Package apperr defines the one error type domain code returns: a code a
// client can branch on and a message a person can act on. The GraphQL error
// presenter turns it into extensions.code; anything else is logged and
// answered as INTERNAL.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an error for clients. It becomes extensions.code.
type Code string

// The codes a client sees.
const (
	Unauthenticated Code = "UNAUTHENTICATED"
	Forbidden       Code = "FORBIDDEN"
	FeatureDisabled Code = "FEATURE_DISABLED"
	BadUserInput    Code = "BAD_USER_INPUT"
	NotFound        Code = "NOT_FOUND"
	Conflict        Code = "CONFLICT"
	RateLimited     Code = "RATE_LIMITED"
	Internal        Code = "INTERNAL"
)

// Error is a domain error with a client-facing code and message.
type Error struct {
	Code    Code
	Message string
	// Field names the input field at fault, for BAD_USER_INPUT and CONFLICT.
	Field string
	// Reason refines UNAUTHENTICATED for ended sessions (the end reason).
	Reason string
	// RetryAfter is set for RATE_LIMITED.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a BAD_USER_INPUT error for one input field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: BadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// CodeOf returns err's code; errors that are not *Error are INTERNAL.
func CodeOf(err error) Code {
	if e, ok := As(err); ok {
		return e.Code
	}
	return Internal
}
