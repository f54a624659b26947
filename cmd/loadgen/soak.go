package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sessiond/sessiond/internal/app"
)

// soak mixes logins (right passwords, and an attacker's wrong ones),
// validations, logouts, revokes, policy changes and subscriptions for a
// while on one SQLite instance or two PostgreSQL instances, checking as it
// runs that:
//
//   - no user ever has more live sessions than the policy's limit (checked
//     between policy changes, so the limit read is the one in force);
//   - every session end is pushed exactly once to each environment-wide
//     sessionEvents watcher (one per instance) and to the ended session's
//     own sessionTerminated subscriber;
//   - no request fails but with the expected refusals (an ended token's
//     UNAUTHENTICATED, the attacker's UNAUTHENTICATED and RATE_LIMITED,
//     a victim's RATE_LIMITED while its email is over the ceiling).
//
// It prints its figures and exits non-zero if an invariant broke.
func soak(args []string) error {
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	d := fs.Duration("duration", 60*time.Second, "how long to run")
	pg := fs.String("postgres", "", "run two instances on a fresh database next to this PostgreSQL URL instead of one on SQLite")
	nUsers := fs.Int("users", 20, "users (the first -victims are also attacked)")
	nVictims := fs.Int("victims", 4, "users whose emails an attacker guesses at")
	clients := fs.Int("clients", 8, "concurrent legitimate clients")
	synchronous := fs.String("sqlite-synchronous", "FULL", "SQLite's synchronous setting (FULL or NORMAL)")
	_ = fs.Parse(args)

	ctx := context.Background()
	dsn, drop, err := freshPostgres(*pg)
	if err != nil {
		return err
	}
	defer drop()
	cfg := app.Config{Database: dsn, TrustProxyHeaders: true, SQLiteSynchronous: *synchronous}
	first, err := start(ctx, cfg)
	if err != nil {
		return err
	}
	defer first.close()
	nodes := []*instance{first}
	if *pg != "" {
		cfg.AdminKey = first.key
		second, err := start(ctx, cfg)
		if err != nil {
			return err
		}
		defer second.close()
		nodes = append(nodes, second)
	}
	s := &soaker{nodes: nodes, limit: 3, unexpected: map[string]int{}, pushes: map[string][]int{}, ended: map[string]bool{}, latency: map[string][]time.Duration{}}
	if err := s.setup(*nUsers); err != nil {
		return err
	}
	for i, n := range nodes {
		if err := s.watch(n, i); err != nil {
			return fmt.Errorf("watch events on instance %d: %w", i, err)
		}
	}

	runCtx, stop := context.WithTimeout(ctx, *d)
	defer stop()
	var wg sync.WaitGroup
	spawn := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(runCtx) }()
	}
	for c := range *clients {
		spawn(func(ctx context.Context) { s.client(ctx, c) })
	}
	spawn(func(ctx context.Context) { s.attacker(ctx, *nVictims) })
	spawn(s.policyChanger)
	spawn(s.limitChecker)
	start := time.Now()
	wg.Wait()
	elapsed := time.Since(start)

	// Let the last pushes arrive, then check every end against them.
	time.Sleep(3 * time.Second)
	if err := s.checkPushes(); err != nil {
		return err
	}
	s.report(storeName(*pg), len(nodes), elapsed, *nVictims)
	if len(s.violations) > 0 {
		return fmt.Errorf("%d invariant violations; first: %s", len(s.violations), s.violations[0])
	}
	return nil
}

type soakUser struct{ id, email string }

type soakSession struct {
	id, token string
	user      int
	sub       *termSub // nil when not subscribed
}

// termSub is one sessionTerminated subscriber: it counts the events it got.
type termSub struct {
	conn   *websocket.Conn
	events atomic.Int32
}

type soaker struct {
	nodes    []*instance
	tenantID string
	users    []soakUser

	// policyMu: the limit checker reads under RLock, the policy changer
	// changes the limit under Lock, so a check never straddles a change.
	policyMu sync.RWMutex
	limit    int

	mu         sync.Mutex
	sessions   []*soakSession
	unexpected map[string]int   // what failed, by kind and answer
	pushes     map[string][]int // session id → TERMINATED events per watcher
	ended      map[string]bool  // sessions this run saw end
	violations []string
	endedTotal int
	latency    map[string][]time.Duration // by operation

	// figures
	logins, loginsSlowed, validations, validationsEnded, logouts, revokes, policyChanges atomic.Int64
	limitChecks, guessesChecked, guessesRefused, subscribed, subscribeRaced              atomic.Int64
	maxLive                                                                              atomic.Int64
}

const soakPassword = "correct horse battery staple"

func (s *soaker) violate(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.violations) < 100 {
		s.violations = append(s.violations, fmt.Sprintf(format, args...))
	}
}

func (s *soaker) unexpectedAnswer(kind, code, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := kind + ": " + code
	if s.unexpected[k] == 0 {
		s.violations = append(s.violations, k+" ("+msg+")")
	}
	s.unexpected[k]++
}

func (s *soaker) setup(n int) error {
	in := s.nodes[0]
	var t struct{ CreateTenant struct{ ID string } }
	if err := in.do(`mutation { createTenant(input: {name: "Soak"}) { id } }`, nil, in.key, &t); err != nil {
		return err
	}
	s.tenantID = t.CreateTenant.ID
	for i := range n {
		u := soakUser{email: fmt.Sprintf("soak%d@load.example", i)}
		var out struct{ CreateUser struct{ ID string } }
		if err := in.do(`mutation($e: String!, $t: ID!, $p: String) { createUser(input: {email: $e, name: "Soak user", password: $p, tenantId: $t}) { id } }`,
			map[string]any{"e": u.email, "t": s.tenantID, "p": soakPassword}, in.key, &out); err != nil {
			return err
		}
		u.id = out.CreateUser.ID
		s.users = append(s.users, u)
	}
	return s.setLimit(s.limit)
}

func (s *soaker) setLimit(n int) error {
	in := s.nodes[rand.IntN(len(s.nodes))]
	return in.do(`mutation($t: ID, $n: Int) { updateSessionPolicy(tenantId: $t, input: {maxConcurrentSessions: {enabled: true, maxSessions: $n}}) { terminatedSessions } }`,
		map[string]any{"t": s.tenantID, "n": n}, in.key, nil)
}

// answer posts a request and returns its first error's code ("" for none).
func (s *soaker) answer(in *instance, query string, vars map[string]any, token, ip string, out any) (code string, ext map[string]any, msg string) {
	start := time.Now()
	defer func() {
		op := rootField(query)
		if ip != "" && ip[:3] == "203" {
			op = "attacker " + op
		}
		s.mu.Lock()
		s.latency[op] = append(s.latency[op], time.Since(start))
		s.mu.Unlock()
	}()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, in.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	res, err := in.client.Do(req)
	if err != nil {
		return "TRANSPORT", nil, err.Error()
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var r struct {
		Data   json.RawMessage
		Errors []struct {
			Message    string
			Extensions map[string]any
		}
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return "UNDECODABLE", nil, string(raw)
	}
	if len(r.Errors) > 0 {
		c, _ := r.Errors[0].Extensions["code"].(string)
		return c, r.Errors[0].Extensions, r.Errors[0].Message
	}
	if out != nil {
		_ = json.Unmarshal(r.Data, out)
	}
	return "", nil, ""
}

// client is one legitimate user agent: it logs in, validates, subscribes,
// logs out and revokes, from its own address.
func (s *soaker) client(ctx context.Context, c int) {
	ip := fmt.Sprintf("10.1.%d.%d", c/200, c%200+1)
	for ctx.Err() == nil {
		in := s.nodes[rand.IntN(len(s.nodes))]
		switch op := rand.IntN(20); {
		case op < 5:
			s.login(in, rand.IntN(len(s.users)), ip)
		case op < 16:
			ses := s.pick()
			if ses == nil {
				continue
			}
			code, ext, msg := s.answer(in, `{ me { session { id } } }`, nil, ses.token, ip, nil)
			switch {
			case code == "":
				s.validations.Add(1)
			case code == "UNAUTHENTICATED" && ext["reason"] != nil:
				s.validationsEnded.Add(1)
			default:
				s.unexpectedAnswer("validate", code, msg)
			}
		case op < 18:
			ses := s.pick()
			if ses == nil {
				continue
			}
			code, ext, msg := s.answer(in, `mutation { logout { id } }`, nil, ses.token, ip, nil)
			switch {
			case code == "":
				s.logouts.Add(1)
			case code == "UNAUTHENTICATED" && ext["reason"] != nil:
			default:
				s.unexpectedAnswer("logout", code, msg)
			}
		default:
			ses := s.pick()
			if ses == nil {
				continue
			}
			code, _, msg := s.answer(in, `mutation($id: ID!) { revokeSession(id: $id) { id } }`, map[string]any{"id": ses.id}, in.key, "", nil)
			if code != "" {
				s.unexpectedAnswer("revokeSession", code, msg)
			} else {
				s.revokes.Add(1)
			}
		}
	}
}

func (s *soaker) login(in *instance, u int, ip string) {
	var out struct {
		Login struct {
			Token   string
			Session struct{ ID string }
		}
	}
	code, ext, msg := s.answer(in, `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token session { id } } }`,
		map[string]any{"e": s.users[u].email, "p": soakPassword}, "", ip, &out)
	switch code {
	case "":
	case "RATE_LIMITED":
		// Expected only while an attacker keeps the email over its ceiling:
		// the right password is slowed, never locked out.
		if ra, _ := ext["retryAfter"].(float64); ra <= 0 || ra > 60 {
			s.violate("login slowed with retryAfter %v, want 1–60 s", ext["retryAfter"])
		}
		s.loginsSlowed.Add(1)
		return
	default:
		s.unexpectedAnswer("login", code, msg)
		return
	}
	s.logins.Add(1)
	ses := &soakSession{id: out.Login.Session.ID, token: out.Login.Token, user: u}
	// A quarter of the sessions are watched by their own subscriber.
	if rand.IntN(4) == 0 {
		if sub, err := s.subscribeTerminated(in, ses.token); err == nil {
			ses.sub = sub
			s.subscribed.Add(1)
		} else {
			// The session ended before the subscription started (evicted by
			// a newer login, revoked): an expected race, not a failure.
			s.subscribeRaced.Add(1)
		}
	}
	s.mu.Lock()
	s.sessions = append(s.sessions, ses)
	s.mu.Unlock()
}

func (s *soaker) pick() *soakSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) == 0 {
		return nil
	}
	return s.sessions[rand.IntN(len(s.sessions))]
}

// subscribeTerminated subscribes to sessionTerminated and counts events.
func (s *soaker) subscribeTerminated(in *instance, token string) (*termSub, error) {
	c, _, err := (&websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}).Dial(wsURLOf(in.url), nil)
	if err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}); err != nil {
		c.Close()
		return nil, err
	}
	var ack struct{ Type string }
	if err := c.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		c.Close()
		return nil, fmt.Errorf("no connection_ack")
	}
	if err := c.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": terminatedQuery}}); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetReadDeadline(time.Time{})
	sub := &termSub{conn: c}
	go func() {
		defer c.Close()
		for {
			var m struct{ Type string }
			if err := c.ReadJSON(&m); err != nil {
				return
			}
			switch m.Type {
			case "next":
				sub.events.Add(1)
			case "ping":
				_ = c.WriteJSON(map[string]string{"type": "pong"})
			}
		}
	}()
	return sub, nil
}

// watch subscribes to every session event of the environment on in, and
// counts TERMINATED events per session for watcher w.
func (s *soaker) watch(in *instance, w int) error {
	c, _, err := (&websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}).Dial(wsURLOf(in.url), nil)
	if err != nil {
		return err
	}
	if err := c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + in.key}}); err != nil {
		return err
	}
	var ack struct{ Type string }
	if err := c.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		return fmt.Errorf("no connection_ack (%v)", err)
	}
	if err := c.WriteJSON(map[string]any{"id": "w", "type": "subscribe", "payload": map[string]any{"query": `subscription { sessionEvents { kind session { id } } }`}}); err != nil {
		return err
	}
	go func() {
		for {
			var m struct {
				Type    string
				Payload struct {
					Data struct {
						SessionEvents struct {
							Kind    string
							Session struct{ ID string }
						}
					}
				}
			}
			if err := c.ReadJSON(&m); err != nil {
				s.violate("watcher %d disconnected: %v", w, err)
				return
			}
			switch m.Type {
			case "ping":
				_ = c.WriteJSON(map[string]string{"type": "pong"})
			case "next":
				ev := m.Payload.Data.SessionEvents
				if ev.Kind != "TERMINATED" {
					continue
				}
				s.mu.Lock()
				p := s.pushes[ev.Session.ID]
				if p == nil {
					p = make([]int, len(s.nodes))
					s.pushes[ev.Session.ID] = p
				}
				p[w]++
				s.ended[ev.Session.ID] = true
				s.mu.Unlock()
			}
		}
	}()
	return nil
}

// attacker guesses passwords for the victims' emails from many addresses,
// as fast as it is answered.
func (s *soaker) attacker(ctx context.Context, victims int) {
	for i := 0; ctx.Err() == nil; i++ {
		in := s.nodes[i%len(s.nodes)]
		ip := fmt.Sprintf("203.0.%d.%d", (i/250)%250, i%250+1)
		code, _, msg := s.answer(in, `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }`,
			map[string]any{"e": s.users[i%victims].email, "p": fmt.Sprintf("guess-%d", i)}, "", ip, nil)
		switch code {
		case "UNAUTHENTICATED":
			s.guessesChecked.Add(1)
		case "RATE_LIMITED":
			s.guessesRefused.Add(1)
		default:
			s.unexpectedAnswer("attacker login", code, msg)
		}
	}
}

// policyChanger moves the concurrency limit between 2 and 4 every 2 s.
func (s *soaker) policyChanger(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.policyMu.Lock()
		next := 2 + (s.limit-1)%3 // 3 → 4 → 2 → 3 …
		if err := s.setLimit(next); err != nil {
			s.unexpectedAnswer("updateSessionPolicy", "ERROR", err.Error())
		} else {
			s.limit = next
			s.policyChanges.Add(1)
		}
		s.policyMu.Unlock()
	}
}

// limitChecker reads every user's live session count, between policy
// changes, and requires it within the limit in force.
func (s *soaker) limitChecker(ctx context.Context) {
	for ctx.Err() == nil {
		s.policyMu.RLock()
		limit := s.limit
		var out struct {
			Users struct {
				Edges []struct {
					Node struct {
						ID                 string
						ActiveSessionCount int
					}
				}
			}
		}
		in := s.nodes[rand.IntN(len(s.nodes))]
		err := in.do(`query($t: ID) { users(tenantId: $t, first: 100) { edges { node { id activeSessionCount } } } }`, map[string]any{"t": s.tenantID}, in.key, &out)
		s.policyMu.RUnlock()
		if err != nil {
			s.unexpectedAnswer("users", "ERROR", err.Error())
			continue
		}
		s.limitChecks.Add(1)
		for _, e := range out.Users.Edges {
			n := int64(e.Node.ActiveSessionCount)
			if n > s.maxLive.Load() {
				s.maxLive.Store(n)
			}
			if e.Node.ActiveSessionCount > limit {
				s.violate("user %s has %d live sessions, the limit is %d", e.Node.ID, e.Node.ActiveSessionCount, limit)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkPushes compares every ended session of the run (from the store)
// with the pushes counted.
func (s *soaker) checkPushes() error {
	in := s.nodes[0]
	endedInStore := map[string]bool{}
	for _, u := range s.users {
		var out struct {
			User struct {
				Sessions []struct {
					ID     string
					Active bool
				}
			}
		}
		if err := in.do(`query($u: ID!) { user(id: $u) { sessions(includeEnded: true) { id active } } }`, map[string]any{"u": u.id}, in.key, &out); err != nil {
			return err
		}
		for _, v := range out.User.Sessions {
			if !v.Active {
				endedInStore[v.ID] = true
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range endedInStore {
		p := s.pushes[id]
		for w := range s.nodes {
			if got := at(p, w); got != 1 {
				s.violations = append(s.violations, fmt.Sprintf("session %s ended; watcher %d got %d TERMINATED events, want 1", id, w, got))
			}
		}
	}
	for id := range s.pushes {
		if !endedInStore[id] {
			s.violations = append(s.violations, fmt.Sprintf("session %s was pushed as ended but is active in the store", id))
		}
	}
	for _, ses := range s.sessions {
		if ses.sub == nil {
			continue
		}
		want := int32(0)
		if endedInStore[ses.id] {
			want = 1
		}
		if got := ses.sub.events.Load(); got != want {
			s.violations = append(s.violations, fmt.Sprintf("session %s: its sessionTerminated subscriber got %d events, want %d", ses.id, got, want))
		}
		ses.sub.conn.Close()
	}
	s.endedTotal = len(endedInStore)
	return nil
}

// rootField names a request by its first root field: "login", "me"…
func rootField(query string) string {
	i := strings.IndexByte(query, '{')
	if i < 0 {
		return query
	}
	f := strings.TrimSpace(query[i+1:])
	if j := strings.IndexAny(f, "({ "); j >= 0 {
		f = f[:j]
	}
	return f
}

func at(p []int, i int) int {
	if i < len(p) {
		return p[i]
	}
	return 0
}

func (s *soaker) report(store string, nodes int, elapsed time.Duration, victims int) {
	secs := elapsed.Seconds()
	fmt.Printf("soak on %s, %d instance(s), %s\n", store, nodes, elapsed.Round(time.Second))
	fmt.Printf("  logins            %8d (%.0f/s), right passwords slowed on attacked emails: %d\n", s.logins.Load(), float64(s.logins.Load())/secs, s.loginsSlowed.Load())
	fmt.Printf("  validations       %8d (%.0f/s), of ended sessions (UNAUTHENTICATED + reason): %d\n", s.validations.Load(), float64(s.validations.Load())/secs, s.validationsEnded.Load())
	fmt.Printf("  logouts           %8d, revokes %d, policy changes %d\n", s.logouts.Load(), s.revokes.Load(), s.policyChanges.Load())
	fmt.Printf("  sessions ended    %8d, each pushed once to %d environment watcher(s)\n", s.endedTotal, nodes)
	fmt.Printf("  own subscribers   %8d (+%d that raced their session's end)\n", s.subscribed.Load(), s.subscribeRaced.Load())
	fmt.Printf("  attacker guesses  %8d checked, %d refused RATE_LIMITED (%d victims, a new address per guess)\n", s.guessesChecked.Load(), s.guessesRefused.Load(), victims)
	fmt.Printf("  limit checks      %8d, most live sessions seen for one user: %d (limit 2–4)\n", s.limitChecks.Load(), s.maxLive.Load())
	ops := make([]string, 0, len(s.latency))
	for op := range s.latency {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		fmt.Printf("  latency %-22s %s\n", op, summary(s.latency[op]))
	}
	kinds := make([]string, 0, len(s.unexpected))
	for k := range s.unexpected {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Printf("  UNEXPECTED %s × %d\n", k, s.unexpected[k])
	}
	if len(s.violations) == 0 {
		fmt.Println("  invariants held: live sessions ≤ limit, every end pushed once to each subscriber, no unexpected errors")
	} else {
		for _, v := range slices.Clip(s.violations)[:min(len(s.violations), 10)] {
			fmt.Println("  VIOLATION", v)
		}
	}
}
