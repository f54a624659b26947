package graph_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/clock"
)

// A permission holder watches 1 000 users with sessionEvents (one
// subscription per user, over 10 websockets) while the expiry scheduler
// ends one session of each user at once. It reports the database reads
// per delivered event and the time from the end to the last delivery. Run:
//
//	go test -run '^$' -bench SessionEventsFanOut -benchtime 1x ./graph/
func BenchmarkSessionEventsFanOut(b *testing.B) {
	const users, conns = 1000, 10
	for b.Loop() {
		clk := clock.NewFake(t0)
		s := graphtest.Start(b, graphtest.WithClock(clk))
		w := s.NewWorkspace("fanout")
		ids := make([]string, users)
		for i := range users {
			var u struct{ CreateUser struct{ ID string } }
			s.Admin(`mutation($e: String!, $t: ID!) { createUser(input: {email: $e, name: "Watched", tenantId: $t}) { id } }`,
				map[string]any{"e": fmt.Sprintf("watched%d@example.com", i), "t": w.TenantID}, &u)
			ids[i] = u.CreateUser.ID
			s.CreateSession(ids[i], w.TenantID)
		}
		clk.Advance(23 * time.Hour) // the watcher's session outlives the others
		holder := s.CreateSession(w.AdminID, w.TenantID)
		var cs []*websocket.Conn
		for c := range conns {
			d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
			conn, _, err := d.Dial("ws"+s.URL[len("http"):], nil)
			if err != nil {
				b.Fatal(err)
			}
			cs = append(cs, conn)
			_ = conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + holder.Token}})
			var ack map[string]any
			_ = conn.ReadJSON(&ack)
			for i := c; i < users; i += conns {
				_ = conn.WriteJSON(map[string]any{"type": "subscribe", "id": ids[i], "payload": map[string]any{
					"query": `subscription($u: ID) { sessionEvents(userId: $u) { kind reason session { id } } }`, "variables": map[string]any{"u": ids[i]}}})
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for s.App.Bus.Subscribers() < s.BaseSubscribers+users && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // let the subscribe-time reads settle
		before := s.App.Store.Stats()
		start := time.Now()
		clk.Advance(2 * time.Hour) // every watched session passes its idle deadline
		got := make(chan int, conns)
		giveUp := time.Now().Add(60 * time.Second)
		for _, conn := range cs {
			go func(conn *websocket.Conn) {
				n := 0
				_ = conn.SetReadDeadline(giveUp)
				for n < users/conns {
					var m struct {
						Type    string
						Payload json.RawMessage
					}
					if err := conn.ReadJSON(&m); err != nil {
						break
					}
					switch m.Type {
					case "next":
						n++
					case "error":
						b.Logf("subscription refused: %s", m.Payload)
					}
				}
				got <- n
			}(conn)
		}
		delivered := 0
		for range conns {
			delivered += <-got
		}
		last := time.Since(start)
		after := s.App.Store.Stats()
		if delivered != users {
			b.Fatalf("delivered %d events, want %d", delivered, users)
		}
		b.ReportMetric(float64(after.Reads-before.Reads)/float64(delivered), "reads/event")
		b.ReportMetric(float64(last.Milliseconds()), "ms-to-last")
		for _, c := range cs {
			_ = c.Close()
		}
	}
}
