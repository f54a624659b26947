package db

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
)

// audit views: what the trail records of each target (never secrets).
type tenantAudit struct {
	Name string `json:"name"`
}
type userAudit struct {
	Email       string `json:"email"`
	Name        string `json:"name"`
	HasPassword bool   `json:"hasPassword"`
}
type membershipAudit struct {
	UserID   string   `json:"userId"`
	TenantID string   `json:"tenantId"`
	Roles    []string `json:"roles"`
}
type roleAudit struct {
	Key         string   `json:"key"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	IsDefault   bool     `json:"isDefault"`
	Permissions []string `json:"permissions,omitempty"`
}
type portalAudit struct {
	PrivacyAndSecurity bool `json:"privacyAndSecurity"`
	Users              bool `json:"users"`
	Security           bool `json:"security"`
}
type permissionAudit struct {
	Key         string   `json:"key"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Category    string   `json:"category"`
	Roles       []string `json:"roles,omitempty"`
}

// ---- tenants ----

// CreateTenant stores a new tenant.
func (d *DB) CreateTenant(ctx context.Context, actor model.Actor, name string) (model.Tenant, error) {
	row := tenantRow{ID: newID(), Name: name, CreatedAt: d.now()}
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return err
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{TenantID: row.ID, Actor: actor, Action: "tenant.created", TargetType: "tenant", TargetID: row.ID}, nil, tenantAudit{Name: name})
	})
	return row.model(), err
}

// UpdateTenant renames a tenant. NOT_FOUND when it does not exist.
func (d *DB) UpdateTenant(ctx context.Context, actor model.Actor, id string, name *string) (model.Tenant, error) {
	var row tenantRow
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
			return notFoundOr(err, "tenant %s not found", id)
		}
		before := tenantAudit{Name: row.Name}
		if name != nil {
			row.Name = *name
		}
		if _, err := tx.NewUpdate().Model(&row).Column("name").WherePK().Exec(ctx); err != nil {
			return err
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{TenantID: id, Actor: actor, Action: "tenant.updated", TargetType: "tenant", TargetID: id}, before, tenantAudit{Name: row.Name})
	})
	return row.model(), err
}

// DeleteTenant deletes a tenant, its memberships and policy. Its active
// sessions end with USER_REMOVED and stay on record; they are returned.
// NOT_FOUND when it does not exist.
func (d *DB) DeleteTenant(ctx context.Context, actor model.Actor, id string) ([]model.Session, error) {
	var ended []model.Session
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var row tenantRow
		if err := tx.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
			return notFoundOr(err, "tenant %s not found", id)
		}
		if err := d.lockMemberships(ctx, tx, "tenant_id = ?", id); err != nil {
			return err
		}
		var err error
		if ended, err = d.endUserRemoved(ctx, tx, actor, "tenant_id = ?", id); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*policyRow)(nil)).Where("scope = ?", id).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model(&row).WherePK().Exec(ctx); err != nil {
			return err
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{TenantID: id, Actor: actor, Action: "tenant.deleted", TargetType: "tenant", TargetID: id}, tenantAudit{Name: row.Name}, nil)
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// Tenants lists all tenants, oldest first.
func (d *DB) Tenants(ctx context.Context) ([]model.Tenant, error) {
	var rows []tenantRow
	if err := d.bun.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]model.Tenant, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// Tenant returns one tenant. NOT_FOUND when it does not exist.
func (d *DB) Tenant(ctx context.Context, id string) (model.Tenant, error) {
	var row tenantRow
	if err := d.bun.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		return model.Tenant{}, notFoundOr(err, "tenant %s not found", id)
	}
	return row.model(), nil
}

// TenantsByIDs returns the tenants that exist among ids, keyed by id.
func (d *DB) TenantsByIDs(ctx context.Context, ids []string) (map[string]model.Tenant, error) {
	var rows []tenantRow
	if err := d.bun.NewSelect().Model(&rows).Where("id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]model.Tenant, len(rows))
	for i := range rows {
		out[rows[i].ID] = rows[i].model()
	}
	return out, nil
}

// ---- users ----

// CreateUser stores a user and its first membership, atomically.
// CONFLICT on a duplicate email; NOT_FOUND for an unknown tenant or role.
func (d *DB) CreateUser(ctx context.Context, actor model.Actor, nu model.NewUser) (model.User, error) {
	row := userRow{ID: newID(), Email: nu.Email, EmailLower: strings.ToLower(nu.Email), Name: nu.Name, PasswordHash: nu.PasswordHash, CreatedAt: d.now()}
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := requireTenant(ctx, tx, nu.TenantID); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return conflictOr(err, "email", "a user with email %s already exists", nu.Email)
		}
		if err := d.writeAudit(ctx, tx, model.AuditEntry{TenantID: nu.TenantID, Actor: actor, Action: "user.created", TargetType: "user", TargetID: row.ID}, nil, userAudit{Email: row.Email, Name: row.Name, HasPassword: row.PasswordHash != ""}); err != nil {
			return err
		}
		_, err := d.setMembershipRoles(ctx, tx, actor, row.ID, nu.TenantID, nu.RoleKeys)
		return err
	})
	return row.model(), err
}

// UpdateUser changes a user. NOT_FOUND, or CONFLICT on a taken email.
func (d *DB) UpdateUser(ctx context.Context, actor model.Actor, id string, u model.UserUpdate) (model.User, error) {
	var row userRow
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
			return notFoundOr(err, "user %s not found", id)
		}
		before := userAudit{Email: row.Email, Name: row.Name, HasPassword: row.PasswordHash != ""}
		if u.Email != nil {
			row.Email, row.EmailLower = *u.Email, strings.ToLower(*u.Email)
		}
		if u.Name != nil {
			row.Name = *u.Name
		}
		if u.PasswordHash != nil {
			row.PasswordHash = *u.PasswordHash
		}
		if _, err := tx.NewUpdate().Model(&row).Column("email", "email_lower", "name", "password_hash").WherePK().Exec(ctx); err != nil {
			return conflictOr(err, "email", "a user with email %s already exists", row.Email)
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: "user.updated", TargetType: "user", TargetID: id}, before, userAudit{Email: row.Email, Name: row.Name, HasPassword: row.PasswordHash != ""})
	})
	return row.model(), err
}

// DeleteUser deletes a user and its memberships. Its active sessions end
// with USER_REMOVED and stay on record (so their tokens are told why);
// they are returned.
// NOT_FOUND when it does not exist.
func (d *DB) DeleteUser(ctx context.Context, actor model.Actor, id string) ([]model.Session, error) {
	var ended []model.Session
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var row userRow
		if err := tx.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
			return notFoundOr(err, "user %s not found", id)
		}
		// Lock the user's memberships first, so logins racing in finish
		// before the sessions to end are listed (see RemoveMembership).
		if err := d.lockMemberships(ctx, tx, "user_id = ?", id); err != nil {
			return err
		}
		var err error
		if ended, err = d.endUserRemoved(ctx, tx, actor, "user_id = ?", id); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model(&row).WherePK().Exec(ctx); err != nil {
			return err
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: "user.deleted", TargetType: "user", TargetID: id}, userAudit{Email: row.Email, Name: row.Name, HasPassword: row.PasswordHash != ""}, nil)
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// User returns one user. NOT_FOUND when it does not exist.
func (d *DB) User(ctx context.Context, id string) (model.User, error) {
	var row userRow
	if err := d.bun.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		return model.User{}, notFoundOr(err, "user %s not found", id)
	}
	return row.model(), nil
}

// UserByEmail finds a user by email, case-insensitively. NOT_FOUND when none.
func (d *DB) UserByEmail(ctx context.Context, email string) (model.User, error) {
	var row userRow
	if err := d.bun.NewSelect().Model(&row).Where("email_lower = ?", strings.ToLower(email)).Scan(ctx); err != nil {
		return model.User{}, notFoundOr(err, "no user with that email")
	}
	return row.model(), nil
}

// UsersByIDs returns the users that exist among ids, keyed by id.
func (d *DB) UsersByIDs(ctx context.Context, ids []string) (map[string]model.User, error) {
	var rows []userRow
	if err := d.bun.NewSelect().Model(&rows).Where("id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]model.User, len(rows))
	for i := range rows {
		out[rows[i].ID] = rows[i].model()
	}
	return out, nil
}

// Users lists users oldest first, one page at a time.
func (d *DB) Users(ctx context.Context, f model.UserFilter) (model.UserPage, error) {
	filter := func(q *bun.SelectQuery) *bun.SelectQuery {
		if f.TenantID != "" {
			q = q.Where("u.id IN (SELECT user_id FROM memberships WHERE tenant_id = ?)", f.TenantID)
		}
		if f.Search != "" {
			p := likePattern(f.Search)
			q = q.Where(`(u.email_lower LIKE ? ESCAPE '\' OR lower(u.name) LIKE ? ESCAPE '\')`, p, p)
		}
		return q
	}
	var page model.UserPage
	total, err := filter(d.bun.NewSelect().TableExpr("users AS u")).Count(ctx)
	if err != nil {
		return page, err
	}
	page.TotalCount = int(total)
	var rows []userRow
	q := filter(d.bun.NewSelect().Model(&rows))
	if f.AfterID != "" {
		q = q.Where("u.id > ?", f.AfterID)
	}
	if err := q.Order("u.id").Limit(int64(f.Limit + 1)).Scan(ctx); err != nil {
		return page, err
	}
	if len(rows) > f.Limit {
		page.HasNextPage = true
		rows = rows[:f.Limit]
	}
	page.Users = make([]model.User, len(rows))
	for i := range rows {
		page.Users[i] = rows[i].model()
	}
	return page, nil
}

// ---- memberships ----

// SetUserRoles replaces a user's roles in a tenant, adding the membership if
// missing. NOT_FOUND for an unknown user, tenant or role.
func (d *DB) SetUserRoles(ctx context.Context, actor model.Actor, userID, tenantID string, roleKeys []string) (model.Membership, error) {
	var m model.Membership
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := requireUser(ctx, tx, userID); err != nil {
			return err
		}
		if err := requireTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		var err error
		m, err = d.setMembershipRoles(ctx, tx, actor, userID, tenantID, roleKeys)
		return err
	})
	return m, err
}

// setMembershipRoles upserts the membership and replaces its roles; nil
// roleKeys means the default roles.
func (d *DB) setMembershipRoles(ctx context.Context, idb bun.IDB, actor model.Actor, userID, tenantID string, roleKeys []string) (model.Membership, error) {
	var roles []roleRow
	q := idb.NewSelect().Model(&roles)
	if roleKeys == nil {
		q = q.Where("is_default")
	} else {
		roleKeys = dedupe(roleKeys)
		if len(roleKeys) == 0 {
			q = q.Where("1 = 0")
		} else {
			q = q.Where("key IN (?)", bun.List(roleKeys))
		}
	}
	if err := q.Order("key").Scan(ctx); err != nil {
		return model.Membership{}, err
	}
	if roleKeys != nil && len(roles) != len(roleKeys) {
		return model.Membership{}, missingKeys("role", roleKeys, roleKeysOf(roles))
	}
	mem := membershipRow{UserID: userID, TenantID: tenantID, CreatedAt: d.now()}
	var existing membershipRow
	err := idb.NewSelect().Model(&existing).Where("user_id = ? AND tenant_id = ?", userID, tenantID).Scan(ctx)
	var before any
	switch {
	case err == nil:
		mem = existing
		var old []string
		if err := idb.NewSelect().TableExpr("membership_roles AS mr").Join("JOIN roles AS r ON r.id = mr.role_id").
			ColumnExpr("r.key").Where("mr.user_id = ? AND mr.tenant_id = ?", userID, tenantID).Order("r.key").Scan(ctx, &old); err != nil {
			return model.Membership{}, err
		}
		before = membershipAudit{UserID: userID, TenantID: tenantID, Roles: nonNil(old)}
	case errors.Is(err, sql.ErrNoRows):
		if _, err := idb.NewInsert().Model(&mem).Exec(ctx); err != nil {
			return model.Membership{}, err
		}
	default:
		return model.Membership{}, err
	}
	if _, err := idb.NewDelete().Model((*membershipRoleRow)(nil)).Where("user_id = ? AND tenant_id = ?", userID, tenantID).Exec(ctx); err != nil {
		return model.Membership{}, err
	}
	if len(roles) > 0 {
		links := make([]membershipRoleRow, len(roles))
		for i, r := range roles {
			links[i] = membershipRoleRow{UserID: userID, TenantID: tenantID, RoleID: r.ID}
		}
		if _, err := idb.NewInsert().Model(&links).Exec(ctx); err != nil {
			return model.Membership{}, err
		}
	}
	after := membershipAudit{UserID: userID, TenantID: tenantID, Roles: roleKeysOf(roles)}
	if err := d.writeAudit(ctx, idb, model.AuditEntry{TenantID: tenantID, Actor: actor, Action: "membership.roles_set", TargetType: "user", TargetID: userID}, before, after); err != nil {
		return model.Membership{}, err
	}
	return mem.model(), nil
}

// RemoveMembership removes a user from a tenant; the user's active
// sessions there end with USER_REMOVED and are returned. NOT_FOUND when the
// user is not a member.
func (d *DB) RemoveMembership(ctx context.Context, actor model.Actor, userID, tenantID string) ([]model.Session, error) {
	var ended []model.Session
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// Delete the membership first: its row lock makes a login racing in
		// on another connection finish (or fail) before the sessions to end
		// are listed, so no new session survives the removal.
		res, err := tx.NewDelete().Model((*membershipRow)(nil)).Where("user_id = ? AND tenant_id = ?", userID, tenantID).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Errorf(apperr.NotFound, "user %s is not a member of tenant %s", userID, tenantID)
		}
		if ended, err = d.endUserRemoved(ctx, tx, actor, "user_id = ? AND tenant_id = ?", userID, tenantID); err != nil {
			return err
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{TenantID: tenantID, Actor: actor, Action: "membership.removed", TargetType: "user", TargetID: userID}, membershipAudit{UserID: userID, TenantID: tenantID}, nil)
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// Membership returns one membership. NOT_FOUND when the user is not a member.
func (d *DB) Membership(ctx context.Context, userID, tenantID string) (model.Membership, error) {
	var row membershipRow
	if err := d.bun.NewSelect().Model(&row).Where("user_id = ? AND tenant_id = ?", userID, tenantID).Scan(ctx); err != nil {
		return model.Membership{}, notFoundOr(err, "user %s is not a member of tenant %s", userID, tenantID)
	}
	return row.model(), nil
}

// MembershipsByUserIDs returns each user's memberships, oldest first.
func (d *DB) MembershipsByUserIDs(ctx context.Context, userIDs []string) (map[string][]model.Membership, error) {
	var rows []membershipRow
	if err := d.bun.NewSelect().Model(&rows).Where("user_id IN (?)", bun.List(userIDs)).Order("created_at", "tenant_id").Scan(ctx); err != nil {
		return nil, err
	}
	out := make(map[string][]model.Membership, len(userIDs))
	for i := range rows {
		out[rows[i].UserID] = append(out[rows[i].UserID], rows[i].model())
	}
	return out, nil
}

// RolesByMemberships returns each membership's roles, sorted by key.
func (d *DB) RolesByMemberships(ctx context.Context, keys []model.MembershipKey) (map[model.MembershipKey][]model.Role, error) {
	out := make(map[model.MembershipKey][]model.Role, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	users := make([]string, 0, len(keys))
	for _, k := range keys {
		users = append(users, k.UserID)
	}
	var rows []struct {
		UserID   string `bun:"user_id"`
		TenantID string `bun:"tenant_id"`
		roleRow  `bun:"extend"`
	}
	err := d.bun.NewSelect().TableExpr("membership_roles AS mr").Join("JOIN roles AS r ON r.id = mr.role_id").
		ColumnExpr("mr.user_id, mr.tenant_id, r.*").Where("mr.user_id IN (?)", bun.List(dedupe(users))).
		OrderExpr("r.key").Scan(ctx, &rows)
	if err != nil {
		return nil, err
	}
	want := make(map[model.MembershipKey]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	for i := range rows {
		k := model.MembershipKey{UserID: rows[i].UserID, TenantID: rows[i].TenantID}
		if want[k] {
			out[k] = append(out[k], rows[i].roleRow.model())
		}
	}
	return out, nil
}

// ---- roles ----

// CreateRole stores a role. CONFLICT on a duplicate key.
func (d *DB) CreateRole(ctx context.Context, actor model.Actor, r model.Role) (model.Role, error) {
	row := roleRow{ID: newID(), Key: r.Key, Name: r.Name, Description: r.Description, IsDefault: r.IsDefault, CreatedAt: d.now()}
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return conflictOr(err, "key", "a role with key %s already exists", r.Key)
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: "role.created", TargetType: "role", TargetID: row.Key}, nil, roleAuditOf(&row, nil))
	})
	return row.model(), err
}

// UpdateRole changes a role. NOT_FOUND when it does not exist.
func (d *DB) UpdateRole(ctx context.Context, actor model.Actor, key string, u model.RoleUpdate) (model.Role, error) {
	var row roleRow
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(&row).Where("key = ?", key).Scan(ctx); err != nil {
			return notFoundOr(err, "role %s not found", key)
		}
		before := roleAuditOf(&row, nil)
		if u.Name != nil {
			row.Name = *u.Name
		}
		if u.Description != nil {
			row.Description = *u.Description
		}
		if u.IsDefault != nil {
			row.IsDefault = *u.IsDefault
		}
		if _, err := tx.NewUpdate().Model(&row).Column("name", "description", "is_default").WherePK().Exec(ctx); err != nil {
			return err
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: "role.updated", TargetType: "role", TargetID: key}, before, roleAuditOf(&row, nil))
	})
	return row.model(), err
}

// DeleteRole deletes a role; members lose it. NOT_FOUND when it does not exist.
func (d *DB) DeleteRole(ctx context.Context, actor model.Actor, key string) error {
	return d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var row roleRow
		if err := tx.NewSelect().Model(&row).Where("key = ?", key).Scan(ctx); err != nil {
			return notFoundOr(err, "role %s not found", key)
		}
		if _, err := tx.NewDelete().Model(&row).WherePK().Exec(ctx); err != nil {
			return err
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: "role.deleted", TargetType: "role", TargetID: key}, roleAuditOf(&row, nil), nil)
	})
}

// Roles lists all roles by key.
func (d *DB) Roles(ctx context.Context) ([]model.Role, error) {
	var rows []roleRow
	if err := d.bun.NewSelect().Model(&rows).Order("key").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]model.Role, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// Role returns one role by key. NOT_FOUND when it does not exist.
func (d *DB) Role(ctx context.Context, key string) (model.Role, error) {
	var row roleRow
	if err := d.bun.NewSelect().Model(&row).Where("key = ?", key).Scan(ctx); err != nil {
		return model.Role{}, notFoundOr(err, "role %s not found", key)
	}
	return row.model(), nil
}

// SetRolePermissions replaces the permissions a role holds.
// NOT_FOUND for an unknown role or permission key.
func (d *DB) SetRolePermissions(ctx context.Context, actor model.Actor, roleKey string, permKeys []string) (model.Role, error) {
	var role roleRow
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(&role).Where("key = ?", roleKey).Scan(ctx); err != nil {
			return notFoundOr(err, "role %s not found", roleKey)
		}
		perms, err := permissionsByKeys(ctx, tx, permKeys)
		if err != nil {
			return err
		}
		old, err := permissionKeysOfRole(ctx, tx, role.ID)
		if err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*rolePermissionRow)(nil)).Where("role_id = ?", role.ID).Exec(ctx); err != nil {
			return err
		}
		if len(perms) > 0 {
			links := make([]rolePermissionRow, len(perms))
			for i, p := range perms {
				links[i] = rolePermissionRow{RoleID: role.ID, PermissionID: p.ID}
			}
			if _, err := tx.NewInsert().Model(&links).Exec(ctx); err != nil {
				return err
			}
		}
		newKeys := make([]string, len(perms))
		for i, p := range perms {
			newKeys[i] = p.Key
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: "role.permissions_set", TargetType: "role", TargetID: roleKey}, roleAuditOf(&role, old), roleAuditOf(&role, newKeys))
	})
	return role.model(), err
}

// PermissionsByRoleIDs returns each role's permissions, sorted by key.
func (d *DB) PermissionsByRoleIDs(ctx context.Context, roleIDs []string) (map[string][]model.Permission, error) {
	var rows []struct {
		RoleID        string `bun:"role_id"`
		permissionRow `bun:"extend"`
	}
	err := d.bun.NewSelect().TableExpr("role_permissions AS rp").Join("JOIN permissions AS p ON p.id = rp.permission_id").
		ColumnExpr("rp.role_id, p.*").Where("rp.role_id IN (?)", bun.List(roleIDs)).OrderExpr("p.key").Scan(ctx, &rows)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]model.Permission, len(roleIDs))
	for i := range rows {
		out[rows[i].RoleID] = append(out[rows[i].RoleID], rows[i].permissionRow.model())
	}
	return out, nil
}

// RolesByPermissionIDs returns the roles holding each permission, by key.
func (d *DB) RolesByPermissionIDs(ctx context.Context, permIDs []string) (map[string][]model.Role, error) {
	var rows []struct {
		PermissionID string `bun:"permission_id"`
		roleRow      `bun:"extend"`
	}
	err := d.bun.NewSelect().TableExpr("role_permissions AS rp").Join("JOIN roles AS r ON r.id = rp.role_id").
		ColumnExpr("rp.permission_id, r.*").Where("rp.permission_id IN (?)", bun.List(permIDs)).OrderExpr("r.key").Scan(ctx, &rows)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]model.Role, len(permIDs))
	for i := range rows {
		out[rows[i].PermissionID] = append(out[rows[i].PermissionID], rows[i].roleRow.model())
	}
	return out, nil
}

// PermissionKeysForMembership returns the permission keys a user holds in a
// tenant through its roles, sorted and without duplicates.
func (d *DB) PermissionKeysForMembership(ctx context.Context, userID, tenantID string) ([]string, error) {
	var keys []string
	err := d.bun.NewSelect().TableExpr("membership_roles AS mr").
		Join("JOIN role_permissions AS rp ON rp.role_id = mr.role_id").
		Join("JOIN permissions AS p ON p.id = rp.permission_id").
		ColumnExpr("DISTINCT p.key").Where("mr.user_id = ? AND mr.tenant_id = ?", userID, tenantID).
		OrderExpr("p.key").Scan(ctx, &keys)
	return nonNil(keys), err
}

// ---- permissions ----

// CreatePermission stores a permission. CONFLICT on a duplicate key.
func (d *DB) CreatePermission(ctx context.Context, actor model.Actor, p model.Permission) (model.Permission, error) {
	row := permissionRow{ID: newID(), Key: p.Key, Name: p.Name, Description: p.Description, Category: p.Category, CreatedAt: d.now()}
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return conflictOr(err, "key", "a permission with key %s already exists", p.Key)
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: "permission.created", TargetType: "permission", TargetID: row.Key}, nil, permissionAuditOf(&row, nil))
	})
	return row.model(), err
}

// UpdatePermission changes a permission's name, description or category.
func (d *DB) UpdatePermission(ctx context.Context, actor model.Actor, key string, u model.PermissionUpdate) (model.Permission, error) {
	var row permissionRow
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(&row).Where("key = ?", key).Scan(ctx); err != nil {
			return notFoundOr(err, "permission %s not found", key)
		}
		before := permissionAuditOf(&row, nil)
		if u.Name != nil {
			row.Name = *u.Name
		}
		if u.Description != nil {
			row.Description = *u.Description
		}
		if u.Category != nil {
			row.Category = *u.Category
		}
		if _, err := tx.NewUpdate().Model(&row).Column("name", "description", "category").WherePK().Exec(ctx); err != nil {
			return err
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: "permission.updated", TargetType: "permission", TargetID: key}, before, permissionAuditOf(&row, nil))
	})
	return row.model(), err
}

// DeletePermission deletes a permission that is not built in.
// NOT_FOUND when it does not exist; BAD_USER_INPUT for a built-in one.
func (d *DB) DeletePermission(ctx context.Context, actor model.Actor, key string) error {
	return d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var row permissionRow
		if err := tx.NewSelect().Model(&row).Where("key = ?", key).Scan(ctx); err != nil {
			return notFoundOr(err, "permission %s not found", key)
		}
		if row.BuiltIn {
			return apperr.Invalid("key", "permission %s is built in and cannot be deleted", key)
		}
		if _, err := tx.NewDelete().Model(&row).WherePK().Exec(ctx); err != nil {
			return err
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: "permission.deleted", TargetType: "permission", TargetID: key}, permissionAuditOf(&row, nil), nil)
	})
}

// Permissions lists all permissions by key.
func (d *DB) Permissions(ctx context.Context) ([]model.Permission, error) {
	var rows []permissionRow
	if err := d.bun.NewSelect().Model(&rows).Order("key").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]model.Permission, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// Permission returns one permission by key. NOT_FOUND when it does not exist.
func (d *DB) Permission(ctx context.Context, key string) (model.Permission, error) {
	var row permissionRow
	if err := d.bun.NewSelect().Model(&row).Where("key = ?", key).Scan(ctx); err != nil {
		return model.Permission{}, notFoundOr(err, "permission %s not found", key)
	}
	return row.model(), nil
}

// GrantPermission adds (grant) or removes (!grant) the permission on roles.
// NOT_FOUND for an unknown permission or role key.
func (d *DB) GrantPermission(ctx context.Context, actor model.Actor, permKey string, roleKeys []string, grant bool) (model.Permission, error) {
	var perm permissionRow
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(&perm).Where("key = ?", permKey).Scan(ctx); err != nil {
			return notFoundOr(err, "permission %s not found", permKey)
		}
		roleKeys = dedupe(roleKeys)
		var roles []roleRow
		if len(roleKeys) > 0 {
			if err := tx.NewSelect().Model(&roles).Where("key IN (?)", bun.List(roleKeys)).Scan(ctx); err != nil {
				return err
			}
		}
		if len(roles) != len(roleKeys) {
			return missingKeys("role", roleKeys, roleKeysOf(roles))
		}
		before, err := roleKeysOfPermission(ctx, tx, perm.ID)
		if err != nil {
			return err
		}
		for _, r := range roles {
			link := rolePermissionRow{RoleID: r.ID, PermissionID: perm.ID}
			if grant {
				_, err = tx.NewInsert().Model(&link).On("CONFLICT DO NOTHING").Exec(ctx)
			} else {
				_, err = tx.NewDelete().Model(&link).WherePK().Exec(ctx)
			}
			if err != nil {
				return err
			}
		}
		after, err := roleKeysOfPermission(ctx, tx, perm.ID)
		if err != nil {
			return err
		}
		action := "permission.roles_assigned"
		if !grant {
			action = "permission.roles_removed"
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: action, TargetType: "permission", TargetID: permKey}, permissionAuditOf(&perm, before), permissionAuditOf(&perm, after))
	})
	return perm.model(), err
}

// ---- portal ----

// AdminPortal returns the portal switches.
func (d *DB) AdminPortal(ctx context.Context) (model.AdminPortal, error) {
	var row adminPortalRow
	if err := d.bun.NewSelect().Model(&row).Where("id = 1").Scan(ctx); err != nil {
		return model.AdminPortal{}, err
	}
	return row.model(), nil
}

// UpdateAdminPortal changes the portal switches.
func (d *DB) UpdateAdminPortal(ctx context.Context, actor model.Actor, u model.PortalUpdate) (model.AdminPortal, error) {
	var row adminPortalRow
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(&row).Where("id = 1").Scan(ctx); err != nil {
			return err
		}
		before := portalAudit{row.PrivacyAndSecurity, row.Users, row.Security}
		if u.PrivacyAndSecurity != nil {
			row.PrivacyAndSecurity = *u.PrivacyAndSecurity
		}
		if u.Users != nil {
			row.Users = *u.Users
		}
		if u.Security != nil {
			row.Security = *u.Security
		}
		now := d.now()
		row.UpdatedAt = &now
		if _, err := tx.NewUpdate().Model(&row).WherePK().Exec(ctx); err != nil {
			return err
		}
		after := portalAudit{row.PrivacyAndSecurity, row.Users, row.Security}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: "portal.updated", TargetType: "portal", TargetID: "adminPortal"}, before, after)
	})
	return row.model(), err
}

// ---- admin key ----

// AdminKeyHash returns the stored admin key hash; ok is false before the first one.
func (d *DB) AdminKeyHash(ctx context.Context) (hash string, ok bool, err error) {
	var row adminKeyRow
	err = d.bun.NewSelect().Model(&row).Where("id = 1").Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return row.KeyHash, true, nil
}

// InitAdminKeyHash stores the first admin key hash; it reports false and
// changes nothing when a key exists already (another process won the race).
func (d *DB) InitAdminKeyHash(ctx context.Context, hash string) (bool, error) {
	row := adminKeyRow{ID: 1, KeyHash: hash, CreatedAt: d.now()}
	res, err := d.bun.NewInsert().Model(&row).On("CONFLICT DO NOTHING").Exec(ctx)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReplaceAdminKeyHash stores a new admin key hash, replacing the old one.
func (d *DB) ReplaceAdminKeyHash(ctx context.Context, actor model.Actor, hash string) (time.Time, error) {
	row := adminKeyRow{ID: 1, KeyHash: hash, CreatedAt: d.now()}
	return row.CreatedAt, d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&row).On("CONFLICT (id) DO UPDATE").Set("key_hash = EXCLUDED.key_hash, created_at = EXCLUDED.created_at").Exec(ctx); err != nil {
			return err
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: "admin_key.rotated", TargetType: "admin_key", TargetID: "admin"}, nil, nil)
	})
}

// ---- helpers composing inside a transaction ----

// lockMemberships takes the row locks of the matching memberships on
// PostgreSQL, where session creation locks its membership row too; SQLite
// serialises write transactions already.
func (d *DB) lockMemberships(ctx context.Context, idb bun.IDB, where string, args ...any) error {
	if d.dialect != Postgres {
		return nil
	}
	var keys []string
	err := idb.NewSelect().Model((*membershipRow)(nil)).Column("user_id").Where(where, args...).For("UPDATE").Scan(ctx, &keys)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return err
}

func requireTenant(ctx context.Context, idb bun.IDB, id string) error {
	ok, err := idb.NewSelect().Model((*tenantRow)(nil)).Where("id = ?", id).Exists(ctx)
	if err != nil {
		return err
	}
	if !ok {
		e := apperr.Errorf(apperr.NotFound, "tenant %s not found", id)
		e.Field = "tenantId"
		return e
	}
	return nil
}

func requireUser(ctx context.Context, idb bun.IDB, id string) error {
	ok, err := idb.NewSelect().Model((*userRow)(nil)).Where("id = ?", id).Exists(ctx)
	if err != nil {
		return err
	}
	if !ok {
		e := apperr.Errorf(apperr.NotFound, "user %s not found", id)
		e.Field = "userId"
		return e
	}
	return nil
}

func permissionsByKeys(ctx context.Context, idb bun.IDB, keys []string) ([]permissionRow, error) {
	keys = dedupe(keys)
	var rows []permissionRow
	if len(keys) == 0 {
		return rows, nil
	}
	if err := idb.NewSelect().Model(&rows).Where("key IN (?)", bun.List(keys)).Order("key").Scan(ctx); err != nil {
		return nil, err
	}
	if len(rows) != len(keys) {
		got := make([]string, len(rows))
		for i, r := range rows {
			got[i] = r.Key
		}
		return nil, missingKeys("permission", keys, got)
	}
	return rows, nil
}

func permissionKeysOfRole(ctx context.Context, idb bun.IDB, roleID string) ([]string, error) {
	var keys []string
	err := idb.NewSelect().TableExpr("role_permissions AS rp").Join("JOIN permissions AS p ON p.id = rp.permission_id").
		ColumnExpr("p.key").Where("rp.role_id = ?", roleID).OrderExpr("p.key").Scan(ctx, &keys)
	return nonNil(keys), err
}

func roleKeysOfPermission(ctx context.Context, idb bun.IDB, permID string) ([]string, error) {
	var keys []string
	err := idb.NewSelect().TableExpr("role_permissions AS rp").Join("JOIN roles AS r ON r.id = rp.role_id").
		ColumnExpr("r.key").Where("rp.permission_id = ?", permID).OrderExpr("r.key").Scan(ctx, &keys)
	return nonNil(keys), err
}

func roleAuditOf(r *roleRow, perms []string) roleAudit {
	return roleAudit{Key: r.Key, Name: r.Name, Description: r.Description, IsDefault: r.IsDefault, Permissions: perms}
}

func permissionAuditOf(p *permissionRow, roles []string) permissionAudit {
	return permissionAudit{Key: p.Key, Name: p.Name, Description: p.Description, Category: p.Category, Roles: roles}
}

func roleKeysOf(roles []roleRow) []string {
	keys := make([]string, len(roles))
	for i, r := range roles {
		keys[i] = r.Key
	}
	return keys
}

// missingKeys names the first wanted key that was not found.
func missingKeys(kind string, want, got []string) error {
	have := make(map[string]bool, len(got))
	for _, k := range got {
		have[k] = true
	}
	for _, k := range want {
		if !have[k] {
			return apperr.Errorf(apperr.NotFound, "%s %s not found", kind, k)
		}
	}
	return apperr.Errorf(apperr.NotFound, "%s not found", kind)
}

func dedupe(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
