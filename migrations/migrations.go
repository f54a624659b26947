// Package migrations embeds the SQL that builds sessiond's schema, one set
// per SQL dialect, applied in order by bun's migrate package.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed sqlite/*.sql
var files embed.FS

// SQLite returns the migration files for SQLite.
func SQLite() fs.FS {
	sub, err := fs.Sub(files, "sqlite")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sub
}
