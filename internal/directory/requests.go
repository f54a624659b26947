package directory

import (
	"context"

	"github.com/sessiond/sessiond/internal/auth"
	"github.com/sessiond/sessiond/internal/model"
)

// Reads of the directory, each authorized and scoped through internal/auth
// for the caller. The admin-only ones check the admin key here too, so no
// path around the API's @admin directive can reach them.

// Reader is the read side of the store: single records for the caller
// methods below, and the batched lookups that the API's per-request
// loaders use for related records (a session's user, a user's roles).
// Those batched lookups are not authorized here: they resolve fields of
// records the caller was already allowed to see.
type Reader interface {
	Tenants(ctx context.Context) ([]model.Tenant, error)
	Tenant(ctx context.Context, id string) (model.Tenant, error)
	User(ctx context.Context, id string) (model.User, error)
	Users(ctx context.Context, f model.UserFilter) (model.UserPage, error)
	Membership(ctx context.Context, userID, tenantID string) (model.Membership, error)
	Roles(ctx context.Context) ([]model.Role, error)
	Permissions(ctx context.Context) ([]model.Permission, error)
	AdminPortal(ctx context.Context) (model.AdminPortal, error)
	AuditEntries(ctx context.Context, tenantID, beforeID string, limit int) ([]model.AuditEntry, bool, error)

	TenantsByIDs(ctx context.Context, ids []string) (map[string]model.Tenant, error)
	UsersByIDs(ctx context.Context, ids []string) (map[string]model.User, error)
	MembershipsByUserIDs(ctx context.Context, userIDs []string) (map[string][]model.Membership, error)
	RolesByMemberships(ctx context.Context, keys []model.MembershipKey) (map[model.MembershipKey][]model.Role, error)
	PermissionsByRoleIDs(ctx context.Context, roleIDs []string) (map[string][]model.Permission, error)
	RolesByPermissionIDs(ctx context.Context, permIDs []string) (map[string][]model.Role, error)
}

// Batch returns the batched lookups for related records (see Reader).
func (s *Service) Batch() Reader {
	if s == nil {
		return nil // a handler built without a directory (pages only)
	}
	return s.reader
}

// Tenants lists every tenant. Admin key only.
func (s *Service) Tenants(ctx context.Context, p auth.Principal) ([]model.Tenant, error) {
	if err := auth.RequireAdmin(p); err != nil {
		return nil, err
	}
	return s.reader.Tenants(ctx)
}

// Tenant returns one tenant. Admin key only.
func (s *Service) Tenant(ctx context.Context, p auth.Principal, id string) (model.Tenant, error) {
	if err := auth.RequireAdmin(p); err != nil {
		return model.Tenant{}, err
	}
	return s.reader.Tenant(ctx, id)
}

// Users lists a page of users the caller may see: the admin key any
// tenant's (or everyone, with no tenantID), a Users-permission holder its
// own tenant's members.
func (s *Service) Users(ctx context.Context, p auth.Principal, tenantID *string, f model.UserFilter) (model.UserPage, error) {
	scope, err := auth.FeatureScope(p, auth.ManageUsers, tenantID)
	if err != nil {
		return model.UserPage{}, err
	}
	f.TenantID = scope
	return s.reader.Users(ctx, f)
}

// User returns a user the caller may see; a user outside a permission
// holder's tenant is NOT_FOUND.
func (s *Service) User(ctx context.Context, p auth.Principal, id string) (model.User, error) {
	if err := auth.Require(p, auth.ManageUsers); err != nil {
		return model.User{}, err
	}
	if p.Kind == auth.User {
		if _, err := s.reader.Membership(ctx, id, p.TenantID); err != nil {
			return model.User{}, auth.NotFound("user", id)
		}
	}
	return s.reader.User(ctx, id)
}

// Roles lists the roles. Admin key only.
func (s *Service) Roles(ctx context.Context, p auth.Principal) ([]model.Role, error) {
	if err := auth.RequireAdmin(p); err != nil {
		return nil, err
	}
	return s.reader.Roles(ctx)
}

// Permissions lists the permissions. Admin key only.
func (s *Service) Permissions(ctx context.Context, p auth.Principal) ([]model.Permission, error) {
	if err := auth.RequireAdmin(p); err != nil {
		return nil, err
	}
	return s.reader.Permissions(ctx)
}

// AdminPortal returns the portal switches. Admin key only.
func (s *Service) AdminPortal(ctx context.Context, p auth.Principal) (model.AdminPortal, error) {
	if err := auth.RequireAdmin(p); err != nil {
		return model.AdminPortal{}, err
	}
	return s.reader.AdminPortal(ctx)
}

// AuditLog returns up to limit audit entries older than beforeID (newest
// first) that the caller may read: the admin key any tenant's or all,
// holders of fe.secure.delete.sessions their own tenant's. more says
// whether older entries remain.
func (s *Service) AuditLog(ctx context.Context, p auth.Principal, tenantID *string, beforeID string, limit int) (entries []model.AuditEntry, more bool, err error) {
	scope, err := auth.FeatureScope(p, auth.AuditTrail, tenantID)
	if err != nil {
		return nil, false, err
	}
	return s.reader.AuditEntries(ctx, scope, beforeID, limit)
}
