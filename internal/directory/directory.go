// Package directory manages the environment's entitlements: tenants, users
// and their memberships, roles, permissions and the portal switches. It
// validates input and hashes passwords; the store persists and audits.
package directory

import (
	"context"
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/secret"
)

// Store is the persistence the directory needs.
type Store interface {
	CreateTenant(ctx context.Context, actor model.Actor, name string) (model.Tenant, error)
	UpdateTenant(ctx context.Context, actor model.Actor, id string, name *string) (model.Tenant, error)
	// DeleteTenant, DeleteUser and RemoveMembership end the sessions
	// they take away with USER_REMOVED, except those whose deadline is at
	// or before overdueBy: over already, they end at their deadline with
	// its reason.
	DeleteTenant(ctx context.Context, actor model.Actor, id string, overdueBy time.Time) ([]model.Session, error)
	CreateUser(ctx context.Context, actor model.Actor, nu model.NewUser) (model.User, error)
	UpdateUser(ctx context.Context, actor model.Actor, id string, u model.UserUpdate) (model.User, error)
	DeleteUser(ctx context.Context, actor model.Actor, id string, overdueBy time.Time) ([]model.Session, error)
	RemoveMembership(ctx context.Context, actor model.Actor, userID, tenantID string, overdueBy time.Time) ([]model.Session, error)
	SetUserRoles(ctx context.Context, actor model.Actor, userID, tenantID string, roleKeys []string) (model.Membership, error)
	CreateRole(ctx context.Context, actor model.Actor, r model.Role) (model.Role, error)
	UpdateRole(ctx context.Context, actor model.Actor, key string, u model.RoleUpdate) (model.Role, error)
	DeleteRole(ctx context.Context, actor model.Actor, key string) error
	SetRolePermissions(ctx context.Context, actor model.Actor, roleKey string, permKeys []string) (model.Role, error)
	CreatePermission(ctx context.Context, actor model.Actor, p model.Permission) (model.Permission, error)
	UpdatePermission(ctx context.Context, actor model.Actor, key string, u model.PermissionUpdate) (model.Permission, error)
	DeletePermission(ctx context.Context, actor model.Actor, key string) error
	GrantPermission(ctx context.Context, actor model.Actor, permKey string, roleKeys []string, grant bool) (model.Permission, error)
	UpdateAdminPortal(ctx context.Context, actor model.Actor, u model.PortalUpdate) (model.AdminPortal, error)
}

// Notifier is the session service: it says which stored deadlines mean a
// session is over already (OverdueBy, writing pending activity first), and
// is told of sessions that a directory change ended (removed users lose
// their sessions with USER_REMOVED), after the commit.
type Notifier interface {
	OverdueBy(ctx context.Context) (time.Time, error)
	Ended(ctx context.Context, ended []model.Session)
}

// Publisher is the event bus, told of every committed directory change so
// that cached entitlements (internal/auth) drop what the change touched on
// every instance.
type Publisher interface {
	Publish(ctx context.Context, evs ...events.Event) error
}

// Service validates and applies changes to the directory.
type Service struct {
	store    Store
	reader   Reader
	notifier Notifier
	bus      Publisher
	log      *slog.Logger
}

// New returns a directory service over the store.
func New(store interface {
	Store
	Reader
}, n Notifier, bus Publisher, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, reader: store, notifier: n, bus: bus, log: log}
}

// changed publishes what a committed change touched (see events.Change);
// failed changes publish nothing.
func (s *Service) changed(ctx context.Context, err error, ch events.Change) {
	if err != nil {
		return
	}
	if perr := s.bus.Publish(ctx, events.Event{Kind: events.EntitlementsChanged, Change: ch}); perr != nil {
		s.log.ErrorContext(ctx, "publish entitlement change", "err", perr)
	}
}

// everything is the reach of changes to roles, permissions and switches.
var everything = events.Change{}

// Limits on input, so that no field grows without bound.
const (
	MinPasswordLength = 8
	maxPasswordBytes  = 1024
	maxNameLength     = 200
	maxTextLength     = 2000
	maxEmailLength    = 254
)

var keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._*-]{0,99}$`)

// CreateTenant creates a tenant. BAD_USER_INPUT for an empty name.
func (s *Service) CreateTenant(ctx context.Context, actor model.Actor, name string) (model.Tenant, error) {
	name, err := cleanName("name", name)
	if err != nil {
		return model.Tenant{}, err
	}
	return s.store.CreateTenant(ctx, actor, name)
}

// UpdateTenant renames a tenant.
func (s *Service) UpdateTenant(ctx context.Context, actor model.Actor, id string, name *string) (model.Tenant, error) {
	if name != nil {
		n, err := cleanName("name", *name)
		if err != nil {
			return model.Tenant{}, err
		}
		name = &n
	}
	v, err := s.store.UpdateTenant(ctx, actor, id, name)
	s.changed(ctx, err, events.Change{TenantID: id})
	return v, err
}

// DeleteTenant deletes a tenant and its memberships.
func (s *Service) DeleteTenant(ctx context.Context, actor model.Actor, id string) error {
	by, err := s.notifier.OverdueBy(ctx)
	if err != nil {
		return err
	}
	ended, err := s.store.DeleteTenant(ctx, actor, id, by)
	s.notifier.Ended(ctx, ended)
	s.changed(ctx, err, events.Change{TenantID: id})
	return err
}

// DeleteUser deletes a user and all memberships.
func (s *Service) DeleteUser(ctx context.Context, actor model.Actor, id string) error {
	by, err := s.notifier.OverdueBy(ctx)
	if err != nil {
		return err
	}
	ended, err := s.store.DeleteUser(ctx, actor, id, by)
	s.notifier.Ended(ctx, ended)
	s.changed(ctx, err, events.Change{UserID: id})
	return err
}

// RemoveUserFromTenant ends a user's membership of a tenant.
func (s *Service) RemoveUserFromTenant(ctx context.Context, actor model.Actor, userID, tenantID string) error {
	by, err := s.notifier.OverdueBy(ctx)
	if err != nil {
		return err
	}
	ended, err := s.store.RemoveMembership(ctx, actor, userID, tenantID, by)
	s.notifier.Ended(ctx, ended)
	s.changed(ctx, err, events.Change{UserID: userID, TenantID: tenantID})
	return err
}

// CreateUserInput is what a new user is made of.
type CreateUserInput struct {
	Email, Name string
	Password    *string
	TenantID    string
	// RoleKeys nil means the default roles.
	RoleKeys []string
}

// CreateUser validates and creates a user with its first membership.
// BAD_USER_INPUT for a malformed email, empty name, short password or bad
// role key; CONFLICT for a taken email; NOT_FOUND for an unknown tenant or role.
func (s *Service) CreateUser(ctx context.Context, actor model.Actor, in CreateUserInput) (model.User, error) {
	email, err := cleanEmail("email", in.Email)
	if err != nil {
		return model.User{}, err
	}
	name, err := cleanName("name", in.Name)
	if err != nil {
		return model.User{}, err
	}
	if err := checkKeys("roleKeys", in.RoleKeys); err != nil {
		return model.User{}, err
	}
	var hash string
	if in.Password != nil {
		if hash, err = hashPassword("password", *in.Password); err != nil {
			return model.User{}, err
		}
	}
	return s.store.CreateUser(ctx, actor, model.NewUser{Email: email, Name: name, PasswordHash: hash, TenantID: in.TenantID, RoleKeys: in.RoleKeys})
}

// UpdateUserInput holds the fields to change; nil leaves a field as is.
type UpdateUserInput struct {
	Email, Name, Password *string
}

// UpdateUser validates and applies changes to a user.
func (s *Service) UpdateUser(ctx context.Context, actor model.Actor, id string, in UpdateUserInput) (model.User, error) {
	var u model.UserUpdate
	if in.Email != nil {
		e, err := cleanEmail("email", *in.Email)
		if err != nil {
			return model.User{}, err
		}
		u.Email = &e
	}
	if in.Name != nil {
		n, err := cleanName("name", *in.Name)
		if err != nil {
			return model.User{}, err
		}
		u.Name = &n
	}
	if in.Password != nil {
		h, err := hashPassword("password", *in.Password)
		if err != nil {
			return model.User{}, err
		}
		u.PasswordHash = &h
	}
	v, err := s.store.UpdateUser(ctx, actor, id, u)
	s.changed(ctx, err, events.Change{UserID: id})
	return v, err
}

// SetUserRoles replaces a user's roles in a tenant.
func (s *Service) SetUserRoles(ctx context.Context, actor model.Actor, userID, tenantID string, roleKeys []string) (model.Membership, error) {
	if err := checkKeys("roleKeys", roleKeys); err != nil {
		return model.Membership{}, err
	}
	if roleKeys == nil {
		roleKeys = []string{}
	}
	v, err := s.store.SetUserRoles(ctx, actor, userID, tenantID, roleKeys)
	s.changed(ctx, err, events.Change{UserID: userID, TenantID: tenantID})
	return v, err
}

// CreateRole validates and creates a role.
func (s *Service) CreateRole(ctx context.Context, actor model.Actor, r model.Role) (model.Role, error) {
	if err := checkKey("key", r.Key); err != nil {
		return model.Role{}, err
	}
	var err error
	if r.Name, err = cleanName("name", r.Name); err != nil {
		return model.Role{}, err
	}
	if err := checkText("description", r.Description); err != nil {
		return model.Role{}, err
	}
	return s.store.CreateRole(ctx, actor, r)
}

// UpdateRole validates and applies changes to a role.
func (s *Service) UpdateRole(ctx context.Context, actor model.Actor, key string, u model.RoleUpdate) (model.Role, error) {
	if u.Name != nil {
		n, err := cleanName("name", *u.Name)
		if err != nil {
			return model.Role{}, err
		}
		u.Name = &n
	}
	if u.Description != nil {
		if err := checkText("description", *u.Description); err != nil {
			return model.Role{}, err
		}
	}
	v, err := s.store.UpdateRole(ctx, actor, key, u)
	s.changed(ctx, err, everything)
	return v, err
}

// DeleteRole deletes a role.
func (s *Service) DeleteRole(ctx context.Context, actor model.Actor, key string) error {
	err := s.store.DeleteRole(ctx, actor, key)
	s.changed(ctx, err, everything)
	return err
}

// SetRolePermissions replaces the permissions a role holds.
func (s *Service) SetRolePermissions(ctx context.Context, actor model.Actor, roleKey string, permKeys []string) (model.Role, error) {
	if err := checkKeys("permissionKeys", permKeys); err != nil {
		return model.Role{}, err
	}
	v, err := s.store.SetRolePermissions(ctx, actor, roleKey, permKeys)
	s.changed(ctx, err, everything)
	return v, err
}

// CreatePermission validates and creates a permission.
func (s *Service) CreatePermission(ctx context.Context, actor model.Actor, p model.Permission) (model.Permission, error) {
	if err := checkKey("key", p.Key); err != nil {
		return model.Permission{}, err
	}
	var err error
	if p.Name, err = cleanName("name", p.Name); err != nil {
		return model.Permission{}, err
	}
	if err := checkText("description", p.Description); err != nil {
		return model.Permission{}, err
	}
	if err := checkText("category", p.Category); err != nil {
		return model.Permission{}, err
	}
	p.BuiltIn = false
	return s.store.CreatePermission(ctx, actor, p)
}

// UpdatePermission validates and applies changes to a permission.
func (s *Service) UpdatePermission(ctx context.Context, actor model.Actor, key string, u model.PermissionUpdate) (model.Permission, error) {
	if u.Name != nil {
		n, err := cleanName("name", *u.Name)
		if err != nil {
			return model.Permission{}, err
		}
		u.Name = &n
	}
	for field, v := range map[string]*string{"description": u.Description, "category": u.Category} {
		if v != nil {
			if err := checkText(field, *v); err != nil {
				return model.Permission{}, err
			}
		}
	}
	v, err := s.store.UpdatePermission(ctx, actor, key, u)
	s.changed(ctx, err, everything)
	return v, err
}

// DeletePermission deletes a permission; built-in ones are refused.
func (s *Service) DeletePermission(ctx context.Context, actor model.Actor, key string) error {
	err := s.store.DeletePermission(ctx, actor, key)
	s.changed(ctx, err, everything)
	return err
}

// GrantPermission assigns the permission to roles, or removes it when grant is false.
func (s *Service) GrantPermission(ctx context.Context, actor model.Actor, permKey string, roleKeys []string, grant bool) (model.Permission, error) {
	if err := checkKeys("roleKeys", roleKeys); err != nil {
		return model.Permission{}, err
	}
	v, err := s.store.GrantPermission(ctx, actor, permKey, roleKeys, grant)
	s.changed(ctx, err, everything)
	return v, err
}

// UpdateAdminPortal changes the portal switches.
func (s *Service) UpdateAdminPortal(ctx context.Context, actor model.Actor, u model.PortalUpdate) (model.AdminPortal, error) {
	v, err := s.store.UpdateAdminPortal(ctx, actor, u)
	s.changed(ctx, err, everything)
	return v, err
}

func cleanName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", apperr.Invalid(field, "%s must not be empty", field)
	case !utf8.ValidString(s):
		return "", apperr.Invalid(field, "%s must be valid UTF-8", field)
	case utf8.RuneCountInString(s) > maxNameLength:
		return "", apperr.Invalid(field, "%s must be at most %d characters", field, maxNameLength)
	}
	return s, nil
}

func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return apperr.Invalid(field, "%s must be valid UTF-8", field)
	}
	if utf8.RuneCountInString(s) > maxTextLength {
		return apperr.Invalid(field, "%s must be at most %d characters", field, maxTextLength)
	}
	return nil
}

func cleanEmail(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxEmailLength {
		return "", apperr.Invalid(field, "email must be an address like name@example.com")
	}
	a, err := mail.ParseAddress(s)
	// Reject display-name forms ("Ann <ann@x>"): the field holds an address only.
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", apperr.Invalid(field, "email %q is not an address like name@example.com", s)
	}
	return s, nil
}

func checkKey(field, key string) error {
	if !keyPattern.MatchString(key) {
		return apperr.Invalid(field, "key %q must match %s (lowercase letters, digits, '.', '_', '*', '-')", key, keyPattern.String())
	}
	return nil
}

func checkKeys(field string, keys []string) error {
	for _, k := range keys {
		if err := checkKey(field, k); err != nil {
			return err
		}
	}
	return nil
}

func hashPassword(field, pw string) (string, error) {
	if utf8.RuneCountInString(pw) < MinPasswordLength {
		return "", apperr.Invalid(field, "password must be at least %d characters", MinPasswordLength)
	}
	if len(pw) > maxPasswordBytes {
		return "", apperr.Invalid(field, "password must be at most %d bytes", maxPasswordBytes)
	}
	return secret.HashPassword(pw)
}
