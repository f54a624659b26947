package main

import (
	"context"
	"flag"
	"fmt"
	"syscall"
	"time"

	"github.com/sessiond/sessiond/internal/app"
)

// idle measures the CPU sessiond uses with many live sessions and no
// traffic: the scheduler should sleep until the next deadline.
func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	n := fs.Int("sessions", 100_000, "live sessions")
	d := fs.Duration("duration", 30*time.Second, "how long to watch")
	_ = fs.Parse(args)
	ctx := context.Background()
	in, err := start(ctx, app.Config{})
	if err != nil {
		return err
	}
	defer in.close()
	tenant, users, err := in.seed(100)
	if err != nil {
		return err
	}
	// Deadlines spread over the next 24 hours, none due while we watch.
	if err := in.importSessions(ctx, tenant, users, *n, time.Now().Add(24*time.Hour)); err != nil {
		return err
	}
	in.app.Scheduler.Wake(time.Time{})
	time.Sleep(2 * time.Second) // let start-up work settle
	before := cpu()
	t0 := time.Now()
	time.Sleep(*d)
	used := cpu() - before
	fmt.Printf("idle: %d live sessions, no traffic, %s: %s CPU (%.3f%% of one core)\n",
		*n, time.Since(t0).Round(time.Second), used.Round(time.Millisecond), 100*used.Seconds()/time.Since(t0).Seconds())
	return nil
}

// cpu is the CPU time (user and system) this process has used.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
