// Package auth is sessiond's one access layer. It says who is calling
// (authenticate.go: token-prefix dispatch between session tokens and the
// admin key, for HTTP headers and websocket connection_init alike, and the
// revalidation of long-lived callers), what they hold (entitlements.go: the
// user, tenant, roles, permissions and portal switches of a session, kept
// warm and invalidated through the event bus), and what they may see and do
// (authorize.go: features, tenant scope, which sessions a caller may read or
// end and with which reason). Domain services take the Principal and ask
// this package; resolvers never decide access themselves.
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
	// Session is the caller's session as validated for this request, with
	// the activity this instance has accepted counted in.
	Session model.Session
	// Ent is what a user principal holds in its session's tenant, resolved
	// once per authentication from a cache the event bus keeps current.
	// Nil for the admin key and anonymous callers.
	Ent *Entitlements
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
