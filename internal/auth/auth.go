// Package auth says who is calling and what they may do: the principal
// carried in the request context, permission matching with wildcards, and
// the checks that combine permissions with the portal switches.
package auth

import (
	"context"
	"strings"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
)

// Kind is the kind of caller.
type Kind int

// Caller kinds.
const (
	Anonymous Kind = iota
	// Admin is the environment owner, authenticated by the admin key.
	Admin
	// User is a person authenticated by a session token.
	User
)

// Principal is the authenticated caller of one request.
type Principal struct {
	Kind Kind
	// For Kind User: the session, its user and its tenant.
	SessionID string
	UserID    string
	TenantID  string
	// KeyHash is the hash of the admin key presented, for Kind Admin.
	KeyHash string
	// Session is the caller's session as validated for this request.
	Session model.Session
	// Failure explains why a presented credential was refused; it is
	// returned to operations that need a caller.
	Failure error
}

// Actor returns the principal as recorded in the audit trail.
func (p Principal) Actor() model.Actor {
	switch p.Kind {
	case Admin:
		return model.Actor{Kind: model.ActorAdmin}
	case User:
		return model.Actor{Kind: model.ActorUser, ID: p.UserID}
	default:
		return model.Actor{Kind: model.ActorSystem}
	}
}

type principalKey struct{}

// WithPrincipal returns a context that carries p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the context's principal; Anonymous when none.
func PrincipalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// RequireAdmin lets only the admin key through.
// UNAUTHENTICATED for anonymous callers, FORBIDDEN for users.
func RequireAdmin(ctx context.Context) (Principal, error) {
	p := PrincipalFrom(ctx)
	switch p.Kind {
	case Admin:
		return p, nil
	case User:
		return p, apperr.Errorf(apperr.Forbidden, "this operation needs the admin key")
	default:
		return p, p.unauthenticated()
	}
}

func (p Principal) unauthenticated() error {
	if p.Failure != nil {
		return p.Failure
	}
	return Unauthenticated()
}

// Unauthenticated is the UNAUTHENTICATED error for a missing or refused
// credential. Both get the same one, so an answer never tells a caller
// whether a key it tried exists.
func Unauthenticated() *apperr.Error {
	return apperr.Errorf(apperr.Unauthenticated, "authentication required: send a valid admin key or session token as Authorization: Bearer <credential>")
}

// Grants reports whether any granted key covers want. A granted key "*"
// covers everything; "a.b.*" covers "a.b" itself and every key under "a.b.".
func Grants(granted []string, want string) bool {
	for _, g := range granted {
		if g == want || g == "*" {
			return true
		}
		if prefix, ok := strings.CutSuffix(g, ".*"); ok {
			if want == prefix || strings.HasPrefix(want, prefix+".") {
				return true
			}
		}
	}
	return false
}
