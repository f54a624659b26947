package auth

import (
	"context"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
)

// Feature is a self-service portal feature, guarded by a switch and, where
// it acts on other users or on the tenant, by the built-in permission.
type Feature int

// Portal features.
const (
	// SelfService is Personal › Privacy & Security: users list and end their
	// own sessions. Needs the switch only.
	SelfService Feature = iota
	// ManageUsers is Workspace › Users: list the tenant's users and end their
	// sessions. Needs the switch and fe.secure.delete.sessions.
	ManageUsers
	// ManageSecurity is Workspace › Security: edit the tenant's session
	// policy. Needs the switch and fe.secure.delete.sessions.
	ManageSecurity
	// AuditTrail is reading the tenant's audit log. Needs the permission only.
	AuditTrail
)

// EntitlementStore is what authorization reads.
type EntitlementStore interface {
	AdminPortal(ctx context.Context) (model.AdminPortal, error)
	PermissionKeysForMembership(ctx context.Context, userID, tenantID string) ([]string, error)
}

// Authorizer decides whether the caller may use a feature.
type Authorizer struct {
	store EntitlementStore
}

// NewAuthorizer returns an authorizer reading entitlements from store.
func NewAuthorizer(store EntitlementStore) *Authorizer { return &Authorizer{store: store} }

// RequireUser lets only a session's user through: UNAUTHENTICATED for
// anonymous callers, FORBIDDEN for the admin key (it has no session).
func RequireUser(ctx context.Context) (Principal, error) {
	p := PrincipalFrom(ctx)
	switch p.Kind {
	case User:
		return p, nil
	case Admin:
		return p, apperr.Errorf(apperr.Forbidden, "this operation acts on the caller's own session; call it with a session token")
	default:
		return p, p.unauthenticated()
	}
}

// RequireCaller lets the admin key and any session's user through.
func RequireCaller(ctx context.Context) (Principal, error) {
	p := PrincipalFrom(ctx)
	if p.Kind == Anonymous {
		return p, p.unauthenticated()
	}
	return p, nil
}

// Require lets the caller use feature f: the admin key always; a user when
// the feature's switch is on (else FEATURE_DISABLED) and, where needed, the
// user holds fe.secure.delete.sessions in the session's tenant (else
// FORBIDDEN). Anonymous callers get UNAUTHENTICATED.
func (a *Authorizer) Require(ctx context.Context, f Feature) (Principal, error) {
	p := PrincipalFrom(ctx)
	switch p.Kind {
	case Admin:
		return p, nil
	case Anonymous:
		return p, p.unauthenticated()
	}
	if f != AuditTrail {
		portal, err := a.store.AdminPortal(ctx)
		if err != nil {
			return p, err
		}
		on, name := switchOf(portal, f)
		if !on {
			return p, apperr.Errorf(apperr.FeatureDisabled, "%s is turned off for this environment", name)
		}
	}
	if f == SelfService {
		return p, nil
	}
	ok, err := a.HasPermission(ctx, p, model.BuiltInRevokeSessions)
	if err != nil {
		return p, err
	}
	if !ok {
		return p, apperr.Errorf(apperr.Forbidden, "this needs the permission %s (Revoke User Sessions) in this tenant", model.BuiltInRevokeSessions)
	}
	return p, nil
}

// HasPermission reports whether a user principal holds the permission in
// its session's tenant, wildcards included. The admin key holds all.
func (a *Authorizer) HasPermission(ctx context.Context, p Principal, key string) (bool, error) {
	if p.Kind == Admin {
		return true, nil
	}
	if p.Kind != User {
		return false, nil
	}
	keys, err := a.store.PermissionKeysForMembership(ctx, p.UserID, p.TenantID)
	if err != nil {
		return false, err
	}
	return Grants(keys, key), nil
}

func switchOf(p model.AdminPortal, f Feature) (bool, string) {
	switch f {
	case SelfService:
		return p.PrivacyAndSecurity, "Privacy & Security (self-service sessions)"
	case ManageUsers:
		return p.Users, "Workspace › Users"
	case ManageSecurity:
		return p.Security, "Workspace › Security"
	}
	return false, "this feature"
}

// Scope returns the tenant a caller acts on: for a user, its session's
// tenant (another tenant's id answers NOT_FOUND, never FORBIDDEN); for the
// admin key, the requested one ("" when none).
func Scope(p Principal, requested *string) (string, error) {
	if p.Kind == Admin {
		if requested == nil {
			return "", nil
		}
		return *requested, nil
	}
	if requested != nil && *requested != p.TenantID {
		return "", apperr.Errorf(apperr.NotFound, "tenant %s not found", *requested)
	}
	return p.TenantID, nil
}
