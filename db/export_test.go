package db

import "time"

// PurgeDeliveriesSQL is the retention purge's DELETE of webhook deliveries
// as it is sent, for the db_test package's query-plan test.
func (d *DB) PurgeDeliveriesSQL(before time.Time, limit int) string {
	return purgeDeliveries(d.bun, before, limit).String()
}
