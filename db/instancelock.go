package db

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrInstanceRunning says that another sessiond serves the SQLite file.
var ErrInstanceRunning = errors.New("another sessiond is already serving this SQLite database (SQLite is single-instance: run several instances on PostgreSQL)")

// LockInstance makes this process the only server of a SQLite database:
// it holds an exclusive lock on "<file>.lock" until release is called (or
// the process exits, when the system drops it). A second server on the
// same file gets ErrInstanceRunning. PostgreSQL needs no lock (several
// instances share it by design): release is a no-op there.
func LockInstance(dsn string) (release func(), err error) {
	if IsPostgres(dsn) {
		return func() {}, nil
	}
	path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite://"), "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("instance lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("%s: %w", path, ErrInstanceRunning)
		}
		return nil, fmt.Errorf("instance lock %s.lock: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
	return func() { _ = f.Close() }, nil
}

var errLocked = errors.New("locked")
