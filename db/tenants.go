package db

// Tenants: the tenants table, deleting a tenant (which ends its sessions
// with USER_REMOVED), and the tenant's audit view.

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
)

// CreateTenant stores a new tenant.
func (d *DB) CreateTenant(ctx context.Context, actor model.Actor, name string) (model.Tenant, error) {
	row := tenantRow{ID: newID(), Name: name, CreatedAt: d.now()}
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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
// sessions end with USER_REMOVED (those overdue by overdueBy with their
// deadline's reason) and stay on record; they are returned. NOT_FOUND when
// it does not exist.
func (d *DB) DeleteTenant(ctx context.Context, actor model.Actor, id string, overdueBy time.Time) ([]model.Session, error) {
	var ended []model.Session
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var row tenantRow
		if err := tx.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
			return notFoundOr(err, "tenant %s not found", id)
		}
		if err := d.lockMemberships(ctx, tx, "tenant_id = ?", id); err != nil {
			return err
		}
		var err error
		if ended, err = d.endUserRemoved(ctx, tx, actor, overdueBy, "tenant_id = ?", id); err != nil {
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

type tenantRow struct {
	bun.BaseModel `bun:"table:tenants"`
	ID            string    `bun:"id,pk"`
	Name          string    `bun:"name,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
}

func (r *tenantRow) model() model.Tenant {
	return model.Tenant{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt.UTC()}
}

// tenantAudit is what the audit trail records of a tenant.
type tenantAudit struct {
	Name string `json:"name"`
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
