package main

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// runBounded runs a Node test suite (npm, node --test) and returns its
// combined output. It ends the whole process group (npm, node, Chromium)
// a minute before the test binary's own deadline, so a hung browser test
// fails with its output instead of a goroutine dump, and no child is left
// holding the output pipe.
func runBounded(t *testing.T, cmd *exec.Cmd) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	if d, ok := t.Deadline(); ok {
		ctx, cancel = context.WithDeadline(context.Background(), d.Add(-time.Minute))
	}
	defer cancel()
	bounded := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	bounded.Dir, bounded.Env = cmd.Dir, cmd.Env
	bounded.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	bounded.Cancel = func() error { return syscall.Kill(-bounded.Process.Pid, syscall.SIGKILL) }
	bounded.WaitDelay = 5 * time.Second
	out, err := bounded.CombinedOutput()
	if ctx.Err() != nil {
		t.Errorf("%s did not finish in time; killed", cmd.Args)
	}
	return out, err
}
