package events

// Tests of the PostgreSQL bus against a real server; they skip without
// SESSIOND_TEST_POSTGRES. Each test makes its own database.

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/db"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
	"github.com/sessiond/sessiond/internal/secret"
)

const postgresEnv = "SESSIOND_TEST_POSTGRES"

// waitLimit bounds every wait for the bus in real time; a healthy bus is
// much faster, so it only turns a hang into a failure.
const waitLimit = 15 * time.Second

// freshPostgres opens a store on a new database, dropped at cleanup.
func freshPostgres(t *testing.T) (*db.DB, string) {
	t.Helper()
	base := os.Getenv(postgresEnv)
	if base == "" {
		t.Skipf("PostgreSQL test: set %s to a PostgreSQL URL to run it", postgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := "sessiond_bus_" + strings.ToLower(strings.ReplaceAll(secret.NewToken("")[:12], "-", "_"))
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	store, err := db.Open(context.Background(), db.Config{DSN: u.String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = store.Close()
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		_ = admin.Close()
	})
	return store, store.DSN()
}

// countingStore records the notifications a bus sends.
type countingStore struct {
	*db.DB
	mu       sync.Mutex
	payloads []int // sizes
}

func (c *countingStore) Notify(ctx context.Context, channel, payload string) error {
	c.mu.Lock()
	c.payloads = append(c.payloads, len(payload))
	c.mu.Unlock()
	return c.DB.Notify(ctx, channel, payload)
}

func (c *countingStore) sent() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.payloads...)
}

func newBus(t *testing.T, store PGStore, dsn, name string) *PG {
	t.Helper()
	b := NewPG(store, dsn, name, slog.New(slog.DiscardHandler), nil)
	t.Cleanup(b.Close)
	waitUntil(t, name+"'s listener to connect", b.Listening)
	return b
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// receive collects n events from a subscription.
func receive(t *testing.T, sub *Subscription, n int) []Event {
	t.Helper()
	var got []Event
	timeout := time.After(waitLimit)
	for len(got) < n {
		select {
		case e, ok := <-sub.C:
			if !ok {
				t.Fatalf("subscription ended after %d of %d events: %v", len(got), n, sub.Err())
			}
			got = append(got, e)
		case <-timeout:
			t.Fatalf("received %d of %d events", len(got), n)
		}
	}
	return got
}

// terminated is a termination of a session that is not stored: the
// receiver delivers it from what the notification carries.
func terminated(id, user, tenant string) Event {
	at := time.UnixMilli(1_790_000_000_000).UTC()
	return Event{Kind: Terminated, At: at, Session: model.Session{ID: id, UserID: user, TenantID: tenant, EndReason: model.EndRevokedByAdmin, EndedAt: &at}}
}

func TestPGBatching(t *testing.T) {
	store, dsn := freshPostgres(t)
	sender := &countingStore{DB: store}
	a := newBus(t, sender, dsn, "a")
	b := newBus(t, store, dsn, "b")
	sub, err := b.Subscribe(context.Background(), Filter{}, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	t.Run("a burst travels in few notifications, each under the payload limit", func(t *testing.T) {
		const n = 3000
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = terminated(fmt.Sprintf("%08d-0000-7000-8000-000000000000", i), "01a23459-3892-78bb-b9a6-e452e70aaef8", "01a23459-4e0c-7ab2-b7d9-828a036dc3da")
		}
		if err := a.Publish(context.Background(), evs...); err != nil {
			t.Fatal(err)
		}
		got := receive(t, sub, n)
		seen := map[string]bool{}
		for _, e := range got {
			if e.Kind != Terminated || e.Session.EndReason != model.EndRevokedByAdmin || !e.At.Equal(evs[0].At) || seen[e.Session.ID] {
				t.Fatalf("delivered %+v (seen before: %v)", e, seen[e.Session.ID])
			}
			seen[e.Session.ID] = true
		}
		sizes := sender.sent()
		// ~120 bytes per termination: 3000 fit in about 50 notifications.
		if len(sizes) > n/20 {
			t.Fatalf("%d notifications for %d events: not batched", len(sizes), n)
		}
		for _, size := range sizes {
			if size >= 8000 {
				t.Fatalf("a notification of %d bytes: PostgreSQL refuses 8000 or more", size)
			}
		}
	})

	t.Run("fields JSON escapes stay under the payload limit", func(t *testing.T) {
		before := len(sender.sent())
		// '<', '>' and '&' are escaped to six bytes each.
		odd := strings.Repeat("<&>", 40)
		const n = 200
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = terminated(fmt.Sprintf("odd-%04d", i), odd, odd)
		}
		if err := a.Publish(context.Background(), evs...); err != nil {
			t.Fatal(err)
		}
		got := receive(t, sub, n)
		for _, e := range got {
			if e.Session.UserID != odd || e.Session.TenantID != odd {
				t.Fatalf("delivered user %q tenant %q", e.Session.UserID, e.Session.TenantID)
			}
		}
		for _, size := range sender.sent()[before:] {
			if size >= 8000 {
				t.Fatalf("a notification of %d bytes: PostgreSQL refuses 8000 or more", size)
			}
		}
	})

	t.Run("the sender's own notifications are not delivered twice to it", func(t *testing.T) {
		own, err := a.Subscribe(context.Background(), Filter{SessionID: "own"}, 4)
		if err != nil {
			t.Fatal(err)
		}
		defer own.Close()
		if err := a.Publish(context.Background(), terminated("own", "u", "t"), terminated("own-marker", "u", "t")); err != nil {
			t.Fatal(err)
		}
		receive(t, own, 1)
		// b hears both; by then a has heard its own notification too.
		for _, e := range receive(t, sub, 2) {
			_ = e
		}
		select {
		case e := <-own.C:
			t.Fatalf("delivered twice: %+v", e)
		default:
		}
	})
}

// pausableProxy forwards TCP connections to PostgreSQL, and refuses new
// ones while paused: a listener behind it cannot reconnect until resumed.
type pausableProxy struct {
	ln     net.Listener
	target string
	paused atomic.Bool
}

func startProxy(t *testing.T, target string) *pausableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pausableProxy{ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.paused.Load() {
				_ = c.Close()
				continue
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", p.target)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return p
}

// TestPGResyncAfterDroppedListener: terminations sent while an instance's
// listener was disconnected reach its subscribers once it is back.
func TestPGResyncAfterDroppedListener(t *testing.T) {
	ctx := context.Background()
	store, dsn := freshPostgres(t)
	tn, err := store.CreateTenant(ctx, model.Actor{Kind: model.ActorAdmin}, "resync")
	if err != nil {
		t.Fatal(err)
	}
	u, err := store.CreateUser(ctx, model.Actor{Kind: model.ActorAdmin}, model.NewUser{Email: "resync@example.com", Name: "R", TenantID: tn.ID})
	if err != nil {
		t.Fatal(err)
	}
	var sessions []model.Session
	for range 4 {
		s, _, err := store.CreateSession(ctx, model.Actor{Kind: model.ActorAdmin}, u.ID, tn.ID, func(env, tenant policy.Overrides, now time.Time) policy.SessionPlan {
			return policy.PlanSession(policy.Resolve(env, tenant), model.Session{TokenHash: secret.HashToken(secret.NewToken("sds_"))}, now)
		})
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	end := func(bus *PG, s model.Session) {
		t.Helper()
		ended, err := store.EndSessions(ctx, []model.SessionEnd{{ID: s.ID, Reason: model.EndRevokedByAdmin}}, model.Actor{Kind: model.ActorAdmin}, time.Time{})
		if err != nil || len(ended) != 1 {
			t.Fatalf("end %s: %v %v", s.ID, ended, err)
		}
		if err := bus.Publish(ctx, Event{Kind: Terminated, Session: ended[0], At: *ended[0].EndedAt}); err != nil {
			t.Fatal(err)
		}
	}

	pu, _ := url.Parse(dsn)
	proxy := startProxy(t, pu.Host)
	viaProxy := *pu
	viaProxy.Host = proxy.ln.Addr().String()
	sender := &countingStore{DB: store}
	a := newBus(t, sender, dsn, "a")
	b := newBus(t, store, viaProxy.String(), "b")
	sub, err := b.Subscribe(ctx, Filter{UserID: u.ID}, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	end(a, sessions[0])
	if got := receive(t, sub, 1); got[0].Session.ID != sessions[0].ID {
		t.Fatalf("delivered %s, want %s", got[0].Session.ID, sessions[0].ID)
	}

	// Drop b's listener and keep it from reconnecting.
	proxy.paused.Store(true)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, ListenerApplicationName); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "b's listener to notice", func() bool { return !b.Listening() })

	// Two terminations are notified while b cannot hear them.
	sentBefore := len(sender.sent())
	end(a, sessions[1])
	end(a, sessions[2])
	waitUntil(t, "a to send its notifications", func() bool { return len(sender.sent()) > sentBefore })
	waitUntil(t, "a's notifications to be flushed", func() bool { return len(a.queue) == 0 })

	proxy.paused.Store(false)
	waitUntil(t, "b's listener to reconnect", b.Listening)
	got := receive(t, sub, 2)
	want := map[string]bool{sessions[1].ID: true, sessions[2].ID: true}
	for _, e := range got {
		if !want[e.Session.ID] || e.Kind != Terminated || e.Session.EndReason != model.EndRevokedByAdmin {
			t.Fatalf("after the gap: %s of %s (%s), want the terminations sent meanwhile", e.Kind, e.Session.ID, e.Session.EndReason)
		}
		delete(want, e.Session.ID)
	}

	// Nothing is delivered twice: the next event is the next termination.
	end(a, sessions[3])
	if got := receive(t, sub, 1); got[0].Session.ID != sessions[3].ID {
		t.Fatalf("delivered %s (%s), want only the new termination %s", got[0].Session.ID, got[0].Kind, sessions[3].ID)
	}
}
