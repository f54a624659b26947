package graph_test

// Several sessiond instances on one PostgreSQL database. These tests need
// SESSIOND_TEST_POSTGRES and skip without it.

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/secret"
)

// cluster starts n instances on one fresh PostgreSQL database, sharing the
// admin key and, when clk is not nil, a fake clock.
func cluster(t *testing.T, n int, clk clock.Clock) []*graphtest.Server {
	t.Helper()
	return clusterWith(t, n, clk)
}

// clusterWith is cluster with extra options for every instance.
func clusterWith(t *testing.T, n int, clk clock.Clock, extra ...graphtest.Option) []*graphtest.Server {
	t.Helper()
	graphtest.RequirePostgres(t)
	dsn := graphtest.FreshDatabase(t)
	opts := append([]graphtest.Option{graphtest.WithDatabase(dsn), graphtest.InCluster()}, extra...)
	if clk != nil {
		opts = append(opts, graphtest.WithClock(clk))
	}
	first := graphtest.Start(t, opts...)
	out := []*graphtest.Server{first}
	for range n - 1 {
		out = append(out, graphtest.Start(t, append(opts, graphtest.WithAdminKey(first.AdminKey))...))
	}
	// Wait until every instance listens for the others' events.
	waitFor(t, "all listeners up", func() bool {
		for _, s := range out {
			if b, ok := s.App.Bus.(*events.PG); !ok || !b.Listening() {
				return false
			}
		}
		return true
	})
	return out
}

// wsSubscribe opens a graphql-transport-ws subscription on s and returns a
// channel of the raw `next` payloads.
func wsSubscribe(t *testing.T, s *graphtest.Server, token, query string) <-chan string {
	t.Helper()
	url := "ws" + strings.TrimPrefix(s.URL, "http")
	c, _, err := (&websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}).Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}); err != nil {
		t.Fatal(err)
	}
	var ack struct{ Type string }
	if err := c.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("want connection_ack, got %q (%v)", ack.Type, err)
	}
	if err := c.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query}}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Time{})
	out := make(chan string, 64)
	go func() {
		defer close(out)
		for {
			var m struct {
				Type    string
				Payload map[string]any
			}
			if err := c.ReadJSON(&m); err != nil {
				return
			}
			switch m.Type {
			case "next":
				out <- fmt.Sprint(m.Payload)
			case "ping":
				_ = c.WriteJSON(map[string]string{"type": "pong"})
			}
		}
	}()
	// Give the subscription a moment to register on the bus.
	time.Sleep(100 * time.Millisecond)
	return out
}

// expectPush waits for the next push that is not CREATED or EXPIRING_SOON
// and requires it to contain want.
func expectPush(t *testing.T, ch <-chan string, want string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got, ok := <-ch:
			if !ok {
				t.Fatalf("subscription closed before a push containing %q", want)
			}
			if strings.Contains(got, "EXPIRING_SOON") || strings.Contains(got, "kind:CREATED") {
				continue
			}
			if !strings.Contains(got, want) {
				t.Fatalf("want a push containing %q, got %s", want, got)
			}
			return got
		case <-timeout:
			t.Fatalf("no push containing %q within 10 s", want)
		}
	}
}

// expectNoPush requires that no push other than EXPIRING_SOON arrives.
func expectNoPush(t *testing.T, ch <-chan string, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case got, ok := <-ch:
			if !ok {
				return
			}
			if !strings.Contains(got, "EXPIRING_SOON") && !strings.Contains(got, "kind:CREATED") {
				t.Fatalf("want no further push, got %s", got)
			}
		case <-timeout:
			return
		}
	}
}

func TestClusterRevokeOnOneInstanceReachesSubscriberOnAnother(t *testing.T) {
	nodes := cluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	w := a.NewWorkspace("cluster-revoke")
	ses := a.Login(w.MemberEmail, w.Password, "")
	pushes := wsSubscribe(t, b, ses.Token, `subscription { sessionTerminated { id endReason } }`)
	a.Admin(`mutation($id: ID!) { revokeSession(id: $id) { id } }`, map[string]any{"id": ses.ID}, nil)
	expectPush(t, pushes, "REVOKED_BY_ADMIN")
	// And instance B refuses the token at once (its cache was evicted).
	b.MustFail(graphtest.Request{Query: `{ me { session { id } } }`, Token: ses.Token}, "UNAUTHENTICATED")
}

func TestClusterIdleTimeoutEndsAndPushesOnce(t *testing.T) {
	clk := clock.NewFake(time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC))
	nodes := cluster(t, 3, clk)
	w := nodes[0].NewWorkspace("cluster-idle")
	nodes[0].Admin(`mutation { updateSessionPolicy(input: {idleTimeout: {enabled: true, duration: {value: 30, unit: MINUTES}}}) { terminatedSessions } }`, nil, nil)
	ses := nodes[1].Login(w.MemberEmail, w.Password, "")
	watcher := nodes[0].Login(w.AdminEmail, w.Password, "")
	var streams []<-chan string
	for _, n := range nodes {
		streams = append(streams, wsSubscribe(t, n, watcher.Token, fmt.Sprintf(`subscription { sessionEvents(userId: %q) { kind reason session { id } } }`, w.MemberID)))
	}
	// The watcher keeps its own session alive; the member's goes idle.
	for range 4 {
		clk.Advance(8 * time.Minute)
		nodes[0].MustDo(graphtest.Request{Query: `mutation { recordActivity { id } }`, Token: watcher.Token}, nil)
		// Minutes pass between steps: more than the activity flush interval,
		// so the other instances see this activity before time moves on.
		if err := nodes[0].App.Sessions.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range streams {
		got := expectPush(t, s, "IDLE_TIMEOUT")
		if !strings.Contains(got, ses.ID) {
			t.Fatalf("instance %d: push for the wrong session: %s", i, got)
		}
	}
	for _, s := range streams {
		expectNoPush(t, s, 300*time.Millisecond)
	}
	var audit struct {
		AuditLog struct {
			Edges []struct {
				Node struct{ Action, TargetID string }
			}
		}
	}
	nodes[2].Admin(`{ auditLog(first: 200) { edges { node { action targetId } } } }`, nil, &audit)
	ends := 0
	for _, e := range audit.AuditLog.Edges {
		if e.Node.Action == "session.ended" && e.Node.TargetID == ses.ID {
			ends++
		}
	}
	if ends != 1 {
		t.Fatalf("want the session ended exactly once in the audit log, got %d", ends)
	}
}

func TestClusterSchedulerHandsOverWhenTheLeaderStops(t *testing.T) {
	clk := clock.NewFake(time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC))
	nodes := cluster(t, 2, clk)
	var leader, follower *graphtest.Server
	waitFor(t, "one instance to lead", func() bool {
		for i, n := range nodes {
			if n.App.Scheduler.Leading() {
				leader, follower = n, nodes[1-i]
				return true
			}
		}
		return false
	})
	w := follower.NewWorkspace("cluster-handover")
	follower.Admin(`mutation { updateSessionPolicy(input: {idleTimeout: {enabled: true, duration: {value: 10, unit: MINUTES}}}) { terminatedSessions } }`, nil, nil)
	ses := follower.Login(w.MemberEmail, w.Password, "")
	pushes := wsSubscribe(t, follower, follower.AdminKey, fmt.Sprintf(`subscription { sessionEvents(userId: %q) { kind reason session { id } } }`, w.MemberID))

	if err := leader.App.Close(); err != nil {
		t.Fatalf("stop the leader: %v", err)
	}
	waitFor(t, "the follower to take over the scheduler", follower.App.Scheduler.Leading)
	clk.Advance(11 * time.Minute)
	got := expectPush(t, pushes, "IDLE_TIMEOUT")
	if !strings.Contains(got, ses.ID) {
		t.Fatalf("push for the wrong session: %s", got)
	}
}

func TestClusterConcurrencyLimitHoldsAcrossInstances(t *testing.T) {
	nodes := cluster(t, 3, nil)
	w := nodes[0].NewWorkspace("cluster-limit")
	nodes[0].Admin(`mutation { updateSessionPolicy(input: {maxConcurrentSessions: {enabled: true, maxSessions: 3}}) { terminatedSessions } }`, nil, nil)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i%3].CreateSession(w.MemberID, w.TenantID)
		}()
	}
	wg.Wait()
	var out struct {
		User struct{ ActiveSessionCount int }
	}
	nodes[1].Admin(`query($id: ID!) { user(id: $id) { activeSessionCount } }`, map[string]any{"id": w.MemberID}, &out)
	if out.User.ActiveSessionCount != 3 {
		t.Fatalf("want exactly 3 active sessions after 50 concurrent logins on 3 instances, got %d", out.User.ActiveSessionCount)
	}
}

func TestClusterListenerReconnectsWithoutLosingTerminations(t *testing.T) {
	nodes := cluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	w := a.NewWorkspace("cluster-listener")
	ses := a.Login(w.MemberEmail, w.Password, "")
	pushes := wsSubscribe(t, b, ses.Token, `subscription { sessionTerminated { id endReason } }`)

	admin, err := sql.Open("pgx", a.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// Kill every listener connection, and revoke while they are down.
	if _, err := admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, events.ListenerApplicationName); err != nil {
		t.Fatalf("terminate listeners: %v", err)
	}
	a.Admin(`mutation($id: ID!) { revokeSession(id: $id) { id } }`, map[string]any{"id": ses.ID}, nil)
	expectPush(t, pushes, "REVOKED_BY_ADMIN")
	waitFor(t, "B's listener to reconnect", b.App.Bus.(*events.PG).Listening)
}

func TestClusterSurvivesPostgresGoingAway(t *testing.T) {
	nodes := cluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	w := a.NewWorkspace("cluster-outage")
	ses := a.Login(w.MemberEmail, w.Password, "")

	admin, err := sql.Open("pgx", os.Getenv(graphtest.PostgresEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	u, err := url.Parse(a.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	setAllowed := func(allowed bool) {
		t.Helper()
		if _, err := admin.Exec(fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %v`, dbName, allowed)); err != nil {
			t.Fatalf("allow connections %v: %v", allowed, err)
		}
		if !allowed {
			if _, err := admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, dbName); err != nil {
				t.Fatalf("terminate backends: %v", err)
			}
		}
	}
	setAllowed(false)
	t.Cleanup(func() { _, _ = admin.Exec(fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS true`, dbName)) })

	t.Run("requests fail with a clear INTERNAL error and readyz says not ready", func(t *testing.T) {
		waitFor(t, "B's listener to notice", func() bool { return !b.App.Bus.(*events.PG).Listening() })
		res := a.Do(graphtest.Request{Query: `{ tenants { id } }`, Token: a.AdminKey})
		if len(res.Errors) == 0 || res.Errors[0].Code() != "INTERNAL" || !strings.Contains(res.Errors[0].Message, "unavailable") {
			t.Fatalf("want INTERNAL 'the database is unavailable…', got %+v", res.Errors)
		}
		r, err := a.HTTP.Client().Get(a.HTTP.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 503 {
			t.Fatalf("readyz = %d during the outage, want 503", r.StatusCode)
		}
	})

	t.Run("instances recover without a restart", func(t *testing.T) {
		setAllowed(true)
		waitFor(t, "A to be ready again", func() bool {
			r, err := a.HTTP.Client().Get(a.HTTP.URL + "/readyz")
			if err != nil {
				return false
			}
			r.Body.Close()
			return r.StatusCode == 200
		})
		waitFor(t, "both listeners to re-listen", func() bool {
			return a.App.Bus.(*events.PG).Listening() && b.App.Bus.(*events.PG).Listening()
		})
		waitFor(t, "one instance to schedule again", func() bool {
			return a.App.Scheduler.Leading() || b.App.Scheduler.Leading()
		})
		pushes := wsSubscribe(t, b, ses.Token, `subscription { sessionTerminated { id endReason } }`)
		a.Admin(`mutation($id: ID!) { revokeSession(id: $id) { id } }`, map[string]any{"id": ses.ID}, nil)
		expectPush(t, pushes, "REVOKED_BY_ADMIN")
	})
}

// schedulerLockObjID is db's scheduler advisory lock key as pg_locks shows it.
const schedulerLockObjID = 0x5e555c4e

func TestClusterSchedulerSurvivesALostLockConnection(t *testing.T) {
	clk := clock.NewFake(time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC))
	nodes := cluster(t, 2, clk)
	waitFor(t, "one instance to lead", func() bool { return nodes[0].App.Scheduler.Leading() || nodes[1].App.Scheduler.Leading() })
	w := nodes[0].NewWorkspace("cluster-lock-loss")
	nodes[0].Admin(`mutation { updateSessionPolicy(input: {idleTimeout: {enabled: true, duration: {value: 10, unit: MINUTES}}}) { terminatedSessions } }`, nil, nil)
	ses := nodes[0].Login(w.MemberEmail, w.Password, "")
	pushes := wsSubscribe(t, nodes[1], nodes[1].AdminKey, fmt.Sprintf(`subscription { sessionEvents(userId: %q) { kind reason session { id } } }`, w.MemberID))

	// Crash the leader's hold on the lock: kill the connection holding it,
	// as a dead machine or a network cut would.
	admin, err := sql.Open("pgx", nodes[0].DBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	holder := func() int {
		var pid int
		if err := admin.QueryRow(`SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted`, schedulerLockObjID).Scan(&pid); err != nil {
			return 0
		}
		return pid
	}
	old := holder()
	if old == 0 {
		t.Fatal("no connection holds the scheduler lock")
	}
	if _, err := admin.Exec(`SELECT pg_terminate_backend($1)`, old); err != nil {
		t.Fatalf("kill the lock connection: %v", err)
	}
	waitFor(t, "another connection to hold the scheduler lock", func() bool { p := holder(); return p != 0 && p != old })
	waitFor(t, "exactly one instance to lead", func() bool { return nodes[0].App.Scheduler.Leading() != nodes[1].App.Scheduler.Leading() })
	clk.Advance(11 * time.Minute)
	got := expectPush(t, pushes, "IDLE_TIMEOUT")
	if !strings.Contains(got, ses.ID) {
		t.Fatalf("push for the wrong session: %s", got)
	}
}

func TestClusterInstancesStartingTogetherMigrateOnce(t *testing.T) {
	graphtest.RequirePostgres(t)
	dsn := graphtest.FreshDatabase(t)
	key := secret.NewToken(secret.AdminKeyPrefix)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := app.Open(context.Background(), app.Config{Database: dsn, AdminKey: key})
			if err != nil {
				errs <- err
				return
			}
			_ = a.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("an instance failed to start: %v", err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var applied, distinct int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT name) FROM bun_migrations`).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../migrations/postgres/*.up.sql")
	if applied != len(files) || distinct != len(files) {
		t.Fatalf("want each of the %d migrations applied once, got %d rows (%d distinct)", len(files), applied, distinct)
	}
}
