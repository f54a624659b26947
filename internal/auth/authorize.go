package auth

import (
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

// The decisions below are pure functions of the principal: its
// entitlements were resolved when it was authenticated, so deciding costs
// no query.

// RequireAdmin lets only the admin key through: UNAUTHENTICATED for
// anonymous callers, FORBIDDEN for users.
func RequireAdmin(p Principal) error {
	switch p.Kind {
	case Admin:
		return nil
	case User:
		return apperr.Errorf(apperr.Forbidden, "this operation needs the admin key")
	default:
		return p.unauthenticated()
	}
}

// RequireUser lets only a session's user through: UNAUTHENTICATED for
// anonymous callers, FORBIDDEN for the admin key (it has no session).
func RequireUser(p Principal) error {
	switch p.Kind {
	case User:
		return nil
	case Admin:
		return apperr.Errorf(apperr.Forbidden, "this operation acts on the caller's own session; call it with a session token")
	default:
		return p.unauthenticated()
	}
}

// RequireCaller lets the admin key and any session's user through.
func RequireCaller(p Principal) error {
	if p.Kind == Anonymous {
		return p.unauthenticated()
	}
	return nil
}

// Require lets the caller use feature f: the admin key always; a user when
// the feature's switch is on (else FEATURE_DISABLED) and, where needed, the
// user holds fe.secure.delete.sessions in the session's tenant (else
// FORBIDDEN). Anonymous callers get UNAUTHENTICATED.
func Require(p Principal, f Feature) error {
	switch p.Kind {
	case Admin:
		return nil
	case Anonymous:
		return p.unauthenticated()
	}
	if p.Ent == nil {
		return p.unauthenticated()
	}
	if f != AuditTrail {
		if on, name := switchOf(p.Ent.Portal, f); !on {
			return apperr.Errorf(apperr.FeatureDisabled, "%s is turned off for this environment", name)
		}
	}
	if f == SelfService {
		return nil
	}
	if !HasPermission(p, model.BuiltInRevokeSessions) {
		return apperr.Errorf(apperr.Forbidden, "this needs the permission %s (Revoke User Sessions) in this tenant", model.BuiltInRevokeSessions)
	}
	return nil
}

// RequireSelfService is Require(SelfService) for a session's own user: the
// admin key has no sessions of its own (FORBIDDEN).
func RequireSelfService(p Principal) error {
	if err := Require(p, SelfService); err != nil {
		return err
	}
	return RequireUser(p)
}

// HasPermission reports whether a user principal holds the permission in
// its session's tenant, wildcards included. The admin key holds all.
func HasPermission(p Principal, key string) bool {
	switch {
	case p.Kind == Admin:
		return true
	case p.Kind != User || p.Ent == nil:
		return false
	}
	return Grants(p.Ent.Permissions, key)
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
// admin key, the requested one ("" when none: every tenant, or the
// environment for policies).
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

// FeatureScope authorizes feature f and returns the tenant the caller acts
// on (see Scope).
func FeatureScope(p Principal, f Feature, requested *string) (string, error) {
	if err := Require(p, f); err != nil {
		return "", err
	}
	return Scope(p, requested)
}

// SeesSession reports whether the caller may see a session at all: the
// admin key every session, a user those of its own tenant. Others must
// answer NOT_FOUND, so ids of another tenant reveal nothing.
func SeesSession(p Principal, s model.Session) bool {
	return p.Kind == Admin || (p.Kind == User && s.TenantID == p.TenantID)
}

// NotFound is the answer for a record the caller may not see.
func NotFound(kind, id string) error {
	return apperr.Errorf(apperr.NotFound, "%s %s not found", kind, id)
}

// RevokeReason authorizes ending a session the caller sees and says which
// reason the end records: REVOKED_BY_USER for a user's own session (needs
// Privacy & Security), REVOKED_BY_ADMIN for another user's (needs Users and
// the permission) or for the admin key.
func RevokeReason(p Principal, target model.Session) (model.EndReason, error) {
	if err := RequireCaller(p); err != nil {
		return "", err
	}
	if !SeesSession(p, target) {
		return "", NotFound("session", target.ID)
	}
	if p.Kind == Admin {
		return model.EndRevokedByAdmin, nil
	}
	if target.UserID == p.UserID {
		return model.EndRevokedByUser, Require(p, SelfService)
	}
	return model.EndRevokedByAdmin, Require(p, ManageUsers)
}

// StreamAccess is what a sessionEvents subscription may receive: the events
// of one user (UserID) or of everyone (admin key, no user named), within
// one tenant (TenantID) or all, and the feature the caller needs to keep
// receiving them (checked again whenever entitlements change).
type StreamAccess struct {
	UserID, TenantID string
	Feature          Feature
	// Other says the stream watches another user than the caller: that
	// user must be a member of the caller's tenant.
	Other bool
}

// SessionStream decides a sessionEvents subscription for userID (nil: the
// caller's own sessions, or every session for the admin key).
func SessionStream(p Principal, userID *string) (StreamAccess, error) {
	if err := RequireCaller(p); err != nil {
		return StreamAccess{}, err
	}
	var a StreamAccess
	switch {
	case p.Kind == Admin:
		if userID != nil {
			a.UserID = *userID
		}
		return a, nil
	case userID == nil || *userID == p.UserID:
		a = StreamAccess{UserID: p.UserID, TenantID: p.TenantID, Feature: SelfService}
	default:
		a = StreamAccess{UserID: *userID, TenantID: p.TenantID, Feature: ManageUsers, Other: true}
	}
	return a, Require(p, a.Feature)
}

// UserSessionScope authorizes reading users' sessions and counts: the admin
// key sees every tenant's (""), a Users-permission holder its own tenant's.
func UserSessionScope(p Principal) (string, error) {
	if err := Require(p, ManageUsers); err != nil {
		return "", err
	}
	if p.Kind == Admin {
		return "", nil
	}
	return p.TenantID, nil
}

// VisibleMemberships keeps the memberships the caller may see: all for the
// admin key, its own tenant's for a user.
func VisibleMemberships(p Principal, ms []model.Membership) []model.Membership {
	if p.Kind == Admin {
		return ms
	}
	out := make([]model.Membership, 0, 1)
	for _, m := range ms {
		if m.TenantID == p.TenantID {
			out = append(out, m)
		}
	}
	return out
}
