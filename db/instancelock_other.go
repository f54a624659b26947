//go:build !unix

package db

import "os"

// lockFile is a no-op where flock is not available: run one sessiond per
// SQLite file by hand there.
func lockFile(*os.File) error { return nil }
