// Package migrations embeds the SQL that builds sessiond's schema, one set
// per SQL dialect, applied in order by bun's migrate package.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// SQLite returns the migration files for SQLite.
func SQLite() fs.FS { return sub("sqlite") }

// Postgres returns the migration files for PostgreSQL. They mirror the
// SQLite set one for one, with the same names, in PostgreSQL's types.
func Postgres() fs.FS { return sub("postgres") }

func sub(dir string) fs.FS {
	s, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // the embedded directories are fixed at build time
	}
	return s
}
