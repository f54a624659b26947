package db

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ownerOnly makes sure the SQLite file at path exists readable and
// writable by its owner only, before SQLite opens it: the file holds
// session metadata and password hashes. SQLite creates the -wal and -shm
// files with the database file's permissions, so they follow. A file
// created earlier with wider permissions is narrowed.
func ownerOnly(path string) error {
	if path == ":memory:" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("database file: %w", err)
	}
	info, err := f.Stat()
	_ = f.Close()
	if err != nil {
		return fmt.Errorf("database file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, info.Mode().Perm()&0o700); err != nil && !errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("database file permissions: %w", err)
		}
	}
	for _, side := range []string{path + "-wal", path + "-shm"} {
		if st, err := os.Stat(side); err == nil && st.Mode().Perm()&0o077 != 0 {
			_ = os.Chmod(side, st.Mode().Perm()&0o700)
		}
	}
	return nil
}
