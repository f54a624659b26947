package db

import (
	"context"
	"database/sql"
	"errors"
	"sort"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/apperr"
)

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
