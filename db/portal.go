package db

// The portal switches (one admin_portal row) and their audit view.

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/model"
)

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
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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

// portalAudit is what the audit trail records of the portal switches.
type portalAudit struct {
	PrivacyAndSecurity bool `json:"privacyAndSecurity"`
	Users              bool `json:"users"`
	Security           bool `json:"security"`
}
