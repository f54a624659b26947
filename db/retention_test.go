package db_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/db"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/retention"
	"github.com/sessiond/sessiond/internal/webhook"
)

// countingStore records the size of every delete batch the purge runs.
type countingStore struct {
	retention.Store
	batches []int
}

func (c *countingStore) PurgeEndedSessions(ctx context.Context, before time.Time, limit int) (int, error) {
	n, err := c.Store.PurgeEndedSessions(ctx, before, limit)
	c.batches = append(c.batches, n)
	return n, err
}

func (c *countingStore) PurgeAudit(ctx context.Context, before time.Time, limit int) (int, error) {
	n, err := c.Store.PurgeAudit(ctx, before, limit)
	c.batches = append(c.batches, n)
	return n, err
}

func TestRetentionPurge(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tn := e.tenant(t, "Retention")
		u := e.user(t, tn, "old@example.com")
		end := func(s model.Session) {
			t.Helper()
			if _, err := e.EndSessions(ctx, []model.SessionEnd{{ID: s.ID, Reason: model.EndLogout}}, model.Actor{Kind: model.ActorUser, ID: u}, time.Time{}); err != nil {
				t.Fatalf("end session: %v", err)
			}
		}
		// At t0: five sessions that end at once, and one that stays live.
		var old []model.Session
		for range 5 {
			s, _ := e.session(t, u, tn)
			end(s)
			old = append(old, s)
		}
		live, _ := e.session(t, u, tn)
		// 40 days later: one that ended recently.
		e.Clock.Advance(40 * 24 * time.Hour)
		recent, _ := e.session(t, u, tn)
		end(recent)

		store := &countingStore{Store: e.DB}
		svc := retention.New(store, e.Clock, slog.New(slog.DiscardHandler), retention.Config{
			RetainEnded: 30 * retention.Day, RetainAudit: 20 * retention.Day, Batch: 2, Pause: time.Millisecond,
		})

		t.Run("dry run counts and deletes nothing", func(t *testing.T) {
			r, err := svc.DryRun(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.Sessions != 5 {
				t.Fatalf("dry run counts %d ended sessions, want 5", r.Sessions)
			}
			// Old audit entries: 6 session.created and 5 session.ended
			// (and the directory's own); the live session's is kept.
			if r.Audit < 10 {
				t.Fatalf("dry run counts %d audit entries, want at least 10", r.Audit)
			}
			for _, s := range old {
				e.get(t, s.ID) // still there
			}
			if len(store.batches) != 0 {
				t.Fatalf("dry run ran %d delete batches", len(store.batches))
			}
		})

		dry, _ := svc.DryRun(ctx)
		r, err := svc.Purge(ctx)
		if err != nil {
			t.Fatalf("purge: %v", err)
		}
		t.Run("what is old goes, as the dry run said", func(t *testing.T) {
			if r.Sessions != 5 || r.Audit != dry.Audit {
				t.Fatalf("purged %d sessions and %d audit entries, want 5 and %d", r.Sessions, r.Audit, dry.Audit)
			}
			for _, s := range old {
				if _, err := e.Session(ctx, s.ID); err == nil {
					t.Fatalf("session %s ended 40 days ago is still there", s.ID)
				}
			}
		})
		t.Run("live and recent sessions stay", func(t *testing.T) {
			e.get(t, live.ID)
			e.get(t, recent.ID)
		})
		t.Run("a live session keeps its audit trail", func(t *testing.T) {
			entries, _, err := e.AuditEntries(ctx, tn, "", 1000)
			if err != nil {
				t.Fatal(err)
			}
			var created, recentEnded bool
			for _, a := range entries {
				if a.TargetID == live.ID && a.Action == "session.created" {
					created = true
				}
				if a.TargetID == recent.ID && a.Action == "session.ended" {
					recentEnded = true
				}
				if a.TargetID != live.ID && a.CreatedAt.Before(e.Clock.Now().Add(-20*retention.Day)) {
					t.Fatalf("audit entry %s (%s) is older than the retention", a.ID, a.Action)
				}
			}
			if !created || !recentEnded {
				t.Fatalf("live session.created kept %v, recent session.ended kept %v; want both", created, recentEnded)
			}
		})
		t.Run("batches are bounded", func(t *testing.T) {
			if len(store.batches) < 3 {
				t.Fatalf("5 sessions in batches of 2 took %d batches, want at least 3", len(store.batches))
			}
			for _, n := range store.batches {
				if n > 2 {
					t.Fatalf("a batch deleted %d rows, want at most 2 (%v)", n, store.batches)
				}
			}
		})
		t.Run("a second purge finds nothing", func(t *testing.T) {
			r, err := svc.Purge(ctx)
			if err != nil || r.Sessions != 0 || r.Audit != 0 {
				t.Fatalf("second purge: %+v, %v; want nothing deleted", r, err)
			}
		})
		t.Run("retention 0 keeps forever", func(t *testing.T) {
			e.Clock.Advance(400 * 24 * time.Hour)
			zero := 0
			if _, err := e.UpdateRetentionSettings(ctx, e.admin, model.RetentionUpdate{EndedSessionsDays: &zero, AuditDays: &zero}); err != nil {
				t.Fatal(err)
			}
			r, err := svc.Purge(ctx)
			if err != nil || r.Sessions != 0 || r.Audit != 0 {
				t.Fatalf("purge with retention 0: %+v, %v; want nothing deleted", r, err)
			}
			e.get(t, recent.ID)
		})
		t.Run("the environment's setting overrides the server's", func(t *testing.T) {
			one := 1
			if _, err := e.UpdateRetentionSettings(ctx, e.admin, model.RetentionUpdate{EndedSessionsDays: &one}); err != nil {
				t.Fatal(err)
			}
			r, err := svc.Purge(ctx)
			if err != nil || r.Sessions != 1 {
				t.Fatalf("purge with 1 day: %+v, %v; want the recent session deleted", r, err)
			}
		})
	})
}

func TestPurgeLockIsExclusive(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		if e.Dialect != "postgres" {
			t.Skip("SQLite runs one instance per file: the purge lock is always free")
		}
		ctx := context.Background()
		release, ok, err := e.TryPurgeLock(ctx)
		if err != nil || !ok {
			t.Fatalf("first TryPurgeLock: %v, %v", ok, err)
		}
		if _, ok, err := e.TryPurgeLock(ctx); err != nil || ok {
			t.Fatalf("second TryPurgeLock while held: ok %v err %v, want refused", ok, err)
		}
		svc := retention.New(e.DB, e.Clock, slog.New(slog.DiscardHandler), retention.Config{RetainEnded: retention.Day})
		if r, err := svc.Purge(ctx); err != nil || !r.Skipped {
			t.Fatalf("purge while another holds the lock: %+v, %v; want skipped", r, err)
		}
		release()
		if r, err := svc.Purge(ctx); err != nil || r.Skipped {
			t.Fatalf("purge after release: %+v, %v; want run", r, err)
		}
	})
}

func TestInstanceLock(t *testing.T) {
	path := t.TempDir() + "/one.db"
	release, err := db.LockInstance(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.LockInstance(path); !errors.Is(err, db.ErrInstanceRunning) {
		t.Fatalf("want the second lock on one SQLite file refused with ErrInstanceRunning, got %v", err)
	}
	release()
	again, err := db.LockInstance(path)
	if err != nil {
		t.Fatalf("want the lock free after release, got %v", err)
	}
	again()
}

// Finished webhook deliveries (delivered or failed) go with the ended
// sessions' retention, counted by the dry run; pending ones, however old,
// and young ones stay.
func TestRetentionPurgesFinishedWebhookDeliveries(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tn := e.tenant(t, "Hooks")
		u := e.user(t, tn, "hooks@example.com")
		ep, err := e.CreateWebhookEndpoint(ctx, e.admin, webhook.Endpoint{
			ID: "ep", URL: "https://hooks.example.com/ep", Secret: "plain:whsec_x", CreatedAt: e.Clock.Now(), UpdatedAt: e.Clock.Now(),
		})
		if err != nil {
			t.Fatal(err)
		}
		list := func() []webhook.Delivery {
			t.Helper()
			ds, _, err := e.WebhookDeliveries(ctx, webhook.DeliveryFilter{EndpointID: ep.ID, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return ds
		}
		finish := func(d webhook.Delivery, status webhook.Status, code int) {
			t.Helper()
			out := webhook.Outcome{DeliveryID: d.ID, EndpointID: ep.ID, At: e.Clock.Now(), Status: status, Attempts: 1, StatusCode: &code, Succeeded: status == webhook.Delivered}
			if err := e.FinishAttempts(ctx, "", []webhook.Outcome{out}); err != nil {
				t.Fatal(err)
			}
		}
		// At t0, three session.created deliveries: one delivered, one
		// failed for good, one still pending.
		for range 3 {
			e.session(t, u, tn)
		}
		old := list()
		if len(old) != 3 {
			t.Fatalf("%d deliveries, want 3", len(old))
		}
		finish(old[0], webhook.Delivered, 200)
		finish(old[1], webhook.Failed, 500)
		pending := old[2]
		// 40 days later, a delivered one that is young.
		e.Clock.Advance(40 * 24 * time.Hour)
		e.session(t, u, tn)
		young := list()[0]
		finish(young, webhook.Delivered, 204)

		svc := retention.New(e.DB, e.Clock, slog.New(slog.DiscardHandler), retention.Config{RetainEnded: 30 * retention.Day, Batch: 1, Pause: time.Millisecond})
		dry, err := svc.DryRun(ctx)
		if err != nil || dry.Deliveries != 2 {
			t.Fatalf("dry run: %+v, %v; want 2 finished deliveries counted", dry, err)
		}
		if got := len(list()); got != 4 {
			t.Fatalf("%d deliveries after the dry run, want 4", got)
		}
		r, err := svc.Purge(ctx)
		if err != nil || r.Deliveries != 2 {
			t.Fatalf("purge: %+v, %v; want 2 finished deliveries deleted", r, err)
		}
		var ids []string
		for _, d := range list() {
			ids = append(ids, d.ID)
		}
		if want := []string{young.ID, pending.ID}; !slices.Equal(ids, want) {
			t.Fatalf("left %v, want the young %s and the old pending %s", ids, young.ID, pending.ID)
		}
		if r, err := svc.Purge(ctx); err != nil || r.Deliveries != 0 {
			t.Fatalf("second purge: %+v, %v; want nothing", r, err)
		}
	})
}

// The deliveries purge walks webhook_deliveries_finished_idx from its
// oldest end: a batch costs its own rows, not a scan of the outbox (on
// SQLite, whose planner is deterministic on an empty table). The plan is
// of the DELETE the purge sends.
func TestWebhookDeliveriesPurgeUsesItsIndex(t *testing.T) {
	e := openEnv(t, "sqlite")
	q := e.PurgeDeliveriesSQL(time.UnixMilli(1_800_000_000_000), 10)
	if got := queryPlan(t, e, q); !strings.Contains(got, "webhook_deliveries_finished_idx") || strings.Contains(got, "TEMP B-TREE") || strings.Contains(got, "SCAN webhook_deliveries") {
		t.Fatalf("query plan of %s:\n%q\nwant a walk of webhook_deliveries_finished_idx, without sorting or scanning the table", q, got)
	}
}
