package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestClientSDK runs the @sessiond/client test suite in clients/js (vitest):
// the SDK against the real server binary in Node, and in headless Chromium
// when /usr/bin/chromium (or SESSIOND_CHROMIUM) exists. It needs Node and
// `npm ci` in clients/js (which .ci/run does); without them it skips, so
// `go test ./...` still passes on a machine without Node.
func TestClientSDK(t *testing.T) {
	if testing.Short() {
		report.Skip(t, "client SDK tests (clients/js)", "client SDK tests skipped in -short mode")
	}
	if os.Getenv("SESSIOND_TEST_POSTGRES") != "" {
		report.Skip(t, "client SDK tests (clients/js)", "the client SDK tests run their own server on SQLite; they run in the SQLite pass")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		report.Skip(t, "client SDK tests (clients/js)", "npm is not installed; the client SDK tests need Node ≥ 20 (see clients/js/README.md)")
	}
	if _, err := os.Stat(filepath.Join("clients", "js", "node_modules", "vitest")); err != nil {
		report.Skip(t, "client SDK tests (clients/js)", "clients/js/node_modules is missing; run `cd clients/js && npm ci` to enable the client SDK tests")
	}
	cmd := exec.Command(npm, "test")
	cmd.Dir = filepath.Join("clients", "js")
	cmd.Env = append(os.Environ(), "CI=1", "NO_COLOR=1")
	out, err := runBounded(t, cmd)
	if err != nil {
		t.Fatalf("npm test in clients/js failed: %v\n%s", err, out)
	}
	t.Logf("npm test:\n%s", out)
}
