package db

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"
)

// TestSQLiteWritersTakeTurns checks the process's write turn on SQLite: a
// writer waits for the one in its transaction without reaching SQLite's
// busy handler (its context ends the wait, nothing written), and many
// concurrent writers all commit, none refused as busy.
func TestSQLiteWritersTakeTurns(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, Config{DSN: filepath.Join(t.TempDir(), "w.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.bun.ExecContext(ctx, "CREATE TABLE turns (n INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	insert := func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO turns (n) VALUES (1)")
		return err
	}
	count := func() int {
		var n int
		if err := d.bun.NewRaw("SELECT count(*) FROM turns").Scan(ctx, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	inside, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
			close(inside)
			<-release
			return insert(ctx, tx)
		})
	}()
	<-inside
	waitCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err = d.tx(waitCtx, insert)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a writer behind an open transaction: %v, want its context's deadline", err)
	}
	if _, err := d.PurgeAudit(waitCtx, time.Now(), 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a write outside tx behind an open transaction: %v, want its context's deadline", err)
	}
	if w := d.Stats().WriteWaits; w != 2 {
		t.Fatalf("WriteWaits = %d after two writers queued behind an open transaction, want 2", w)
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d rows after one committed and one abandoned writer, want 1", n)
	}

	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := d.tx(ctx, insert); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a concurrent writer failed: %v", err)
	}
	if n := count(); n != 1+writers*each {
		t.Fatalf("%d rows, want %d", n, 1+writers*each)
	}
}
