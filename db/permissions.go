package db

// Permissions: the permissions table, granting a permission to roles and
// removing it (role_permissions seen from the permission), and the
// permission's audit view.

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
)

// CreatePermission stores a permission. CONFLICT on a duplicate key.
func (d *DB) CreatePermission(ctx context.Context, actor model.Actor, p model.Permission) (model.Permission, error) {
	row := permissionRow{ID: newID(), Key: p.Key, Name: p.Name, Description: p.Description, Category: p.Category, CreatedAt: d.now()}
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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
	return d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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

// permissionAudit is what the audit trail records of a permission.
type permissionAudit struct {
	Key         string   `json:"key"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Category    string   `json:"category"`
	Roles       []string `json:"roles,omitempty"`
}

func permissionAuditOf(p *permissionRow, roles []string) permissionAudit {
	return permissionAudit{Key: p.Key, Name: p.Name, Description: p.Description, Category: p.Category, Roles: roles}
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

func roleKeysOfPermission(ctx context.Context, idb bun.IDB, permID string) ([]string, error) {
	var keys []string
	err := idb.NewSelect().TableExpr("role_permissions AS rp").Join("JOIN roles AS r ON r.id = rp.role_id").
		ColumnExpr("r.key").Where("rp.permission_id = ?", permID).OrderExpr("r.key").Scan(ctx, &keys)
	return nonNil(keys), err
}
