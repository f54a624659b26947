package auth

import (
	"context"
	"strings"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/secret"
)

// SessionValidator validates session credentials: the session lifecycle
// implements it. Both methods return the live session with this instance's
// unwritten activity counted in, or UNAUTHENTICATED (with the end reason
// for an ended session).
type SessionValidator interface {
	Authenticate(ctx context.Context, token string) (model.Session, error)
	AuthenticateHash(ctx context.Context, tokenHash string) (model.Session, error)
}

// Authenticator turns presented credentials into principals. HTTP
// requests, SSE streams and websocket connection_init all go through it,
// and long-lived callers are revalidated through it before each operation.
type Authenticator struct {
	keys     *AdminKeys
	sessions SessionValidator
	ents     *EntitlementCache
}

// NewAuthenticator returns an authenticator over the admin key, the
// session lifecycle and the entitlement cache.
func NewAuthenticator(keys *AdminKeys, sessions SessionValidator, ents *EntitlementCache) *Authenticator {
	return &Authenticator{keys: keys, sessions: sessions, ents: ents}
}

// Entitlements returns the cache principals are resolved from.
func (a *Authenticator) Entitlements() *EntitlementCache { return a.ents }

// InitCredential returns the credential a websocket client sent in its
// connection_init payload: Authorization (or authorization) as a bearer
// header value or a bare token, or authToken.
func InitCredential(payload map[string]any) string {
	for _, k := range []string{"Authorization", "authorization", "authToken"} {
		if v, ok := payload[k].(string); ok && v != "" {
			if t := BearerToken(v); t != "" {
				return t
			}
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Authenticate resolves a credential. No credential is Anonymous. A
// credential that is not valid is Anonymous with a Failure, so operations
// that need a caller answer UNAUTHENTICATED (with the end reason for an
// ended session) while public ones still work. The error is for failures
// of the service itself (a database that does not answer).
func (a *Authenticator) Authenticate(ctx context.Context, credential string) (Principal, error) {
	switch {
	case credential == "":
		return Principal{}, nil
	case strings.HasPrefix(credential, secret.SessionTokenPrefix):
		ses, err := a.sessions.Authenticate(ctx, credential)
		return a.userPrincipal(ctx, ses, err)
	default:
		h := secret.HashToken(credential)
		ok, err := a.keys.VerifyHash(ctx, h)
		if err != nil {
			return Principal{}, err
		}
		if !ok {
			return Principal{Failure: Unauthenticated()}, nil
		}
		return Principal{Kind: Admin, KeyHash: h}, nil
	}
}

// Revalidate re-checks a long-lived caller (a websocket authenticated once
// at connection_init, an open subscription) and returns it refreshed: a
// rotated admin key or an ended session stops working on open connections
// too, and changed entitlements apply at once. The error is
// UNAUTHENTICATED when the credential no longer holds.
func (a *Authenticator) Revalidate(ctx context.Context, p Principal) (Principal, error) {
	switch p.Kind {
	case Admin:
		ok, err := a.keys.VerifyHash(ctx, p.KeyHash)
		if err != nil {
			return p, err
		}
		if !ok {
			return Principal{}, Unauthenticated()
		}
		return p, nil
	case User:
		ses, err := a.sessions.AuthenticateHash(ctx, p.Session.TokenHash)
		np, err := a.userPrincipal(ctx, ses, err)
		if err != nil {
			return p, err
		}
		if np.Failure != nil {
			return Principal{}, np.Failure
		}
		return np, nil
	}
	return p, nil
}

func (a *Authenticator) userPrincipal(ctx context.Context, ses model.Session, err error) (Principal, error) {
	if err != nil {
		if apperr.CodeOf(err) == apperr.Unauthenticated {
			return Principal{Failure: err}, nil
		}
		return Principal{}, err
	}
	ent, err := a.ents.Get(ctx, ses.UserID, ses.TenantID)
	if err != nil {
		if apperr.CodeOf(err) == apperr.NotFound {
			// The user or tenant is gone; its sessions end with it.
			return Principal{Failure: Unauthenticated()}, nil
		}
		return Principal{}, err
	}
	return Principal{Kind: User, SessionID: ses.ID, UserID: ses.UserID, TenantID: ses.TenantID, Session: ses, Ent: ent}, nil
}
