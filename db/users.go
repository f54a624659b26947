package db

// Users: the users table, lookups by email (case-insensitive) and the
// searchable user list, deleting a user (which ends its sessions with
// USER_REMOVED), and the user's audit view.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/text/cases"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
)

// CreateUser stores a user and its first membership, atomically.
// CONFLICT on a duplicate email; NOT_FOUND for an unknown tenant or role.
func (d *DB) CreateUser(ctx context.Context, actor model.Actor, nu model.NewUser) (model.User, error) {
	row := userRow{ID: newID(), Email: nu.Email, EmailLower: strings.ToLower(nu.Email), Name: nu.Name, PasswordHash: nu.PasswordHash, CreatedAt: d.now()}
	row.fold()
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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
		row.fold()
		if _, err := tx.NewUpdate().Model(&row).Column("email", "email_lower", "name", "password_hash", "name_folded", "email_folded").WherePK().Exec(ctx); err != nil {
			return conflictOr(err, "email", "a user with email %s already exists", row.Email)
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: "user.updated", TargetType: "user", TargetID: id}, before, userAudit{Email: row.Email, Name: row.Name, HasPassword: row.PasswordHash != ""})
	})
	return row.model(), err
}

// DeleteUser deletes a user and its memberships. Its active sessions end
// with USER_REMOVED (those overdue by overdueBy with their deadline's
// reason) and stay on record (so their tokens are told why); they are
// returned. NOT_FOUND when it does not exist.
func (d *DB) DeleteUser(ctx context.Context, actor model.Actor, id string, overdueBy time.Time) ([]model.Session, error) {
	var ended []model.Session
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
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
		if ended, err = d.endUserRemoved(ctx, tx, actor, overdueBy, "user_id = ?", id); err != nil {
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
			// Both sides folded by Go, so the match is the same on every
			// database (SQLite's lower() folds ASCII only).
			p := likePattern(foldSearch(f.Search))
			q = q.Where(`(u.email_folded LIKE ? ESCAPE '\' OR u.name_folded LIKE ? ESCAPE '\')`, p, p)
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

// userRow's alias is "u": DB.Users filters on u.* columns.
type userRow struct {
	bun.BaseModel `bun:"table:users,alias:u"`
	ID            string    `bun:"id,pk"`
	Email         string    `bun:"email,notnull"`
	EmailLower    string    `bun:"email_lower,notnull"`
	Name          string    `bun:"name,notnull"`
	PasswordHash  string    `bun:"password_hash,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
	// NameFolded and EmailFolded are what search compares (foldSearch).
	NameFolded  *string `bun:"name_folded"`
	EmailFolded *string `bun:"email_folded"`
}

func (r *userRow) model() model.User {
	return model.User{ID: r.ID, Email: r.Email, Name: r.Name, PasswordHash: r.PasswordHash, CreatedAt: r.CreatedAt.UTC()}
}

// userAudit is what the audit trail records of a user (never its password hash).
type userAudit struct {
	Email       string `json:"email"`
	Name        string `json:"name"`
	HasPassword bool   `json:"hasPassword"`
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

// likePattern escapes s for a LIKE ... ESCAPE '\' substring match.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// foldSearch is the caseless form user search compares: full Unicode case
// folding ("Élodie" and "ÉLODIE" fold to "élodie", "Straße" to "strasse").
// A cases.Caser keeps state, so each call makes its own.
func foldSearch(s string) string { return cases.Fold().String(s) }

// fold fills the row's search columns from its name and email.
func (r *userRow) fold() {
	n, e := foldSearch(r.Name), foldSearch(r.Email)
	r.NameFolded, r.EmailFolded = &n, &e
}

// foldBatch bounds the users one backfill statement reads.
const foldBatch = 500

// foldUserSearch fills the search columns of users stored before they
// existed (the migration adds them empty: SQL cannot fold as Go does). It
// runs when the store opens and does nothing once every row is filled.
func (d *DB) foldUserSearch(ctx context.Context) error {
	for {
		var rows []userRow
		if err := d.bun.NewSelect().Model(&rows).Column("id", "email", "name").
			Where("u.name_folded IS NULL OR u.email_folded IS NULL").Order("u.id").Limit(foldBatch).Scan(ctx); err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
			for i := range rows {
				rows[i].fold()
				if _, err := tx.NewUpdate().Model(&rows[i]).Column("name_folded", "email_folded").WherePK().Exec(ctx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("fill user search columns: %w", err)
		}
		if len(rows) < foldBatch {
			return nil
		}
	}
}
