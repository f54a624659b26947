package graph_test

// Helpers for the real-time tests: a small client for the websocket
// sub-protocols (graphql-transport-ws and the legacy graphql-ws) and for
// Server-Sent Events, speaking to the production handler over httptest.
// Every read has a deadline of a few seconds, so a missing message fails
// the test instead of hanging it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sessiond/sessiond/graph/graphtest"
)

// readTimeout bounds every wait for a message the test expects.
const readTimeout = 5 * time.Second

const (
	transportWS = "graphql-transport-ws"
	legacyWS    = "graphql-ws"
)

// Selection sets of the subscriptions.
const (
	subTerminated = `subscription { sessionTerminated { id endedAt endReason } }`
	subOwnEvents  = `subscription { sessionEvents { kind reason at session { id user { id } expiresAt endReason } } }`
	subUserEvents = `subscription($u: ID) { sessionEvents(userId: $u) { kind reason at session { id user { id } expiresAt endReason } } }`
)

// wsMsg is one protocol message, either direction.
type wsMsg struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsClient is one websocket connection to the server under test.
type wsClient struct {
	t     *testing.T
	c     *websocket.Conn
	proto string
}

// wsURL is the server's GraphQL endpoint with the ws scheme.
func wsURL(s *graphtest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") }

// dial opens a websocket offering proto, with extra upgrade headers.
func dial(t *testing.T, s *graphtest.Server, proto string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{proto}, HandshakeTimeout: readTimeout}
	return d.Dial(wsURL(s), header)
}

// open dials with proto and fails the test if the upgrade is refused.
func open(t *testing.T, s *graphtest.Server, proto string, header http.Header) *wsClient {
	t.Helper()
	c, res, err := dial(t, s, proto, header)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", proto, err, status)
	}
	if got := c.Subprotocol(); got != proto {
		t.Fatalf("want sub-protocol %q, got %q", proto, got)
	}
	ws := &wsClient{t: t, c: c, proto: proto}
	t.Cleanup(func() { _ = c.Close() })
	return ws
}

// connect opens a graphql-transport-ws connection, sends connection_init
// with payload and requires connection_ack.
func connect(t *testing.T, s *graphtest.Server, payload map[string]any) *wsClient {
	t.Helper()
	ws := open(t, s, transportWS, nil)
	ws.init(payload)
	ws.expect("connection_ack")
	return ws
}

// bearerInit is the connection_init payload browsers send.
func bearerInit(token string) map[string]any {
	return map[string]any{"Authorization": "Bearer " + token}
}

// in returns the connection reporting failures to t, for a subtest.
func (ws *wsClient) in(t *testing.T) *wsClient {
	c := *ws
	c.t = t
	return &c
}

func (ws *wsClient) send(m wsMsg) {
	ws.t.Helper()
	_ = ws.c.SetWriteDeadline(time.Now().Add(readTimeout))
	if err := ws.c.WriteJSON(m); err != nil {
		ws.t.Fatalf("write %s: %v", m.Type, err)
	}
}

func (ws *wsClient) init(payload map[string]any) {
	ws.t.Helper()
	m := wsMsg{Type: "connection_init"}
	if payload != nil {
		m.Payload, _ = json.Marshal(payload)
	}
	ws.send(m)
}

// subscribe starts an operation: "subscribe" in graphql-transport-ws,
// "start" in the legacy protocol.
func (ws *wsClient) subscribe(id, query string, vars map[string]any) {
	ws.t.Helper()
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	typ := "subscribe"
	if ws.proto == legacyWS {
		typ = "start"
	}
	ws.send(wsMsg{Type: typ, ID: id, Payload: payload})
}

// read returns the next message that is not a keep-alive (answering the
// server's pings), or the error that ended the connection.
func (ws *wsClient) read() (wsMsg, error) {
	for {
		_ = ws.c.SetReadDeadline(time.Now().Add(readTimeout))
		var m wsMsg
		if err := ws.c.ReadJSON(&m); err != nil {
			return m, err
		}
		switch m.Type {
		case "ping":
			ws.send(wsMsg{Type: "pong"})
		case "pong", "ka":
		default:
			return m, nil
		}
	}
}

// expect reads the next message and requires its type.
func (ws *wsClient) expect(typ string) wsMsg {
	ws.t.Helper()
	m, err := ws.read()
	if err != nil {
		ws.t.Fatalf("want a %q message, got %v", typ, err)
	}
	if m.Type != typ {
		ws.t.Fatalf("want a %q message, got %q: %s", typ, m.Type, m.Payload)
	}
	return m
}

// next reads the next message, requires it to be a result of operation id
// ("next", or "data" in the legacy protocol) without errors, and decodes
// its data into out.
func (ws *wsClient) next(id string, out any) {
	ws.t.Helper()
	typ := "next"
	if ws.proto == legacyWS {
		typ = "data"
	}
	m := ws.expect(typ)
	if m.ID != id {
		ws.t.Fatalf("want %s for operation %q, got one for %q: %s", typ, id, m.ID, m.Payload)
	}
	var res struct {
		Data   json.RawMessage   `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(m.Payload, &res); err != nil {
		ws.t.Fatalf("decode %s payload: %v\n%s", typ, err, m.Payload)
	}
	if len(res.Errors) > 0 {
		ws.t.Fatalf("want a result without errors, got %s", m.Payload)
	}
	if err := json.Unmarshal(res.Data, out); err != nil {
		ws.t.Fatalf("decode data: %v\n%s", err, res.Data)
	}
}

// complete requires the next message to complete operation id.
func (ws *wsClient) complete(id string) {
	ws.t.Helper()
	if m := ws.expect("complete"); m.ID != id {
		ws.t.Fatalf("want complete for operation %q, got one for %q", id, m.ID)
	}
}

// closed requires the server to close the connection next, with code and
// a reason containing reason, and returns the reason.
func (ws *wsClient) closed(code int, reason string) string {
	ws.t.Helper()
	ce := ws.closeError()
	if ce.Code != code || !strings.Contains(ce.Text, reason) {
		ws.t.Fatalf("want close %d with a reason containing %q, got %d %q", code, reason, ce.Code, ce.Text)
	}
	return ce.Text
}

// closeError reads until the connection ends and requires that no other
// message comes first.
func (ws *wsClient) closeError() *websocket.CloseError {
	ws.t.Helper()
	m, err := ws.read()
	if err == nil {
		ws.t.Fatalf("want the server to close the connection, got a %q message: %s", m.Type, m.Payload)
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		ws.t.Fatalf("want a close frame from the server, got %v", err)
	}
	return ce
}

// failed reads the outcome of an operation that must fail and returns its
// first error's extensions.code; gqlgen reports resolver errors of a
// subscription as an "error" message or as a result with errors.
func (ws *wsClient) failed(id string) string {
	ws.t.Helper()
	m, err := ws.read()
	if err != nil {
		ws.t.Fatalf("want operation %q to fail, got %v", id, err)
	}
	if m.ID != id {
		ws.t.Fatalf("want a message for operation %q, got %q %s", id, m.Type, m.Payload)
	}
	type gqlErr struct {
		Message    string
		Extensions struct{ Code string }
	}
	var errs []gqlErr
	switch m.Type {
	case "error":
		_ = json.Unmarshal(m.Payload, &errs)
	case "next", "data":
		var res struct{ Errors []gqlErr }
		_ = json.Unmarshal(m.Payload, &res)
		errs = res.Errors
	}
	if len(errs) == 0 {
		ws.t.Fatalf("want errors for operation %q, got %q %s", id, m.Type, m.Payload)
	}
	return errs[0].Extensions.Code
}

// decode decodes a result message's payload.
func decodeMsg(t *testing.T, m wsMsg, out any) {
	t.Helper()
	if err := json.Unmarshal(m.Payload, out); err != nil {
		t.Fatalf("decode %s payload: %v\n%s", m.Type, err, m.Payload)
	}
}

// waitFor polls cond until it holds, failing the test after a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(readTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitSubscribers waits until the event bus has n subscribers: every
// connection authenticated by a session holds one, and every live
// subscription one more. A subscription is live once it is counted, so
// events published after that reach it.
func waitSubscribers(t *testing.T, s *graphtest.Server, n int) {
	t.Helper()
	// The app itself watches events (token cache, scheduler wake-ups).
	n += s.BaseSubscribers
	deadline := time.Now().Add(readTimeout)
	for got := s.App.Bus.Subscribers(); got != n; got = s.App.Bus.Subscribers() {
		if time.Now().After(deadline) {
			t.Fatalf("want %d event-bus subscribers, still %d after %s", n, got, readTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ---- results ----

type endedSession struct {
	ID        string
	EndedAt   *string
	EndReason *string
}

type terminatedOut struct{ SessionTerminated endedSession }

type eventOut struct {
	Kind    string
	Reason  *string
	At      string
	Session struct {
		ID        string
		User      struct{ ID string }
		ExpiresAt string
		EndReason *string
	}
}

type eventsOut struct{ SessionEvents eventOut }

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// wantEvent requires an event's kind, session and (for TERMINATED) reason.
func wantEvent(t *testing.T, got eventOut, kind, sessionID, reason string) {
	t.Helper()
	if got.Kind != kind || got.Session.ID != sessionID || (reason != "" && str(got.Reason) != reason) {
		t.Fatalf("want %s of session %s (reason %q), got %s of session %s (reason %s)", kind, sessionID, reason, got.Kind, got.Session.ID, str(got.Reason))
	}
}

// ---- HTTP ----

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	Event string
	Data  string
}

// sseStream is a subscription over Server-Sent Events.
type sseStream struct {
	t      *testing.T
	res    *http.Response
	events chan sseEvent
	cancel context.CancelFunc
}

// subscribeSSE posts a subscription with Accept: text/event-stream.
func subscribeSSE(t *testing.T, s *graphtest.Server, token, query string) *sseStream {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.HTTP.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatalf("post subscription: %v", err)
	}
	st := &sseStream{t: t, res: res, events: make(chan sseEvent, 16), cancel: cancel}
	t.Cleanup(func() { cancel(); _ = res.Body.Close() })
	if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("want 200 text/event-stream, got %d %q", res.StatusCode, ct)
	}
	go func() {
		defer close(st.events)
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					st.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event:"):
				ev.Event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				ev.Data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			}
		}
	}()
	return st
}

// next returns the next event, failing after a few seconds.
func (st *sseStream) next() sseEvent {
	st.t.Helper()
	select {
	case ev, ok := <-st.events:
		if !ok {
			st.t.Fatalf("want an event, the stream ended")
		}
		return ev
	case <-time.After(readTimeout):
		st.t.Fatalf("want an event, none came within %s", readTimeout)
	}
	return sseEvent{}
}

// ended requires the stream to end without further events.
func (st *sseStream) ended() {
	st.t.Helper()
	select {
	case ev, ok := <-st.events:
		if ok {
			st.t.Fatalf("want the stream to end, got event %q: %s", ev.Event, ev.Data)
		}
	case <-time.After(readTimeout):
		st.t.Fatalf("want the stream to end, it stayed open")
	}
}

// userDo runs a GraphQL request with a session token and requires success.
func userDo(t *testing.T, s *graphtest.Server, token, query string, vars map[string]any, out any) {
	t.Helper()
	res := s.Do(graphtest.Request{Query: query, Variables: vars, Token: token})
	if len(res.Errors) > 0 {
		t.Fatalf("want no errors, got %+v\nquery: %s", res.Errors, query)
	}
	if out != nil {
		if err := json.Unmarshal(res.Data, out); err != nil {
			t.Fatalf("decode data: %v\n%s", err, res.Data)
		}
	}
}
