package main

// The durability promise under test (docs/limits.md, "Durability"): a real
// sessiond under a bounded createSession/login load is killed with
// SIGKILL and restarted on the same database. Every session whose
// creation was answered still validates, none is half-written (each has
// its audit entry, in one transaction), deadlines set before the crash
// fire after the restart and reach clients that subscribed again, and a
// deadline that passed while the server was down is recorded as ending at
// that deadline, not at the restart.

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/secret"
)

func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and crashes a real server; skipped with -short")
	}
	dbs := []struct{ name, sync string }{{"SQLite synchronous FULL", "FULL"}, {"SQLite synchronous NORMAL", "NORMAL"}, {"PostgreSQL", ""}}
	for _, d := range dbs {
		t.Run(d.name, func(t *testing.T) {
			var dsn string
			if d.sync == "" {
				graphtest.RequirePostgres(t)
				dsn = graphtest.FreshDatabase(t)
			} else {
				dsn = filepath.Join(t.TempDir(), "sessiond.db")
			}
			crashAndRecover(t, dsn, d.sync)
		})
	}
}

const (
	crashPassword = "correct horse battery"
	crashUA       = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
)

type crashSession struct {
	Token   string
	Session struct {
		ID        string
		ExpiresAt time.Time
	}
}

func crashAndRecover(t *testing.T, dsn, synchronous string) {
	key := secret.NewToken(secret.AdminKeyPrefix)
	// One scaled timeline for both processes: a minute passes in a second,
	// and the restarted process continues the first one's clock.
	args := []string{"-time-scale", "60", "-time-origin", time.Now().UTC().Format(time.RFC3339Nano)}
	if synchronous != "" {
		args = append(args, "-sqlite-synchronous", synchronous)
	}
	c1 := startChild(t, dsn, key, args...)

	tenant := func(name string, idleMinutes int) (tenantID, userID, email string) {
		var tn struct{ CreateTenant struct{ ID string } }
		c1.must(t, key, `mutation($n: String!) { createTenant(input: {name: $n}) { id } }`, map[string]any{"n": name}, &tn)
		email = name + "@example.com"
		var u struct{ CreateUser struct{ ID string } }
		c1.must(t, key, `mutation($e: String!, $t: ID!, $p: String) { createUser(input: {email: $e, name: "N", password: $p, tenantId: $t}) { id } }`,
			map[string]any{"e": email, "t": tn.CreateTenant.ID, "p": crashPassword}, &u)
		if idleMinutes > 0 {
			c1.must(t, key, `mutation($t: ID, $m: Int!) { updateSessionPolicy(tenantId: $t, input: {idleTimeout: {enabled: true, duration: {value: $m, unit: MINUTES}}}) { terminatedSessions } }`,
				map[string]any{"t": tn.CreateTenant.ID, "m": idleMinutes}, nil)
		}
		return tn.CreateTenant.ID, u.CreateUser.ID, email
	}
	loadTenant, loadUser, loadEmail := tenant("load", 0)
	// Deadlines 20 scaled minutes away (20 s): after the restart, with room
	// for a slow start on a loaded machine.
	laterTenant, laterUser, _ := tenant("later", 20)
	// Deadlines 1 scaled minute away (1 s): while the server is down.
	downTenant, downUser, _ := tenant("down", 1)

	create := func(c *child, userID, tenantID string) (crashSession, error) {
		var out struct{ CreateSession crashSession }
		r, err := c.do(key, `mutation($u: ID!, $t: ID!, $a: String) { createSession(input: {userId: $u, tenantId: $t, userAgent: $a}) { token session { id expiresAt } } }`,
			map[string]any{"u": userID, "t": tenantID, "a": crashUA})
		if err != nil || len(r.Errors) > 0 {
			return out.CreateSession, errOr(err, r)
		}
		return out.CreateSession, json.Unmarshal(r.Data, &out)
	}
	var later []crashSession
	for range 5 {
		s, err := create(c1, laterUser, laterTenant)
		if err != nil {
			t.Fatal(err)
		}
		later = append(later, s)
	}

	// The load: four workers creating sessions and logging in until the
	// process dies under them. Only answered creations are remembered.
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	ctx, stopLoad := context.WithCancel(context.Background())
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				var token string
				if (i+w)%4 == 0 {
					var out struct{ Login struct{ Token string } }
					r, err := c1.do("", `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }`, map[string]any{"e": loadEmail, "p": crashPassword})
					if err != nil || len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil {
						return
					}
					token = out.Login.Token
				} else {
					s, err := create(c1, loadUser, loadTenant)
					if err != nil {
						return
					}
					token = s.Token
				}
				mu.Lock()
				acked = append(acked, token)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	var down []crashSession
	for range 5 {
		s, err := create(c1, downUser, downTenant)
		if err != nil {
			t.Fatal(err)
		}
		down = append(down, s)
	}
	c1.kill() // SIGKILL, with the load still running
	stopLoad()
	wg.Wait()
	if len(acked) < 5 {
		t.Fatalf("only %d sessions were acknowledged before the crash; the load did not run", len(acked))
	}
	// Stay down until the short deadlines have passed.
	time.Sleep(2 * time.Second)

	c2 := startChild(t, dsn, key, args...)
	t.Logf("%d sessions acknowledged before the kill", len(acked))

	// Re-subscribe the sessions whose deadlines are still ahead first.
	streams := make([]<-chan json.RawMessage, len(later))
	for i, s := range later {
		streams[i] = c2.subscribe(t, s.Token, `subscription { sessionTerminated { id endedAt endReason } }`)
	}

	t.Run("every acknowledged session validates", func(t *testing.T) {
		for _, tok := range acked {
			r, err := c2.do(tok, `{ me { session { id } } }`, nil)
			if err != nil || len(r.Errors) > 0 {
				t.Fatalf("an acknowledged token is refused after the crash: %v %+v", err, r.Errors)
			}
		}
	})

	t.Run("no session is half-written", func(t *testing.T) {
		driver := "sqlite"
		if synchronous == "" {
			driver = "pgx"
		}
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var orphans, missing, total int
		if err := db.QueryRow(`SELECT count(*) FROM sessions s WHERE NOT EXISTS
			(SELECT 1 FROM audit_log a WHERE a.action = 'session.created' AND a.target_id = s.id)`).Scan(&orphans); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT count(*) FROM audit_log a WHERE a.action = 'session.created' AND NOT EXISTS
			(SELECT 1 FROM sessions s WHERE s.id = a.target_id)`).Scan(&missing); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT count(*) FROM sessions WHERE token_hash = '' OR expires_at IS NULL`).Scan(&total); err != nil {
			t.Fatal(err)
		}
		if orphans != 0 || missing != 0 || total != 0 {
			t.Fatalf("%d sessions without their audit entry, %d audit entries without their session, %d rows without a token hash or deadline", orphans, missing, total)
		}
		if driver == "sqlite" {
			var check string
			if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
				t.Fatalf("integrity_check = %q (%v), want ok", check, err)
			}
		}
	})

	t.Run("deadlines set before the crash fire after it and reach re-subscribed clients", func(t *testing.T) {
		for i, ch := range streams {
			select {
			case raw, ok := <-ch:
				if !ok {
					t.Fatalf("session %d: the connection closed without the event", i)
				}
				var ev struct {
					Data struct {
						SessionTerminated struct {
							ID        string
							EndedAt   time.Time
							EndReason string
						}
					}
				}
				if err := json.Unmarshal(raw, &ev); err != nil {
					t.Fatal(err)
				}
				e := ev.Data.SessionTerminated
				if e.ID != later[i].Session.ID || e.EndReason != "IDLE_TIMEOUT" || e.EndedAt.Before(later[i].Session.ExpiresAt) {
					t.Fatalf("event %+v, want %s ended IDLE_TIMEOUT at or after %v", e, later[i].Session.ID, later[i].Session.ExpiresAt)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("session %d: no sessionTerminated within 30 s of its deadline", i)
			}
		}
	})

	t.Run("a deadline that passed while down is recorded as ending at it", func(t *testing.T) {
		var out struct {
			User struct {
				Sessions []struct {
					ID        string
					EndedAt   *time.Time
					EndReason *string
				}
			}
		}
		var v struct {
			ID        string
			EndedAt   *time.Time
			EndReason *string
		}
		deadline := time.Now().Add(20 * time.Second)
		for _, s := range down {
			for {
				c2.must(t, key, `query($u: ID!) { user(id: $u) { sessions(includeEnded: true) { id endedAt endReason } } }`, map[string]any{"u": downUser}, &out)
				v.EndedAt = nil
				for _, x := range out.User.Sessions {
					if x.ID == s.Session.ID {
						v = x
					}
				}
				if v.EndedAt != nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if v.EndedAt == nil || v.EndReason == nil || *v.EndReason != "IDLE_TIMEOUT" {
				t.Fatalf("session %s: endedAt %v reason %v, want ended IDLE_TIMEOUT", s.Session.ID, v.EndedAt, v.EndReason)
			}
			if !v.EndedAt.Equal(s.Session.ExpiresAt) {
				t.Fatalf("session %s is recorded as ending at %v, want its deadline %v (not the restart)", s.Session.ID, v.EndedAt, s.Session.ExpiresAt)
			}
		}
	})
}

func errOr(err error, r gqlResult) error {
	if err != nil {
		return err
	}
	return &gqlError{r}
}

type gqlError struct{ r gqlResult }

func (e *gqlError) Error() string { b, _ := json.Marshal(e.r.Errors); return string(b) }
