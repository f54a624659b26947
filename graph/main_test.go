package graph_test

import (
	"os"
	"testing"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/testreport"
)

func TestMain(m *testing.M) {
	r := testreport.New("graph")
	if os.Getenv(graphtest.PostgresEnv) == "" {
		r.Note("PostgreSQL tests (cluster of instances, LISTEN/NOTIFY, scheduler takeover)", "set "+graphtest.PostgresEnv+" to a PostgreSQL URL to run them")
	}
	r.Main(m)
}
