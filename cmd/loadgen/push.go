package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/secret"
)

// subscriber is one graphql-transport-ws client waiting for its push.
type subscriber struct {
	conn *websocket.Conn
	got  chan time.Time // when the first `next` arrived
}

// subscribe connects, authenticates with token and subscribes to query.
func subscribe(wsURL, token, query string) (*subscriber, error) {
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial(wsURL, nil)
	if err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}); err != nil {
		return nil, err
	}
	var ack struct{ Type string }
	if err := c.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		c.Close()
		return nil, fmt.Errorf("no connection_ack (%v, %q)", err, ack.Type)
	}
	if err := c.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query}}); err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Time{})
	s := &subscriber{conn: c, got: make(chan time.Time, 1)}
	go func() {
		for {
			var m struct{ Type string }
			if err := c.ReadJSON(&m); err != nil {
				return
			}
			switch m.Type {
			case "next":
				select {
				case s.got <- time.Now():
				default:
				}
			case "ping":
				_ = c.WriteJSON(map[string]string{"type": "pong"})
			}
		}
	}()
	return s, nil
}

func wsURLOf(httpURL string) string {
	u, _ := url.Parse(httpURL)
	u.Scheme = "ws"
	return u.String()
}

// importTokens stores n sessions for one user with known tokens.
func (in *instance) importTokens(ctx context.Context, tenantID, userID string, deadlines []time.Time) ([]string, error) {
	now := time.Now().UTC()
	tokens := make([]string, len(deadlines))
	batch := make([]model.Session, len(deadlines))
	for i, exp := range deadlines {
		tokens[i] = secret.NewToken(secret.SessionTokenPrefix)
		batch[i] = model.Session{
			ID: uuid.Must(uuid.NewV7()).String(), TokenHash: secret.HashToken(tokens[i]),
			UserID: userID, TenantID: tenantID, CreatedAt: now, LastActiveAt: now,
			IdleExpiresAt: exp, ExpiresAt: exp, IdleTimeout: exp.Sub(now), Device: "Load",
		}
	}
	return tokens, in.app.Store.ImportSessions(ctx, batch)
}

func connectAll(wsURL string, tokens []string, query string) ([]*subscriber, error) {
	subs := make([]*subscriber, len(tokens))
	var wg sync.WaitGroup
	errs := make(chan error, len(tokens))
	sem := make(chan struct{}, 32)
	for i, tok := range tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := subscribe(wsURL, tok, query)
			if err != nil {
				errs <- err
				return
			}
			subs[i] = s
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	// Let every subscription register before measuring.
	time.Sleep(300 * time.Millisecond)
	return subs, nil
}

func closeAll(subs []*subscriber) {
	for _, s := range subs {
		if s != nil {
			s.conn.Close()
		}
	}
}

func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	slices.Sort(ds)
	p := func(q float64) time.Duration { return ds[min(int(q*float64(len(ds))), len(ds)-1)] }
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", len(ds), p(.5).Round(10*time.Microsecond), p(.99).Round(10*time.Microsecond), ds[len(ds)-1].Round(10*time.Microsecond))
}

const terminatedQuery = `subscription { sessionTerminated { id endReason } }`

// push measures revocation latency, deadline latency and fan-out.
func push(args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	n := fs.Int("subscribers", 1000, "connected subscribers")
	samples := fs.Int("samples", 200, "revocations measured")
	_ = fs.Parse(args)
	ctx := context.Background()

	// Revocation: N subscribers, revoke one session at a time.
	in, err := start(ctx, app.Config{})
	if err != nil {
		return err
	}
	tenant, users, err := in.seed(1)
	if err != nil {
		return err
	}
	far := make([]time.Time, *n)
	for i := range far {
		far[i] = time.Now().Add(24 * time.Hour)
	}
	tokens, err := in.importTokens(ctx, tenant, users[0], far)
	if err != nil {
		return err
	}
	subs, err := connectAll(wsURLOf(in.url), tokens, terminatedQuery)
	if err != nil {
		return err
	}
	ids := make([]string, *n)
	for i, tok := range tokens {
		var me struct {
			Me struct{ Session struct{ ID string } }
		}
		if err := in.do(`{ me { session { id } } }`, nil, tok, &me); err != nil {
			return err
		}
		ids[i] = me.Me.Session.ID
	}
	var lat []time.Duration
	early := 0
	for i := range min(*samples, *n) {
		if err := in.do(`mutation($id: ID!) { revokeSession(id: $id) { id } }`, map[string]any{"id": ids[i]}, in.key, nil); err != nil {
			return err
		}
		responded := time.Now()
		select {
		case got := <-subs[i].got:
			d := got.Sub(responded)
			if d < 0 {
				early++
				d = 0
			}
			lat = append(lat, d)
		case <-time.After(5 * time.Second):
			return fmt.Errorf("no push for revoked session %d within 5 s", i)
		}
	}
	fmt.Printf("revocation push latency (revokeSession response → subscriber receives), %d subscribers connected: %s (%d pushes arrived before the response, counted as 0)\n", *n, summary(lat), early)
	closeAll(subs)
	in.close()

	// Fan-out: one user with N sessions, each subscribed.
	for _, how := range []string{"signOutUser", "revokeMySessions"} {
		in, err := start(ctx, app.Config{})
		if err != nil {
			return err
		}
		tenant, users, err := in.seed(1)
		if err != nil {
			return err
		}
		if err := in.do(`mutation { updateAdminPortal(input: {privacyAndSecurity: true, users: true, security: true}) { users } }`, nil, in.key, nil); err != nil {
			return err
		}
		count := *n
		if how == "revokeMySessions" {
			count++ // the caller's own session stays
		}
		deadlines := make([]time.Time, count)
		for i := range deadlines {
			deadlines[i] = time.Now().Add(24 * time.Hour)
		}
		tokens, err := in.importTokens(ctx, tenant, users[0], deadlines)
		if err != nil {
			return err
		}
		watch := tokens
		if how == "revokeMySessions" {
			watch = tokens[1:]
		}
		subs, err := connectAll(wsURLOf(in.url), watch, terminatedQuery)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if how == "signOutUser" {
			err = in.do(`mutation($u: ID!) { signOutUser(userId: $u) }`, map[string]any{"u": users[0]}, in.key, nil)
		} else {
			err = in.do(`mutation { revokeMySessions }`, nil, tokens[0], nil)
		}
		if err != nil {
			return err
		}
		responded := time.Since(t0)
		last := time.Duration(0)
		for i, s := range subs {
			select {
			case got := <-s.got:
				last = max(last, got.Sub(t0))
			case <-time.After(10 * time.Second):
				return fmt.Errorf("%s: subscriber %d got no push within 10 s", how, i)
			}
		}
		fmt.Printf("fan-out %s: %d sessions ended, all %d pushes delivered; response after %s, last push %s after the request\n",
			how, len(subs), len(subs), responded.Round(time.Millisecond), last.Round(time.Millisecond))
		closeAll(subs)
		in.close()
	}

	// Deadlines: N sessions with staggered idle deadlines, nobody calling.
	in, err = start(ctx, app.Config{})
	if err != nil {
		return err
	}
	defer in.close()
	tenant, users, err = in.seed(1)
	if err != nil {
		return err
	}
	base := time.Now().Add(5 * time.Second)
	deadlines := make([]time.Time, *n)
	for i := range deadlines {
		deadlines[i] = base.Add(time.Duration(i) * 10 * time.Millisecond).Truncate(time.Millisecond)
	}
	tokens, err = in.importTokens(ctx, tenant, users[0], deadlines)
	if err != nil {
		return err
	}
	subs, err = connectAll(wsURLOf(in.url), tokens, terminatedQuery)
	if err != nil {
		return err
	}
	if time.Now().After(base) {
		return fmt.Errorf("connecting took longer than the 5 s before the first deadline; lower -subscribers")
	}
	in.app.Scheduler.Wake(time.Time{})
	var late []time.Duration
	for i, s := range subs {
		select {
		case got := <-s.got:
			late = append(late, max(got.Sub(deadlines[i]), 0))
		case <-time.After(time.Until(deadlines[i]) + 10*time.Second):
			return fmt.Errorf("deadline push %d missing", i)
		}
	}
	fmt.Printf("deadline push lateness (push received − deadline), %d sessions, deadlines 10 ms apart: %s\n", len(late), summary(late))
	closeAll(subs)
	return nil
}

// memStats is what a child server reports about itself.
type memStats struct {
	HeapInuse  uint64 `json:"heapInuse"`
	StackInuse uint64 `json:"stackInuse"`
	Sys        uint64 `json:"sys"`
	Goroutines int    `json:"goroutines"`
	RSS        uint64 `json:"rss"`
}

func parseRSS(status string) uint64 {
	for _, line := range strings.Split(status, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			var kb uint64
			_, _ = fmt.Sscan(f[1], &kb)
			return kb * 1024
		}
	}
	return 0
}

func getMem(base string) (memStats, error) {
	var m memStats
	res, err := http.Get(base + "/debug/mem")
	if err != nil {
		return m, err
	}
	defer res.Body.Close()
	return m, json.NewDecoder(res.Body).Decode(&m)
}
