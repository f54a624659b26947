package db

import (
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/model"
)

type tenantRow struct {
	bun.BaseModel `bun:"table:tenants"`
	ID            string    `bun:"id,pk"`
	Name          string    `bun:"name,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
}

func (r *tenantRow) model() model.Tenant {
	return model.Tenant{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt.UTC()}
}

// userRow's alias is "u": DB.Users filters on u.* columns.
type userRow struct {
	bun.BaseModel `bun:"table:users,alias:u"`
	ID            string    `bun:"id,pk"`
	Email         string    `bun:"email,notnull"`
	EmailLower    string    `bun:"email_lower,notnull"`
	Name          string    `bun:"name,notnull"`
	PasswordHash  string    `bun:"password_hash,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
}

func (r *userRow) model() model.User {
	return model.User{ID: r.ID, Email: r.Email, Name: r.Name, PasswordHash: r.PasswordHash, CreatedAt: r.CreatedAt.UTC()}
}

type roleRow struct {
	bun.BaseModel `bun:"table:roles"`
	ID            string    `bun:"id,pk"`
	Key           string    `bun:"key,notnull"`
	Name          string    `bun:"name,notnull"`
	Description   string    `bun:"description,notnull"`
	IsDefault     bool      `bun:"is_default,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
}

func (r *roleRow) model() model.Role {
	return model.Role{ID: r.ID, Key: r.Key, Name: r.Name, Description: r.Description, IsDefault: r.IsDefault, CreatedAt: r.CreatedAt.UTC()}
}

type permissionRow struct {
	bun.BaseModel `bun:"table:permissions"`
	ID            string    `bun:"id,pk"`
	Key           string    `bun:"key,notnull"`
	Name          string    `bun:"name,notnull"`
	Description   string    `bun:"description,notnull"`
	Category      string    `bun:"category,notnull"`
	BuiltIn       bool      `bun:"built_in,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
}

func (r *permissionRow) model() model.Permission {
	return model.Permission{ID: r.ID, Key: r.Key, Name: r.Name, Description: r.Description, Category: r.Category, BuiltIn: r.BuiltIn, CreatedAt: r.CreatedAt.UTC()}
}

type rolePermissionRow struct {
	bun.BaseModel `bun:"table:role_permissions"`
	RoleID        string `bun:"role_id,pk"`
	PermissionID  string `bun:"permission_id,pk"`
}

type membershipRow struct {
	bun.BaseModel `bun:"table:memberships"`
	UserID        string    `bun:"user_id,pk"`
	TenantID      string    `bun:"tenant_id,pk"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
}

func (r *membershipRow) model() model.Membership {
	return model.Membership{UserID: r.UserID, TenantID: r.TenantID, CreatedAt: r.CreatedAt.UTC()}
}

type membershipRoleRow struct {
	bun.BaseModel `bun:"table:membership_roles"`
	UserID        string `bun:"user_id,pk"`
	TenantID      string `bun:"tenant_id,pk"`
	RoleID        string `bun:"role_id,pk"`
}

type adminPortalRow struct {
	bun.BaseModel      `bun:"table:admin_portal"`
	ID                 int        `bun:"id,pk"`
	PrivacyAndSecurity bool       `bun:"privacy_and_security,notnull"`
	Users              bool       `bun:"users,notnull"`
	Security           bool       `bun:"security,notnull"`
	UpdatedAt          *time.Time `bun:"updated_at"`
}

func (r *adminPortalRow) model() model.AdminPortal {
	p := model.AdminPortal{PrivacyAndSecurity: r.PrivacyAndSecurity, Users: r.Users, Security: r.Security}
	if r.UpdatedAt != nil {
		t := r.UpdatedAt.UTC()
		p.UpdatedAt = &t
	}
	return p
}

type adminKeyRow struct {
	bun.BaseModel `bun:"table:admin_keys"`
	ID            int       `bun:"id,pk"`
	KeyHash       string    `bun:"key_hash,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
}

type auditRow struct {
	bun.BaseModel `bun:"table:audit_log"`
	ID            string    `bun:"id,pk"`
	TenantID      *string   `bun:"tenant_id"`
	ActorKind     string    `bun:"actor_kind,notnull"`
	ActorID       string    `bun:"actor_id,notnull"`
	Action        string    `bun:"action,notnull"`
	TargetType    string    `bun:"target_type,notnull"`
	TargetID      string    `bun:"target_id,notnull"`
	Before        string    `bun:"before,notnull"`
	After         string    `bun:"after,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
}

func (r *auditRow) model() model.AuditEntry {
	e := model.AuditEntry{
		ID: r.ID, Actor: model.Actor{Kind: model.ActorKind(r.ActorKind), ID: r.ActorID},
		Action: r.Action, TargetType: r.TargetType, TargetID: r.TargetID,
		Before: r.Before, After: r.After, CreatedAt: r.CreatedAt.UTC(),
	}
	if r.TenantID != nil {
		e.TenantID = *r.TenantID
	}
	return e
}
