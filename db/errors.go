package db

// Driver errors translated into domain errors once: unique and foreign key
// violations, missing rows, unreachable databases.

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/sessiond/sessiond/internal/apperr"
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
