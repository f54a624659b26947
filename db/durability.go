package db

import "context"

// warnIfNotDurable logs a warning when PostgreSQL is configured so that an
// acknowledged commit can be lost: synchronous_commit off (a server crash
// may lose the last ~3× wal_writer_delay of commits) or fsync off (a power
// loss may corrupt the database). sessiond's durability promise assumes
// both are on, PostgreSQL's defaults.
func (d *DB) warnIfNotDurable(ctx context.Context) {
	for _, setting := range []string{"synchronous_commit", "fsync"} {
		var v string
		if err := d.bun.NewRaw("SELECT current_setting(?)", setting).Scan(ctx, &v); err != nil {
			d.log.WarnContext(ctx, "read a durability setting", "setting", setting, "err", err)
			continue
		}
		if v == "off" {
			d.log.WarnContext(ctx, "PostgreSQL may lose acknowledged writes on a crash", "setting", setting, "value", v)
		}
	}
}
