package gorillaws_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/sessiond/sessiond/graph/gorillaws"
)

// testTimeout bounds every blocking client operation so a broken adapter
// fails the test instead of hanging it.
const testTimeout = 5 * time.Second

const (
	protoTransportWS = "graphql-transport-ws"
	protoGraphQLWS   = "graphql-ws"
)

// wsMsg is the envelope shared by both GraphQL websocket protocols.
type wsMsg struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// recorder captures what gqlgen reports through ErrorFunc and CloseFunc.
type recorder struct {
	mu     sync.Mutex
	errs   []error
	closed chan int
}

func (r *recorder) onError(_ context.Context, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

func (r *recorder) onClose(_ context.Context, code int) {
	r.closed <- code
}

func (r *recorder) reported() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// waitClosed waits for gqlgen's CloseFunc and returns its close code. Every
// ErrorFunc call of a connection happens before its CloseFunc, so reported()
// is complete afterwards.
func (r *recorder) waitClosed(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.closed:
		return code
	case <-time.After(testTimeout):
		t.Fatal("gqlgen CloseFunc was not called")
		return 0
	}
}

// startHTTP serves h and returns its ws:// URL. Server error logs (e.g.
// gqlgen writing a status after gorilla already rejected the upgrade) are
// discarded to keep test output readable.
func startHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// newGQLServer starts a real gqlgen server whose only transport is the
// websocket transport running on the gorilla adapter.
func newGQLServer(t *testing.T, impl gorillaws.Implementation, configure func(*transport.Websocket)) (*testserver.TestServer, string, *recorder) {
	t.Helper()
	rec := &recorder{closed: make(chan int, 16)}
	ws := transport.Websocket{
		Implementation: impl,
		ErrorFunc:      rec.onError,
		CloseFunc:      rec.onClose,
	}
	if configure != nil {
		configure(&ws)
	}
	gql := testserver.New()
	gql.AddTransport(ws)
	return gql, startHTTP(t, gql), rec
}

func dialRaw(url string, header http.Header, subprotocols ...string) (*websocket.Conn, *http.Response, error) {
	return dialer(websocket.Dialer{}, url, header, subprotocols)
}

func dialer(d websocket.Dialer, url string, header http.Header, subprotocols []string) (*websocket.Conn, *http.Response, error) {
	d.HandshakeTimeout = testTimeout
	d.Subprotocols = subprotocols
	c, resp, err := d.Dial(url, header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	return c, resp, err
}

func dial(t *testing.T, url string, header http.Header, subprotocols ...string) *websocket.Conn {
	t.Helper()
	return dialHeader(t, websocket.Dialer{}, url, header, subprotocols)
}

func dialWith(t *testing.T, url string, d websocket.Dialer, subprotocols ...string) *websocket.Conn {
	t.Helper()
	return dialHeader(t, d, url, nil, subprotocols)
}

func dialHeader(t *testing.T, d websocket.Dialer, url string, header http.Header, subprotocols []string) *websocket.Conn {
	t.Helper()
	c, resp, err := dialer(d, url, header, subprotocols)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (HTTP %d)", err, status)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func send(t *testing.T, c *websocket.Conn, m wsMsg) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(testTimeout))
	if err := c.WriteJSON(m); err != nil {
		t.Fatalf("send %s: %v", m.Type, err)
	}
}

// read returns the next message, skipping graphql-ws keep-alives.
func read(t *testing.T, c *websocket.Conn) wsMsg {
	t.Helper()
	for {
		_ = c.SetReadDeadline(time.Now().Add(testTimeout))
		var m wsMsg
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("read: %v", err)
		}
		if m.Type != "ka" {
			return m
		}
	}
}

func expectType(t *testing.T, c *websocket.Conn, typ string) wsMsg {
	t.Helper()
	m := read(t, c)
	if m.Type != typ {
		t.Fatalf("got message %q (%s), want %q", m.Type, m.Payload, typ)
	}
	return m
}

// expectClose reads (discarding data messages) until the connection ends and
// returns the close frame the server sent.
func expectClose(t *testing.T, c *websocket.Conn) *websocket.CloseError {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce
	}
}

func closeNormally(t *testing.T, c *websocket.Conn, code int) {
	t.Helper()
	payload := websocket.FormatCloseMessage(code, "bye")
	if err := c.WriteControl(websocket.CloseMessage, payload, time.Now().Add(testTimeout)); err != nil {
		t.Fatalf("write close: %v", err)
	}
}

func initConn(t *testing.T, c *websocket.Conn) {
	t.Helper()
	send(t, c, wsMsg{Type: "connection_init"})
	expectType(t, c, "connection_ack")
}

func assertNameTest(t *testing.T, m wsMsg) {
	t.Helper()
	var p struct {
		Data struct {
			Name string `json:"name"`
		} `json:"data"`
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || p.Data.Name != "test" {
		t.Fatalf("unexpected payload %s (err %v)", m.Payload, err)
	}
}

const subscriptionQuery = `{"query":"subscription { name }"}`

func TestGraphQLTransportWSSubscription(t *testing.T) {
	gql, url, rec := newGQLServer(t, gorillaws.Implementation{}, nil)
	c := dial(t, url, nil, protoTransportWS)
	if got := c.Subprotocol(); got != protoTransportWS {
		t.Fatalf("negotiated subprotocol %q, want %q", got, protoTransportWS)
	}

	initConn(t, c)
	send(t, c, wsMsg{Type: "subscribe", ID: "1", Payload: json.RawMessage(subscriptionQuery)})
	for range 2 {
		gql.SendNextSubscriptionMessage()
		m := expectType(t, c, "next")
		if m.ID != "1" {
			t.Fatalf("next for id %q, want 1", m.ID)
		}
		assertNameTest(t, m)
	}
	gql.SendCompleteSubscriptionMessage()
	if m := expectType(t, c, "complete"); m.ID != "1" {
		t.Fatalf("complete for id %q, want 1", m.ID)
	}

	closeNormally(t, c, websocket.CloseNormalClosure)
	if code := rec.waitClosed(t); code != websocket.CloseNormalClosure {
		t.Fatalf("CloseFunc code %d, want 1000", code)
	}
	if errs := rec.reported(); len(errs) != 0 {
		t.Fatalf("normal close reported errors: %v", errs)
	}
}

func TestLegacyGraphQLWS(t *testing.T) {
	gql, url, _ := newGQLServer(t, gorillaws.Implementation{}, nil)
	c := dial(t, url, nil, protoGraphQLWS)
	if got := c.Subprotocol(); got != protoGraphQLWS {
		t.Fatalf("negotiated subprotocol %q, want %q", got, protoGraphQLWS)
	}

	initConn(t, c)
	send(t, c, wsMsg{Type: "start", ID: "7", Payload: json.RawMessage(subscriptionQuery)})
	gql.SendNextSubscriptionMessage()
	m := expectType(t, c, "data")
	if m.ID != "7" {
		t.Fatalf("data for id %q, want 7", m.ID)
	}
	assertNameTest(t, m)
	gql.SendCompleteSubscriptionMessage()
	expectType(t, c, "complete")
}

func TestSubprotocolPreference(t *testing.T) {
	offered := []string{protoGraphQLWS, protoTransportWS}

	_, url, _ := newGQLServer(t, gorillaws.Implementation{}, nil)
	if got := dial(t, url, nil, offered...).Subprotocol(); got != protoGraphQLWS {
		t.Fatalf("default preference picked %q, want gqlgen's first choice %q", got, protoGraphQLWS)
	}

	_, url, _ = newGQLServer(t, gorillaws.Implementation{Subprotocols: []string{protoTransportWS}}, nil)
	c := dial(t, url, nil, offered...)
	if got := c.Subprotocol(); got != protoTransportWS {
		t.Fatalf("configured preference picked %q, want %q", got, protoTransportWS)
	}
	initConn(t, c) // gqlgen must accept the negotiated protocol
}

// TestNormalCloseIsNotAnError proves NextReader maps clean closes to
// transport.ErrWebsocketClosed (gqlgen then stays silent) and nothing else.
func TestNormalCloseIsNotAnError(t *testing.T) {
	cases := []struct {
		code    int
		wantErr bool
	}{
		{websocket.CloseNormalClosure, false},
		{websocket.CloseNoStatusReceived, false},
		{websocket.CloseGoingAway, false},
		{4000, true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			_, url, rec := newGQLServer(t, gorillaws.Implementation{}, nil)
			c := dial(t, url, nil, protoTransportWS)
			initConn(t, c)

			closeNormally(t, c, tc.code)
			rec.waitClosed(t)
			errs := rec.reported()
			if tc.wantErr {
				var ce *websocket.CloseError
				if len(errs) != 1 || !errors.As(errs[0], &ce) || ce.Code != tc.code {
					t.Fatalf("close %d: want one reported close error, got %v", tc.code, errs)
				}
				return
			}
			if len(errs) != 0 {
				t.Fatalf("close %d reported errors: %v", tc.code, errs)
			}
		})
	}
}

func TestInitFuncCloseCode(t *testing.T) {
	for _, proto := range []string{protoTransportWS, protoGraphQLWS} {
		t.Run(proto, func(t *testing.T) {
			_, url, rec := newGQLServer(t, gorillaws.Implementation{}, func(ws *transport.Websocket) {
				ws.InitFunc = func(ctx context.Context, _ transport.InitPayload) (context.Context, *transport.InitPayload, error) {
					return transport.WithWebsocketCloseCode(ctx, 4401), nil, errors.New("unauthorized")
				}
			})
			c := dial(t, url, nil, proto)
			send(t, c, wsMsg{Type: "connection_init"})

			ce := expectClose(t, c)
			if ce.Code != 4401 || ce.Text != "terminated" {
				t.Fatalf("close = %d %q, want 4401 \"terminated\"", ce.Code, ce.Text)
			}
			if code := rec.waitClosed(t); code != 4401 {
				t.Fatalf("CloseFunc code %d, want 4401", code)
			}
		})
	}
}

// TestLongCloseReasonIsTruncated checks that an over-long, multi-byte close
// reason still produces a valid close frame instead of none at all.
func TestLongCloseReasonIsTruncated(t *testing.T) {
	reason := strings.Repeat("é", 100) // 200 bytes, 2 bytes per rune
	_, url, _ := newGQLServer(t, gorillaws.Implementation{}, func(ws *transport.Websocket) {
		ws.InitFunc = func(ctx context.Context, _ transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			ctx = transport.WithWebsocketCloseCode(ctx, 4403)
			return transport.AppendCloseReason(ctx, reason), nil, errors.New("forbidden")
		}
	})
	c := dial(t, url, nil, protoTransportWS)
	send(t, c, wsMsg{Type: "connection_init"})

	ce := expectClose(t, c)
	if ce.Code != 4403 {
		t.Fatalf("close code %d, want 4403", ce.Code)
	}
	// 123 bytes would split a rune, so the reason is cut back to 122.
	if len(ce.Text) != 122 || !utf8.ValidString(ce.Text) || !strings.HasPrefix(reason, ce.Text) {
		t.Fatalf("close reason %q (%d bytes) is not a 122-byte prefix", ce.Text, len(ce.Text))
	}
}

func TestOriginCheck(t *testing.T) {
	type dialCase struct {
		name, host, origin string
		want               int
	}
	run := func(t *testing.T, url string, cases []dialCase) {
		t.Helper()
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				h := http.Header{}
				if tc.origin != "" {
					h.Set("Origin", tc.origin)
				}
				if tc.host != "" {
					h.Set("Host", tc.host) // gorilla's Dialer uses this as req.Host
				}
				c, resp, err := dialRaw(url, h, protoTransportWS)
				if resp == nil {
					t.Fatalf("no HTTP response: %v", err)
				}
				if resp.StatusCode != tc.want {
					t.Fatalf("origin %q host %q: HTTP %d, want %d (err %v)", tc.origin, tc.host, resp.StatusCode, tc.want, err)
				}
				if c != nil {
					initConn(t, c)
					_ = c.Close()
				}
			})
		}
	}

	t.Run("default", func(t *testing.T) {
		_, url, _ := newGQLServer(t, gorillaws.Implementation{}, nil)
		run(t, url, []dialCase{
			{name: "no origin", want: http.StatusSwitchingProtocols},
			{name: "cross-site", origin: "http://evil.example", want: http.StatusForbidden},
			{name: "localhost", origin: "http://localhost:5173", want: http.StatusSwitchingProtocols},
			{name: "loopback v4", origin: "https://127.0.0.1:8443", want: http.StatusSwitchingProtocols},
			{name: "loopback v6", origin: "http://[::1]:3000", want: http.StatusSwitchingProtocols},
			{name: "same origin", host: "sessiond.example", origin: "https://Sessiond.Example", want: http.StatusSwitchingProtocols},
			{name: "other origin with host", host: "sessiond.example", origin: "https://evil.example", want: http.StatusForbidden},
			{name: "null origin", origin: "null", want: http.StatusForbidden},
		})
	})

	t.Run("AllowOrigins", func(t *testing.T) {
		check := gorillaws.AllowOrigins([]string{"https://App.Example:8443/"})
		_, url, _ := newGQLServer(t, gorillaws.Implementation{CheckOrigin: check}, nil)
		run(t, url, []dialCase{
			{name: "listed", origin: "https://app.example:8443", want: http.StatusSwitchingProtocols},
			{name: "listed other port", origin: "https://app.example", want: http.StatusForbidden},
			{name: "listed other scheme", origin: "http://app.example:8443", want: http.StatusForbidden},
			{name: "cross-site", origin: "http://evil.example", want: http.StatusForbidden},
			{name: "localhost", origin: "http://localhost:3000", want: http.StatusSwitchingProtocols},
			{name: "same origin", host: "api.example", origin: "https://api.example", want: http.StatusSwitchingProtocols},
		})
	})

	t.Run("AllowOrigins wildcard", func(t *testing.T) {
		_, url, _ := newGQLServer(t, gorillaws.Implementation{CheckOrigin: gorillaws.AllowOrigins([]string{"*"})}, nil)
		run(t, url, []dialCase{
			{name: "cross-site", origin: "http://evil.example", want: http.StatusSwitchingProtocols},
		})
	})
}

func TestSameOriginOrLocalhostUnit(t *testing.T) {
	cases := []struct {
		origin string
		want   bool
	}{
		{"http://api.example", true}, // equals r.Host
		{"http://api.example:8080", false},
		{"http://LOCALHOST", true},
		{"http://127.0.0.1:1", true},
		{"http://127.0.0.2", false},
		{"http://localhost.evil.example", false},
		{"chrome-extension://localhost", false},
		{"", false}, // present but empty is not "no Origin"
		{"::not a url", false},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(http.MethodGet, "http://api.example/query", nil)
		r.Header.Set("Origin", tc.origin)
		if got := gorillaws.SameOriginOrLocalhost(r); got != tc.want {
			t.Errorf("Origin %q: got %v, want %v", tc.origin, got, tc.want)
		}
	}

	r := httptest.NewRequest(http.MethodGet, "http://api.example/query", nil)
	if !gorillaws.SameOriginOrLocalhost(r) {
		t.Error("request without Origin must be allowed")
	}

	// AllowOrigins must not observe later changes to the caller's slice.
	list := []string{"https://a.example"}
	check := gorillaws.AllowOrigins(list)
	list[0] = "https://b.example"
	r.Header.Set("Origin", "https://b.example")
	if check(r) {
		t.Error("AllowOrigins observed a mutation of its input slice")
	}
	r.Header.Set("Origin", "HTTPS://A.EXAMPLE")
	if !check(r) {
		t.Error("AllowOrigins must compare case-insensitively")
	}
}

func TestPayloadReadLimit(t *testing.T) {
	limit := int64(1024)
	_, url, rec := newGQLServer(t, gorillaws.Implementation{}, func(ws *transport.Websocket) {
		ws.PayloadReadLimit = &limit
	})
	c := dialWith(t, url, websocket.Dialer{WriteBufferSize: 64 << 10}, protoTransportWS)
	initConn(t, c)

	small := json.RawMessage(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 100)))
	send(t, c, wsMsg{Type: "ping", Payload: small})
	expectType(t, c, "pong")

	// The server rejects the frame from its header and then closes with the
	// payload unread, which can reset the TCP connection; the dialer's large
	// write buffer sends the whole frame in one write, and a late write error
	// is irrelevant as long as the close frame arrives.
	big := json.RawMessage(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 2*int(limit))))
	_ = c.SetWriteDeadline(time.Now().Add(testTimeout))
	_ = c.WriteJSON(wsMsg{Type: "ping", Payload: big})
	if ce := expectClose(t, c); ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want %d (message too big)", ce.Code, websocket.CloseMessageTooBig)
	}
	rec.waitClosed(t)
	errs := rec.reported()
	if len(errs) != 1 || !errors.Is(errs[0], websocket.ErrReadLimit) {
		t.Fatalf("reported errors %v, want websocket.ErrReadLimit", errs)
	}
}

func TestPingPongReadDeadline(t *testing.T) {
	t.Run("silent client is dropped", func(t *testing.T) {
		const interval = 50 * time.Millisecond
		_, url, rec := newGQLServer(t, gorillaws.Implementation{}, func(ws *transport.Websocket) {
			ws.PingPongInterval = interval
		})
		c := dial(t, url, nil, protoTransportWS)
		initConn(t, c)

		start := time.Now()
		pings := 0
		_ = c.SetReadDeadline(time.Now().Add(testTimeout))
		var readErr error
		for readErr == nil {
			var m wsMsg
			if readErr = c.ReadJSON(&m); readErr == nil && m.Type == "ping" {
				pings++ // deliberately never answered
			}
		}
		var ne net.Error
		if errors.As(readErr, &ne) && ne.Timeout() {
			t.Fatalf("server never dropped the silent client (client read timed out after %v)", time.Since(start))
		}
		if pings == 0 {
			t.Fatalf("connection ended (%v) before any ping was sent", readErr)
		}

		rec.waitClosed(t)
		found := false
		for _, err := range rec.reported() {
			var we transport.WebsocketError
			if errors.As(err, &we) && we.IsReadError && errors.As(err, &ne) && ne.Timeout() {
				found = true
			}
		}
		if !found {
			t.Fatalf("expected a read timeout to be reported, got %v", rec.reported())
		}
	})

	t.Run("answering client survives", func(t *testing.T) {
		const interval = 100 * time.Millisecond
		_, url, rec := newGQLServer(t, gorillaws.Implementation{}, func(ws *transport.Websocket) {
			ws.PingPongInterval = interval
		})
		c := dial(t, url, nil, protoTransportWS)
		initConn(t, c)

		// Five answered pings span well past the initial 2*interval
		// deadline, so the adapter must have cleared and re-armed it.
		for range 5 {
			expectType(t, c, "ping")
			send(t, c, wsMsg{Type: "pong"})
		}
		closeNormally(t, c, websocket.CloseNormalClosure)
		rec.waitClosed(t)
		if errs := rec.reported(); len(errs) != 0 {
			t.Fatalf("answering client got errors: %v", errs)
		}
	})
}

// acceptDirect serves a handler that accepts with impl and hands the
// connection to use, bypassing gqlgen so the adapter can be driven directly.
func acceptDirect(t *testing.T, impl gorillaws.Implementation, opts transport.WebsocketAcceptOptions, use func(transport.WebsocketConn)) string {
	t.Helper()
	return startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := impl.Accept(w, r, opts)
		if err != nil {
			return
		}
		use(conn)
	}))
}

func TestAcceptResponseHeaderAndOptionalInterfaces(t *testing.T) {
	result := make(chan string, 1)
	url := acceptDirect(t, gorillaws.Implementation{}, transport.WebsocketAcceptOptions{
		ResponseHeader: http.Header{"X-Sessiond": {"yes"}},
		Subprotocols:   []string{protoTransportWS},
	}, func(conn transport.WebsocketConn) {
		defer conn.Close()
		_, limiter := conn.(transport.WebsocketReadLimiter)
		_, deadliner := conn.(transport.WebsocketReadDeadliner)
		result <- fmt.Sprintf("%s %v %v", conn.Subprotocol(), limiter, deadliner)
	})

	c, resp, err := dialRaw(url, nil, protoTransportWS)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if got := resp.Header.Get("X-Sessiond"); got != "yes" {
		t.Fatalf("response header X-Sessiond = %q, want yes", got)
	}
	select {
	case got := <-result:
		if want := protoTransportWS + " true true"; got != want {
			t.Fatalf("server conn: %q, want %q", got, want)
		}
	case <-time.After(testTimeout):
		t.Fatal("handler did not run")
	}
}

// TestConcurrentWriteJSON drives WriteJSON from many goroutines; gorilla
// panics on concurrent writers, so this fails without the adapter's lock.
// Run with -race.
func TestConcurrentWriteJSON(t *testing.T) {
	const writers, perWriter = 8, 50
	type payload struct{ G, N int }
	done := make(chan error, 1)

	url := acceptDirect(t, gorillaws.Implementation{}, transport.WebsocketAcceptOptions{}, func(conn transport.WebsocketConn) {
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for g := range writers {
			wg.Go(func() {
				for n := range perWriter {
					if err := conn.WriteJSON(payload{g, n}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		err := <-errs
		if err == nil {
			err = conn.WriteClose(websocket.CloseNormalClosure, "done")
		}
		if err == nil {
			err = conn.WriteClose(websocket.CloseInternalServerErr, "again") // must be a no-op
		}
		if err == nil && conn.WriteJSON(payload{}) == nil {
			err = errors.New("WriteJSON after WriteClose succeeded")
		}
		if err == nil {
			err = conn.Close()
		}
		if err == nil {
			err = conn.Close() // idempotent
		}
		if err == nil {
			err = conn.WriteClose(websocket.CloseNormalClosure, "after close")
		}
		done <- err
	})

	c := dial(t, url, nil)
	next := make([]int, writers)
	for range writers * perWriter {
		_ = c.SetReadDeadline(time.Now().Add(testTimeout))
		var p payload
		if err := c.ReadJSON(&p); err != nil {
			t.Fatalf("read: %v", err)
		}
		if p.G < 0 || p.G >= writers || p.N != next[p.G] {
			t.Fatalf("message %+v out of order (want n=%d)", p, next[p.G])
		}
		next[p.G]++
	}
	if ce := expectClose(t, c); ce.Code != websocket.CloseNormalClosure || ce.Text != "done" {
		t.Fatalf("close = %d %q, want the first WriteClose (1000 \"done\")", ce.Code, ce.Text)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testTimeout):
		t.Fatal("server side did not finish")
	}
}

// TestCloseWhileWriting races WriteClose and Close against busy writers:
// every writer must stop with an error instead of hanging or panicking.
func TestCloseWhileWriting(t *testing.T) {
	const writers = 8
	done := make(chan struct{})

	url := acceptDirect(t, gorillaws.Implementation{}, transport.WebsocketAcceptOptions{}, func(conn transport.WebsocketConn) {
		defer close(done)
		var wg sync.WaitGroup
		started := make(chan struct{}, writers)
		for g := range writers {
			wg.Go(func() {
				started <- struct{}{}
				for conn.WriteJSON(map[string]int{"g": g}) == nil {
				}
			})
		}
		for range writers {
			<-started
		}
		_ = conn.WriteClose(websocket.CloseGoingAway, "shutting down")
		_ = conn.Close()
		wg.Wait()
	})

	c := dial(t, url, nil)
	ce := expectClose(t, c)
	if ce.Code != websocket.CloseGoingAway {
		t.Fatalf("close code %d, want %d", ce.Code, websocket.CloseGoingAway)
	}
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("writers did not stop after WriteClose/Close")
	}
}

// TestWriteTimeout shows a peer that stops reading cannot block writers
// forever: once the socket buffers fill, WriteJSON fails with a timeout.
func TestWriteTimeout(t *testing.T) {
	result := make(chan error, 1)
	url := acceptDirect(t, gorillaws.Implementation{WriteTimeout: 100 * time.Millisecond}, transport.WebsocketAcceptOptions{}, func(conn transport.WebsocketConn) {
		defer conn.Close()
		chunk := strings.Repeat("x", 64<<10)
		for range 4096 { // 256 MiB, far more than any socket buffer
			if err := conn.WriteJSON(chunk); err != nil {
				result <- err
				return
			}
		}
		result <- nil
	})

	_ = dial(t, url, nil) // never reads
	select {
	case err := <-result:
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("WriteJSON to a stalled peer: got %v, want a timeout error", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("WriteJSON blocked on a stalled peer")
	}
}
