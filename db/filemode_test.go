package db_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sessiond/sessiond/db"
)

// The SQLite file and its WAL hold session metadata and password hashes:
// only their owner may read them, whatever the process umask.
func TestSQLiteFilesAreOwnerOnly(t *testing.T) {
	check := func(t *testing.T, path string) {
		t.Helper()
		d, err := db.Open(context.Background(), db.Config{DSN: path})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer d.Close()
		// A write makes SQLite create the -wal and -shm files.
		if err := d.Ping(context.Background()); err != nil {
			t.Fatalf("ping: %v", err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			st, err := os.Stat(p)
			if err != nil {
				t.Fatalf("stat %s: %v", filepath.Base(p), err)
			}
			if perm := st.Mode().Perm(); perm != 0o600 {
				t.Errorf("%s has mode %o; want 600", filepath.Base(p), perm)
			}
		}
	}
	t.Run("a new database is created 0600 with its WAL", func(t *testing.T) {
		check(t, filepath.Join(t.TempDir(), "new.db"))
	})
	t.Run("a world-readable database is narrowed to 0600", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "old.db")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		check(t, path)
	})
}
