package db_test

import (
	"os"
	"testing"

	"github.com/sessiond/sessiond/internal/testreport"
)

func TestMain(m *testing.M) {
	r := testreport.New("db")
	if os.Getenv(postgresEnv) == "" {
		r.Note("the storage suite on PostgreSQL", "set "+postgresEnv+" to a PostgreSQL URL to run it (SQLite ran)")
	}
	r.Main(m)
}
