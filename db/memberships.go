package db

// Memberships: a user's place in a tenant and the roles held there
// (memberships and membership_roles tables), their audit view, and the
// membership row locks that order removals against logins.

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
)

// SetUserRoles replaces a user's roles in a tenant, adding the membership if
// missing. NOT_FOUND for an unknown user, tenant or role.
func (d *DB) SetUserRoles(ctx context.Context, actor model.Actor, userID, tenantID string, roleKeys []string) (model.Membership, error) {
	var m model.Membership
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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
// sessions there end with USER_REMOVED (those overdue by overdueBy with
// their deadline's reason, see EndSessions) and are returned. NOT_FOUND
// when the user is not a member.
func (d *DB) RemoveMembership(ctx context.Context, actor model.Actor, userID, tenantID string, overdueBy time.Time) ([]model.Session, error) {
	var ended []model.Session
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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
		if ended, err = d.endUserRemoved(ctx, tx, actor, overdueBy, "user_id = ? AND tenant_id = ?", userID, tenantID); err != nil {
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

// membershipAudit is what the audit trail records of a membership.
type membershipAudit struct {
	UserID   string   `json:"userId"`
	TenantID string   `json:"tenantId"`
	Roles    []string `json:"roles"`
}

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
