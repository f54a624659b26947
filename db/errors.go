package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"net"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
	"modernc.org/sqlite"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
)

// SQLite extended result codes for constraint failures.
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// isUniqueViolation reports whether err is a unique or primary key violation.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqliteConstraintUnique || se.Code() == sqliteConstraintPrimaryKey
	}
	return pgCode(err) == "23505"
}

// isForeignKeyViolation reports whether err is a foreign key violation.
func isForeignKeyViolation(err error) bool {
	var se *sqlite.Error
	return (errors.As(err, &se) && se.Code() == sqliteConstraintForeignKey) || pgCode(err) == "23503"
}

// conflictOr translates a unique violation into a CONFLICT on field.
func conflictOr(err error, field, format string, args ...any) error {
	if isUniqueViolation(err) {
		e := apperr.Errorf(apperr.Conflict, format, args...)
		e.Field = field
		return e
	}
	return err
}

// notFoundOr translates sql.ErrNoRows into NOT_FOUND.
func notFoundOr(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.Errorf(apperr.NotFound, format, args...)
	}
	return err
}

// newID returns a time-ordered UUIDv7, so id order is creation order.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// writeAudit records one change inside the caller's transaction.
func (d *DB) writeAudit(ctx context.Context, idb bun.IDB, e model.AuditEntry, before, after any) error {
	row := auditRow{
		ID: newID(), ActorKind: string(e.Actor.Kind), ActorID: e.Actor.ID,
		Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID,
		Before: jsonOrEmpty(before), After: jsonOrEmpty(after), CreatedAt: d.now(),
	}
	if e.TenantID != "" {
		row.TenantID = &e.TenantID
	}
	_, err := idb.NewInsert().Model(&row).Exec(ctx)
	return err
}

func jsonOrEmpty(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// likePattern escapes s for a LIKE ... ESCAPE '\' substring match.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// IsUnavailable reports whether err means the database could not be
// reached (refused, dropped or timed-out connections, a server shutting
// down), as opposed to an error in the query.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.Is(err, driver.ErrBadConn) || errors.As(err, &ne) {
		return true
	}
	switch code := pgCode(err); {
	case strings.HasPrefix(code, "08"), code == "57P01", code == "57P02", code == "57P03":
		return true
	}
	return false
}
