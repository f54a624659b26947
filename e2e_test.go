package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestInteropWithNodeClients runs the end-to-end check in e2e/: the real
// server binary driven by the graphql-ws and graphql-sse npm clients. It
// needs Node and `npm ci` in e2e/ (which .ci/run does); without them it
// skips, so `go test ./...` still passes on a machine without Node.
func TestInteropWithNodeClients(t *testing.T) {
	if testing.Short() {
		report.Skip(t, "end-to-end check (e2e/, graphql-ws and graphql-sse clients)", "end-to-end check skipped in -short mode")
	}
	if os.Getenv("SESSIOND_TEST_POSTGRES") != "" {
		report.Skip(t, "end-to-end check (e2e/, graphql-ws and graphql-sse clients)", "the end-to-end check runs its own server on SQLite; it runs in the SQLite pass")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		report.Skip(t, "end-to-end check (e2e/, graphql-ws and graphql-sse clients)", "node is not installed; the end-to-end check with graphql-ws and graphql-sse needs it (see e2e/README.md)")
	}
	if _, err := os.Stat(filepath.Join("e2e", "node_modules", "graphql-ws")); err != nil {
		report.Skip(t, "end-to-end check (e2e/, graphql-ws and graphql-sse clients)", "e2e/node_modules is missing; run `cd e2e && npm ci` to enable the end-to-end check")
	}
	cmd := exec.Command(node, "--test", "sessiond.test.mjs")
	cmd.Dir = "e2e"
	out, err := runBounded(t, cmd)
	if err != nil {
		t.Fatalf("node --test failed: %v\n%s", err, out)
	}
	t.Logf("node --test:\n%s", out)
}

// TestWebhooksWithNodeReceiver runs e2e/webhooks.test.mjs: the real server
// delivers webhooks to a Node receiver that verifies them with the
// `standardwebhooks` npm package, a second implementation of the signing.
// It skips without Node or `npm ci` in e2e/, as the check above does.
func TestWebhooksWithNodeReceiver(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end check skipped in -short mode")
	}
	if os.Getenv("SESSIOND_TEST_POSTGRES") != "" {
		t.Skip("the end-to-end check runs its own server on SQLite; it runs in the SQLite pass")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the webhook check with the standardwebhooks npm package needs it (see e2e/README.md)")
	}
	if _, err := os.Stat(filepath.Join("e2e", "node_modules", "standardwebhooks")); err != nil {
		t.Skip("e2e/node_modules/standardwebhooks is missing; run `cd e2e && npm ci` to enable the webhook check")
	}
	cmd := exec.Command(node, "--test", "webhooks.test.mjs")
	cmd.Dir = "e2e"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test webhooks.test.mjs failed: %v\n%s", err, out)
	}
	t.Logf("node --test webhooks.test.mjs:\n%s", out)
}
