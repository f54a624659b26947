package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/webhook"
)

// scratchDB opens a SQLite database with one table of integers, n.
func scratchDB(t *testing.T, table string) *DB {
	t.Helper()
	ctx := context.Background()
	d, err := Open(ctx, Config{DSN: filepath.Join(t.TempDir(), "scratch.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if _, err := d.bun.ExecContext(ctx, "CREATE TABLE "+table+" (n INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return d
}

// holdTurn starts a write transaction that holds the turn until finish is
// called, then runs last in it and commits; finish returns its outcome.
func holdTurn(t *testing.T, d *DB, last func(context.Context, bun.Tx) error) (finish func() error) {
	t.Helper()
	inside, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- d.tx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
			close(inside)
			<-release
			return last(ctx, tx)
		})
	}()
	<-inside
	return func() error {
		close(release)
		return <-held
	}
}

// waitQueued waits until n writers queue for the write turn.
func waitQueued(d *DB, n int) {
	for {
		d.queue.mu.Lock()
		queued := len(d.queue.pending)
		d.queue.mu.Unlock()
		if queued == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSQLiteWritersTakeTurns checks the process's write turn on SQLite: a
// writer waits for the one in its transaction without reaching SQLite's
// busy handler (its context ends the wait, nothing written), and many
// concurrent writers all commit, none refused as busy.
func TestSQLiteWritersTakeTurns(t *testing.T) {
	ctx := context.Background()
	d := scratchDB(t, "turns")
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

	finish := holdTurn(t, d, func(ctx context.Context, tx bun.Tx) error { return insert(ctx, tx) })
	waitCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err := d.tx(waitCtx, insert)
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
	if err := finish(); err != nil {
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

// TestSQLiteGroupCommit checks that writers queued behind the turn commit
// together, each with its own outcome: a failing one's writes are rolled
// back alone, a panicking one panics in its own goroutine, and the rest
// are written.
func TestSQLiteGroupCommit(t *testing.T) {
	ctx := context.Background()
	d := scratchDB(t, "grouped")
	insert := func(ctx context.Context, tx bun.Tx, n int) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO grouped (n) VALUES (?)", n)
		return err
	}
	finish := holdTurn(t, d, func(ctx context.Context, tx bun.Tx) error { return insert(ctx, tx, 0) })

	const queued = 9
	refused := errors.New("refused after its insert")
	type outcome struct {
		n     int
		err   error
		panic any
	}
	outcomes := make(chan outcome, queued)
	for n := 1; n <= queued; n++ {
		go func() {
			o := outcome{n: n}
			defer func() {
				o.panic = recover()
				outcomes <- o
			}()
			o.err = d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
				if err := insert(ctx, tx, n); err != nil {
					return err
				}
				switch {
				case n == 5:
					panic("writer 5 panics")
				case n%3 == 0:
					return refused
				}
				// Each sees the group's earlier writes: n-1 rows at most before it.
				var before int
				if err := tx.NewRaw("SELECT count(*) FROM grouped WHERE n > 0").Scan(ctx, &before); err != nil {
					return err
				}
				if before < 1 {
					return fmt.Errorf("writer %d sees %d rows of its own", n, before)
				}
				return nil
			})
		}()
	}
	waitQueued(d, queued) // all nine queued behind the held turn
	groupsBefore := d.Stats().Groups
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	for range queued {
		o := <-outcomes
		switch {
		case o.n == 5:
			if o.panic == nil {
				t.Errorf("writer 5's panic did not reach its goroutine (err %v)", o.err)
			}
		case o.n%3 == 0:
			if !errors.Is(o.err, refused) {
				t.Errorf("writer %d: %v, want its own error", o.n, o.err)
			}
		case o.err != nil || o.panic != nil:
			t.Errorf("writer %d: %v %v, want committed", o.n, o.err, o.panic)
		}
	}
	if g := d.Stats().Groups - groupsBefore; g != 1 {
		t.Fatalf("the nine queued writers committed in %d groups, want 1", g)
	}
	var got []int
	if err := d.bun.NewRaw("SELECT n FROM grouped ORDER BY n").Scan(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 1, 2, 4, 7, 8}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows %v, want %v (the refused and the panicking writers' rows rolled back)", got, want)
	}
}

// TestSQLiteHandOffDeliveries checks what the only instance's dispatcher
// is handed (HandOffDeliveries): every committed delivery, once, as a
// ready claim with its whole endpoint, only after its commit, and nothing
// of a write that rolled back, in a group or alone.
func TestSQLiteHandOffDeliveries(t *testing.T) {
	ctx := context.Background()
	d := scratchDB(t, "unused")
	ep, err := d.CreateWebhookEndpoint(ctx, model.Actor{Kind: model.ActorSystem}, webhook.Endpoint{
		ID: "ep", URL: "https://hooks.example.com/ep", Secret: "plain:whsec_x", CreatedAt: time.Now(), UpdatedAt: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var handed []webhook.Claim
	var uncommitted []string
	d.HandOffDeliveries(func(cs []webhook.Claim) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cs {
			// Another connection sees the row: it is committed.
			n, err := d.bun.NewSelect().Table("webhook_deliveries").Where("id = ?", c.Delivery.ID).Count(ctx)
			if err != nil || n != 1 {
				uncommitted = append(uncommitted, c.Delivery.ID)
			}
		}
		handed = append(handed, cs...)
	})
	event := func(name string) webhook.Event {
		return webhook.Event{Type: webhook.SessionPolicyUpdated, At: time.Now(), Data: map[string]string{"name": name}}
	}
	write := func(name string, fail bool) error {
		return d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
			if err := writeOutbox(ctx, tx, d.endpoints, time.Now(), event(name)); err != nil {
				return err
			}
			if fail {
				return errors.New("refused after its outbox row")
			}
			return nil
		})
	}

	finish := holdTurn(t, d, func(context.Context, bun.Tx) error { return nil })
	var wg sync.WaitGroup
	for _, w := range []struct {
		name string
		fail bool
	}{{"a", false}, {"refused", true}, {"b", false}} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = write(w.name, w.fail) }()
	}
	waitQueued(d, 3) // all three queued behind the held turn: one group
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := write("alone", false); err != nil {
		t.Fatal(err)
	}
	if err := write("alone and refused", true); err == nil {
		t.Fatal("a refused write committed")
	}

	mu.Lock()
	defer mu.Unlock()
	if len(uncommitted) > 0 {
		t.Fatalf("handed before their commit: %v", uncommitted)
	}
	var names []string
	for _, c := range handed {
		if c.Endpoint.ID != ep.ID || c.Endpoint.URL != ep.URL || c.Endpoint.Secret == "" || c.Delivery.EndpointID != ep.ID || c.Delivery.Status != webhook.Pending {
			t.Fatalf("claim %+v, want a pending delivery with its whole endpoint %+v", c, ep)
		}
		var p struct{ Data struct{ Name string } }
		if err := json.Unmarshal([]byte(c.Delivery.Payload), &p); err != nil {
			t.Fatal(err)
		}
		names = append(names, p.Data.Name)
	}
	slices.Sort(names)
	if want := []string{"a", "alone", "b"}; !slices.Equal(names, want) {
		t.Fatalf("handed %v, want %v: every committed delivery once, none rolled back", names, want)
	}
	pending, err := d.PendingWebhookDeliveries(ctx)
	if err != nil || pending != 3 {
		t.Fatalf("%d pending deliveries (%v), want the 3 handed", pending, err)
	}
}

// deliveryInserts counts bun's INSERTs into webhook_deliveries.
type deliveryInserts struct{ n atomic.Int64 }

func (h *deliveryInserts) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

func (h *deliveryInserts) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if strings.HasPrefix(e.Query, `INSERT INTO "webhook_deliveries"`) {
		h.n.Add(1)
	}
}

// TestSQLiteOutboxPreparedInsert checks that on SQLite the outbox takes the
// prepared INSERT (bun runs none), that it writes the same row as bun's
// insert, that a savepoint rolled back in a group commit undoes it, and
// that it is counted as a write like bun's statements.
func TestSQLiteOutboxPreparedInsert(t *testing.T) {
	ctx := context.Background()
	d := scratchDB(t, "unused")
	if d.endpoints.insert == nil {
		t.Fatal("no prepared outbox INSERT on SQLite")
	}
	if _, err := d.CreateWebhookEndpoint(ctx, model.Actor{Kind: model.ActorSystem}, webhook.Endpoint{
		ID: "ep", URL: "https://hooks.example.com/ep", Secret: "plain:whsec_x", CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1_800_000_000_000)
	event := func(id string) webhook.Event {
		return webhook.Event{ID: id, Type: webhook.SessionPolicyUpdated, At: at, Data: map[string]string{"name": id}}
	}
	bunOnly := &endpointCache{on: true} // the same endpoints, no prepared statement
	write := func(eps *endpointCache, id string, fail bool) error {
		return d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
			if err := writeOutbox(ctx, tx, eps, at, event(id)); err != nil {
				return err
			}
			if fail {
				return errors.New("refused")
			}
			return nil
		})
	}
	bunInserts := &deliveryInserts{}
	d.bun.AddQueryHook(bunInserts)
	// "prepared" and "rolled back" commit in one group, a savepoint each:
	// the second's row goes with its savepoint.
	writes := d.Stats().Writes
	finish := holdTurn(t, d, func(context.Context, bun.Tx) error { return nil })
	results := make(chan error, 2)
	go func() { results <- write(d.endpoints, "prepared", false) }()
	go func() { results <- write(d.endpoints, "rolled back", true) }()
	waitQueued(d, 2) // both queued behind the held turn: one group
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if errs := []error{<-results, <-results}; (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("the grouped writes returned %v, want one refused and one committed", errs)
	}
	if got := d.Stats().Writes - writes; got != 2 {
		t.Fatalf("the two prepared INSERTs counted as %d writes, want 2", got)
	}
	if n := bunInserts.n.Load(); n != 0 {
		t.Fatalf("bun ran %d INSERTs into webhook_deliveries, want none (the prepared statement writes them)", n)
	}
	if err := write(bunOnly, "bun", false); err != nil {
		t.Fatal(err)
	}
	if n := bunInserts.n.Load(); n != 1 {
		t.Fatalf("bun ran %d INSERTs into webhook_deliveries without the prepared statement, want 1", n)
	}
	var rows []webhookDeliveryRow
	if err := d.bun.NewSelect().Model(&rows).Order("event_id").Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].EventID != "bun" || rows[1].EventID != "prepared" {
		t.Fatalf("rows %+v, want the bun and the prepared one (the rolled-back one undone)", rows)
	}
	a, b := rows[0], rows[1]
	if a.NextAttemptAt == nil || b.NextAttemptAt == nil || *a.NextAttemptAt != *b.NextAttemptAt || *b.NextAttemptAt != at.UnixMilli() {
		t.Fatalf("due at %v (prepared) and %v (bun), want both %d", b.NextAttemptAt, a.NextAttemptAt, at.UnixMilli())
	}
	a.ID, b.ID, a.EventID, b.EventID, a.NextAttemptAt, b.NextAttemptAt = "", "", "", "", nil, nil
	a.Payload, b.Payload = strings.ReplaceAll(a.Payload, `"bun"`, `"x"`), strings.ReplaceAll(b.Payload, `"prepared"`, `"x"`)
	if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) {
		t.Fatalf("the prepared INSERT wrote\n%+v\nbun wrote\n%+v", b, a)
	}
}
