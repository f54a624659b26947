package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestPortalInBrowser runs the browser tests in clients/portal (`npm test`):
// the real server binary, built here once, driven by Debian's headless
// Chromium through playwright-core: the portal, the console and the
// playground, flow by flow. It needs Node, `npm ci` in clients/portal and
// /usr/bin/chromium (which .ci/run installs); without them it skips, so
// `go test ./...` passes on a machine without a browser.
func TestPortalInBrowser(t *testing.T) {
	if testing.Short() {
		report.Skip(t, "browser tests (clients/portal)", "browser tests skipped in -short mode")
	}
	if os.Getenv("SESSIOND_TEST_POSTGRES") != "" {
		report.Skip(t, "browser tests (clients/portal)", "the browser tests run their own servers on SQLite; they run in the SQLite pass")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		report.Skip(t, "browser tests (clients/portal)", "npm is not installed; the portal's browser tests need Node 20 (see clients/portal/README.md)")
	}
	dir := filepath.Join("clients", "portal")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		report.Skip(t, "browser tests (clients/portal)", "clients/portal/node_modules is missing; run `cd clients/portal && npm ci` to enable the browser tests")
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		report.Skip(t, "browser tests (clients/portal)", fmt.Sprintf("%s is missing; install Debian's chromium (apt-get install -y chromium) to enable the browser tests", chromium))
	}
	bin := filepath.Join(t.TempDir(), "sessiond")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(npm, "test")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SESSIOND_BIN="+bin, "CHROMIUM="+chromium)
	out, err := runBounded(t, cmd)
	if err != nil {
		t.Fatalf("npm test in clients/portal failed: %v\n%s", err, out)
	}
	t.Logf("npm test:\n%s", out)
}
