package session

import (
	"context"

	"github.com/sessiond/sessiond/internal/auth"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
)

// What callers ask of the session lifecycle. Each method takes the
// caller, asks internal/auth whether it may and within which tenant, and
// returns sessions as this instance knows them (unwritten activity counted
// in). The GraphQL resolvers call exactly one of these per field.

// Logout ends the caller's own session with LOGOUT.
func (s *Service) Logout(ctx context.Context, p auth.Principal) (model.Session, error) {
	if err := auth.RequireUser(p); err != nil {
		return model.Session{}, err
	}
	return s.endOne(ctx, p, p.Session, model.EndLogout)
}

// RecordActivity returns the caller's session; the request itself counted
// as activity (see Touch).
func (s *Service) RecordActivity(_ context.Context, p auth.Principal) (model.Session, error) {
	if err := auth.RequireUser(p); err != nil {
		return model.Session{}, err
	}
	return p.Session, nil
}

// Current returns the caller's own session (token validation).
func (s *Service) Current(_ context.Context, p auth.Principal) (model.Session, error) {
	if err := auth.RequireUser(p); err != nil {
		return model.Session{}, err
	}
	return p.Session, nil
}

// Revoke ends one session the caller may end (see auth.RevokeReason for
// who may and which reason is recorded). A session of another tenant is
// NOT_FOUND; one that has ended already is returned as it is.
func (s *Service) Revoke(ctx context.Context, p auth.Principal, id string) (model.Session, error) {
	if err := auth.RequireCaller(p); err != nil {
		return model.Session{}, err
	}
	target, err := s.store.Session(ctx, id)
	if err != nil {
		return model.Session{}, err
	}
	reason, err := auth.RevokeReason(p, target)
	if err != nil {
		return model.Session{}, err
	}
	return s.endOne(ctx, p, target, reason)
}

// endOne ends a session and returns it as ended; a session that had ended
// already is returned as it is.
func (s *Service) endOne(ctx context.Context, p auth.Principal, target model.Session, reason model.EndReason) (model.Session, error) {
	ended, err := s.End(ctx, p.Actor(), model.SessionEnd{ID: target.ID, Reason: reason})
	if err != nil {
		return model.Session{}, err
	}
	if len(ended) == 1 {
		return ended[0], nil
	}
	return s.Get(ctx, target.ID)
}

// RevokeMine ends the caller's other sessions in its tenant (and its own
// too with includeCurrent), with REVOKED_BY_USER. Needs Privacy & Security.
func (s *Service) RevokeMine(ctx context.Context, p auth.Principal, includeCurrent bool) (int, error) {
	if err := auth.RequireSelfService(p); err != nil {
		return 0, err
	}
	keep := p.SessionID
	if includeCurrent {
		keep = ""
	}
	return s.SignOut(ctx, p.Actor(), p.UserID, p.TenantID, keep, model.EndRevokedByUser)
}

// SignOutUser ends every session of a user with REVOKED_BY_ADMIN: in the
// caller's tenant for a Users-permission holder, in tenantID or in every
// tenant for the admin key. NOT_FOUND for a user outside the scope.
func (s *Service) SignOutUser(ctx context.Context, p auth.Principal, userID string, tenantID *string) (int, error) {
	scope, err := auth.FeatureScope(p, auth.ManageUsers, tenantID)
	if err != nil {
		return 0, err
	}
	if scope != "" {
		if _, err := s.store.Membership(ctx, userID, scope); err != nil {
			return 0, auth.NotFound("user", userID)
		}
	} else if _, err := s.store.User(ctx, userID); err != nil {
		return 0, err
	}
	return s.SignOut(ctx, p.Actor(), userID, scope, "", model.EndRevokedByAdmin)
}

// MySessions lists the caller's active sessions in its tenant, newest
// first. Needs Privacy & Security.
func (s *Service) MySessions(ctx context.Context, p auth.Principal) ([]model.Session, error) {
	if err := auth.RequireSelfService(p); err != nil {
		return nil, err
	}
	mine, err := s.store.Sessions(ctx, model.SessionFilter{UserIDs: []string{p.UserID}, TenantID: p.TenantID, ActiveOnly: true})
	if err != nil {
		return nil, err
	}
	for i := range mine {
		if mine[i].ID == p.SessionID {
			mine[i] = p.Session // validated for this request, activity and all
		} else {
			mine[i] = s.withPending(mine[i])
		}
	}
	return mine, nil
}

// UserSessions lists a user's sessions that the caller may see (active
// only unless includeEnded): the admin key every tenant's, a
// Users-permission holder its own tenant's.
func (s *Service) UserSessions(ctx context.Context, p auth.Principal, userID string, includeEnded bool) ([]model.Session, error) {
	scope, err := auth.UserSessionScope(p)
	if err != nil {
		return nil, err
	}
	list, err := s.store.Sessions(ctx, model.SessionFilter{UserIDs: []string{userID}, TenantID: scope, ActiveOnly: !includeEnded})
	if err != nil {
		return nil, err
	}
	for i := range list {
		list[i] = s.withPending(list[i])
	}
	return list, nil
}

// ActiveCounts counts the active sessions of each user that the caller
// may see (see UserSessions); every user has a count.
func (s *Service) ActiveCounts(ctx context.Context, p auth.Principal, userIDs []string) (map[string]int, error) {
	scope, err := auth.UserSessionScope(p)
	if err != nil {
		return nil, err
	}
	return s.store.CountActiveSessions(ctx, userIDs, scope)
}

// PolicyOf returns the effective policy the caller may read: a user its
// own tenant's, the admin key any tenant's or (no tenantID) the
// environment's own settings. It returns the scope it read.
func (s *Service) PolicyOf(ctx context.Context, p auth.Principal, tenantID *string) (string, policy.Effective, error) {
	if err := auth.RequireCaller(p); err != nil {
		return "", policy.Effective{}, err
	}
	scope, err := auth.Scope(p, tenantID)
	if err != nil {
		return "", policy.Effective{}, err
	}
	if scope != "" {
		if _, err := s.store.Tenant(ctx, scope); err != nil {
			return "", policy.Effective{}, err
		}
	}
	eff, err := s.Policy(ctx, scope)
	return scope, eff, err
}

// ChangePolicy is UpdatePolicy on the scope the caller may change: its
// own tenant for a Security-permission holder, any tenant or the
// environment for the admin key.
func (s *Service) ChangePolicy(ctx context.Context, p auth.Principal, tenantID *string, in policy.Input) (string, PolicyOutcome, error) {
	scope, err := auth.FeatureScope(p, auth.ManageSecurity, tenantID)
	if err != nil {
		return "", PolicyOutcome{}, err
	}
	out, err := s.UpdatePolicy(ctx, p.Actor(), scope, in)
	return scope, out, err
}

// ResetPolicyOf is ResetPolicy on a tenant the caller may change.
func (s *Service) ResetPolicyOf(ctx context.Context, p auth.Principal, tenantID string) (string, PolicyOutcome, error) {
	scope, err := auth.FeatureScope(p, auth.ManageSecurity, &tenantID)
	if err != nil {
		return "", PolicyOutcome{}, err
	}
	out, err := s.ResetPolicy(ctx, p.Actor(), scope)
	return scope, out, err
}

// PreviewPolicyOf is PreviewPolicy on a scope the caller may change.
func (s *Service) PreviewPolicyOf(ctx context.Context, p auth.Principal, tenantID *string, in policy.Input) (string, Preview, error) {
	scope, err := auth.FeatureScope(p, auth.ManageSecurity, tenantID)
	if err != nil {
		return "", Preview{}, err
	}
	pv, err := s.PreviewPolicy(ctx, scope, in)
	return scope, pv, err
}
