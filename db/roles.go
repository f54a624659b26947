package db

// Roles: the roles table, the permissions a role holds (role_permissions),
// and the role's audit view.

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/model"
)

// CreateRole stores a role. CONFLICT on a duplicate key.
func (d *DB) CreateRole(ctx context.Context, actor model.Actor, r model.Role) (model.Role, error) {
	row := roleRow{ID: newID(), Key: r.Key, Name: r.Name, Description: r.Description, IsDefault: r.IsDefault, CreatedAt: d.now()}
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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
	return d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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

type rolePermissionRow struct {
	bun.BaseModel `bun:"table:role_permissions"`
	RoleID        string `bun:"role_id,pk"`
	PermissionID  string `bun:"permission_id,pk"`
}

// roleAudit is what the audit trail records of a role.
type roleAudit struct {
	Key         string   `json:"key"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	IsDefault   bool     `json:"isDefault"`
	Permissions []string `json:"permissions,omitempty"`
}

func roleAuditOf(r *roleRow, perms []string) roleAudit {
	return roleAudit{Key: r.Key, Name: r.Name, Description: r.Description, IsDefault: r.IsDefault, Permissions: perms}
}

func permissionKeysOfRole(ctx context.Context, idb bun.IDB, roleID string) ([]string, error) {
	var keys []string
	err := idb.NewSelect().TableExpr("role_permissions AS rp").Join("JOIN permissions AS p ON p.id = rp.permission_id").
		ColumnExpr("p.key").Where("rp.role_id = ?", roleID).OrderExpr("p.key").Scan(ctx, &keys)
	return nonNil(keys), err
}

func roleKeysOf(roles []roleRow) []string {
	keys := make([]string, len(roles))
	for i, r := range roles {
		keys[i] = r.Key
	}
	return keys
}
