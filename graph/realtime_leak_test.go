package graph_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sessiond/sessiond/graph/graphtest"
)

// TestWebsocketClientsLeaveNothingBehind connects many clients that each
// authenticate, subscribe and go away, and requires that the goroutines
// and event-bus subscriptions they caused on the server all end. It must
// not run in parallel with other tests: it counts the process's goroutines.
func TestWebsocketClientsLeaveNothingBehind(t *testing.T) {
	const (
		clients = 1000
		batch   = 50
		// margin allows for goroutines of the runtime and the HTTP client
		// that come and go on their own.
		margin = 10
	)
	s := graphtest.Start(t)
	w := s.NewWorkspace("leak")
	tokens := []string{
		s.CreateSession(w.MemberID, w.TenantID).Token,
		s.CreateSession(w.MemberID, w.TenantID).Token,
		s.CreateSession(w.AdminID, w.TenantID).Token,
	}
	subscribers := s.App.Bus.Subscribers() - s.BaseSubscribers
	baseline := runtime.NumGoroutine()

	for start := 0; start < clients; start += batch {
		conns := make([]*websocket.Conn, batch)
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for i := range conns {
			wg.Go(func() {
				c, err := subscribeAndWait(s, tokens[(start+i)%len(tokens)])
				conns[i] = c
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", start+i, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// Every client is subscribed: its connection's watch and its
		// subscription are on the bus.
		waitSubscribers(t, s, subscribers+2*batch)
		for i, c := range conns {
			if i%2 == 0 { // half say goodbye, half just drop the connection
				_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(readTimeout))
			}
			_ = c.Close()
		}
	}

	waitSubscribers(t, s, subscribers)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline+margin {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("want at most %d goroutines (baseline %d + %d) after %d clients left, still %d:\n%s", baseline+margin, baseline, margin, clients, n, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// subscribeAndWait connects with token, subscribes to sessionTerminated
// and returns the open connection.
func subscribeAndWait(s *graphtest.Server, token string) (*websocket.Conn, error) {
	d := websocket.Dialer{Subprotocols: []string{transportWS}, HandshakeTimeout: readTimeout}
	c, _, err := d.Dial(wsURL(s), nil)
	if err != nil {
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Now().Add(readTimeout))
	_ = c.SetReadDeadline(time.Now().Add(readTimeout))
	if err := c.WriteJSON(wsMsg{Type: "connection_init", Payload: []byte(`{"Authorization":"Bearer ` + token + `"}`)}); err != nil {
		return c, err
	}
	var ack wsMsg
	if err := c.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		return c, fmt.Errorf("want connection_ack, got %q (%v)", ack.Type, err)
	}
	return c, c.WriteJSON(wsMsg{Type: "subscribe", ID: "1", Payload: []byte(`{"query":"` + subTerminated + `"}`)})
}
