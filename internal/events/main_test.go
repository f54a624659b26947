package events

import (
	"os"
	"testing"

	"github.com/sessiond/sessiond/internal/testreport"
)

func TestMain(m *testing.M) {
	r := testreport.New("internal/events")
	if os.Getenv(postgresEnv) == "" {
		r.Note("the PostgreSQL event bus tests", "set "+postgresEnv+" to a PostgreSQL URL to run them")
	}
	r.Main(m)
}
