package wstransport_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/gorilla/websocket"

	"github.com/sessiond/sessiond/graph/wstransport"
)

// start serves gqlgen's test schema through the transport. Its
// subscription emits when the test calls SendNextSubscriptionMessage.
func start(t *testing.T, tr *wstransport.Transport) (*testserver.TestServer, string) {
	t.Helper()
	srv := testserver.New()
	srv.AddTransport(tr)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return srv, "ws" + strings.TrimPrefix(hs.URL, "http")
}

func dial(t *testing.T, url, proto string) *websocket.Conn {
	t.Helper()
	c, _, err := (&websocket.Dialer{Subprotocols: []string{proto}}).Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	return c
}

func send(t *testing.T, c *websocket.Conn, m map[string]any) {
	t.Helper()
	if err := c.WriteJSON(m); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func expect(t *testing.T, c *websocket.Conn, typ string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := c.ReadJSON(&m); err != nil {
		t.Fatalf("want %q, got %v", typ, err)
	}
	if m["type"] != typ {
		t.Fatalf("want %q, got %v", typ, m)
	}
	return m
}

func expectClose(t *testing.T, c *websocket.Conn, code int) string {
	t.Helper()
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		ce, ok := err.(*websocket.CloseError)
		if !ok || ce.Code != code {
			t.Fatalf("want close %d, got %v", code, err)
		}
		return ce.Text
	}
}

func TestProtocol(t *testing.T) {
	ack := func(t *testing.T, proto string) (*testserver.TestServer, *websocket.Conn) {
		srv, url := start(t, &wstransport.Transport{InitTimeout: 5 * time.Second})
		c := dial(t, url, proto)
		send(t, c, map[string]any{"type": "connection_init"})
		expect(t, c, "connection_ack")
		return srv, c
	}

	t.Run("graphql-transport-ws: subscribe, next, complete", func(t *testing.T) {
		srv, c := ack(t, wstransport.TransportWS)
		send(t, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { name }"}})
		srv.SendNextSubscriptionMessage()
		m := expect(t, c, "next")
		if m["id"] != "1" || !strings.Contains(string(mustJSON(m["payload"])), "test") {
			t.Fatalf("want next for 1 with data, got %v", m)
		}
		srv.SendCompleteSubscriptionMessage()
		expect(t, c, "complete")
	})

	t.Run("a query over the socket answers next then complete", func(t *testing.T) {
		srv, c := ack(t, wstransport.TransportWS)
		send(t, c, map[string]any{"id": "q", "type": "subscribe", "payload": map[string]any{"query": "{ name }"}})
		srv.SendNextSubscriptionMessage() // the test executor needs a tick for queries too
		expect(t, c, "next")
		expect(t, c, "complete")
	})

	t.Run("legacy graphql-ws: start, data, stop", func(t *testing.T) {
		srv, c := ack(t, wstransport.LegacyWS)
		send(t, c, map[string]any{"id": "1", "type": "start", "payload": map[string]any{"query": "subscription { name }"}})
		srv.SendNextSubscriptionMessage()
		expect(t, c, "data")
		send(t, c, map[string]any{"id": "1", "type": "stop"})
	})

	t.Run("invalid GraphQL gets an error message, the socket stays", func(t *testing.T) {
		_, c := ack(t, wstransport.TransportWS)
		send(t, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { nope }"}})
		expect(t, c, "error")
		send(t, c, map[string]any{"type": "ping"})
		expect(t, c, "pong")
	})

	t.Run("subscribe before connection_init closes with 4401", func(t *testing.T) {
		_, url := start(t, &wstransport.Transport{})
		c := dial(t, url, wstransport.TransportWS)
		send(t, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { name }"}})
		expectClose(t, c, wstransport.CloseUnauthorized)
	})

	t.Run("a second connection_init closes with 4429", func(t *testing.T) {
		_, c := ack(t, wstransport.TransportWS)
		send(t, c, map[string]any{"type": "connection_init"})
		expectClose(t, c, wstransport.CloseTooManyInits)
	})

	t.Run("a duplicate subscription id closes with 4409", func(t *testing.T) {
		_, c := ack(t, wstransport.TransportWS)
		sub := map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { name }"}}
		send(t, c, sub)
		send(t, c, sub)
		expectClose(t, c, wstransport.CloseDuplicateID)
	})

	t.Run("an unreadable message closes with 4400", func(t *testing.T) {
		_, c := ack(t, wstransport.TransportWS)
		if err := c.WriteMessage(websocket.TextMessage, []byte("{not json")); err != nil {
			t.Fatal(err)
		}
		expectClose(t, c, wstransport.CloseBadRequest)
	})

	t.Run("no connection_init within the timeout closes with 4408", func(t *testing.T) {
		_, url := start(t, &wstransport.Transport{InitTimeout: 50 * time.Millisecond})
		c := dial(t, url, wstransport.TransportWS)
		if reason := expectClose(t, c, wstransport.CloseInitTimeout); !strings.Contains(reason, "timeout") {
			t.Fatalf("want a timeout reason, got %q", reason)
		}
	})

	t.Run("a refused connection_init closes with the InitFunc's code and reason", func(t *testing.T) {
		_, url := start(t, &wstransport.Transport{InitFunc: func(ctx context.Context, _ map[string]any) (context.Context, int, string) {
			return ctx, wstransport.CloseUnauthorized, "unauthorized: no token"
		}})
		c := dial(t, url, wstransport.TransportWS)
		send(t, c, map[string]any{"type": "connection_init"})
		if reason := expectClose(t, c, wstransport.CloseUnauthorized); reason != "unauthorized: no token" {
			t.Fatalf("close reason %q", reason)
		}
	})
}

func TestPinger(t *testing.T) {
	t.Run("a client that answers pings stays; one that does not is closed", func(t *testing.T) {
		_, url := start(t, &wstransport.Transport{Pinger: wstransport.NewPinger(20 * time.Millisecond)})
		alive := dial(t, url, wstransport.TransportWS)
		pings := make(chan struct{}, 100)
		alive.SetPingHandler(func(data string) error {
			pings <- struct{}{}
			return alive.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		go func() {
			for {
				if _, _, err := alive.ReadMessage(); err != nil {
					return
				}
			}
		}()
		silent := dial(t, url, wstransport.TransportWS)
		silent.SetPingHandler(func(string) error { return nil }) // never answers
		_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := silent.ReadMessage(); err == nil {
			t.Fatal("want the silent client to be closed")
		}
		select {
		case <-pings:
		case <-time.After(5 * time.Second):
			t.Fatal("the answering client got no ping")
		}
		if err := alive.WriteJSON(map[string]any{"type": "ping"}); err != nil {
			t.Fatalf("the answering client was closed too: %v", err)
		}
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestOperationTimeout(t *testing.T) {
	const budget = 100 * time.Millisecond
	ack := func(t *testing.T) (*testserver.TestServer, *websocket.Conn) {
		srv, url := start(t, &wstransport.Transport{InitTimeout: 5 * time.Second, OperationTimeout: budget})
		c := dial(t, url, wstransport.TransportWS)
		send(t, c, map[string]any{"type": "connection_init"})
		expect(t, c, "connection_ack")
		return srv, c
	}

	t.Run("a query still running at the end of its budget is stopped", func(t *testing.T) {
		// The test executor answers a deferred query only when told, so
		// without a budget this query would run until the socket closed.
		_, c := ack(t)
		send(t, c, map[string]any{"id": "q", "type": "subscribe", "payload": map[string]any{"query": "{ ... @defer { name } }"}})
		if m := expect(t, c, "complete"); m["id"] != "q" {
			t.Fatalf("want complete for q, got %v", m)
		}
		send(t, c, map[string]any{"type": "ping"})
		expect(t, c, "pong") // the connection stays
	})

	t.Run("an accepted subscription outlives the budget", func(t *testing.T) {
		srv, c := ack(t)
		send(t, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { name }"}})
		time.Sleep(3 * budget) // the subject: the budget has passed
		srv.SendNextSubscriptionMessage()
		if m := expect(t, c, "next"); m["id"] != "1" {
			t.Fatalf("want next for 1, got %v", m)
		}
	})
}
