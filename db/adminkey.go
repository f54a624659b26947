package db

// The admin key: the hash of the environment owner's key (one row), its first
// storage and its rotation.

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/model"
)

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
	done, err := d.writeTurn(ctx)
	if err != nil {
		return false, err
	}
	defer done()
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
	return row.CreatedAt, d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&row).On("CONFLICT (id) DO UPDATE").Set("key_hash = EXCLUDED.key_hash, created_at = EXCLUDED.created_at").Exec(ctx); err != nil {
			return err
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: "admin_key.rotated", TargetType: "admin_key", TargetID: "admin"}, nil, nil)
	})
}

type adminKeyRow struct {
	bun.BaseModel `bun:"table:admin_keys"`
	ID            int       `bun:"id,pk"`
	KeyHash       string    `bun:"key_hash,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
}
