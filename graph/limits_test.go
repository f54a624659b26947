package graph_test

// One test per limit (docs/limits.md): reach it over real HTTP or a real
// websocket, see the refusal a client sees, and see that another client is
// not affected.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sessiond/sessiond/graph"
	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/graph/wstransport"
	"github.com/sessiond/sessiond/internal/app"
)

// rawResult is an HTTP answer of the GraphQL endpoint.
type rawResult struct {
	status int
	header http.Header
	body   []byte
	errors []graphtest.Error
}

func (r rawResult) String() string { return fmt.Sprintf("%d %s", r.status, truncated(r.body)) }

func truncated(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// postRaw posts body to the endpoint with extra headers.
func postRaw(t testing.TB, s *graphtest.Server, body string, header map[string]string) rawResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := s.HTTP.Client().Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := rawResult{status: res.StatusCode, header: res.Header, body: b}
	var decoded struct{ Errors []graphtest.Error }
	_ = json.Unmarshal(b, &decoded)
	out.errors = decoded.Errors
	return out
}

func queryBody(q string) string {
	b, _ := json.Marshal(map[string]any{"query": q})
	return string(b)
}

// refused requires a 400 whose first error has code and extensions.limit.
func refused(t *testing.T, r rawResult, code, limit string) {
	t.Helper()
	if r.status != http.StatusBadRequest || len(r.errors) == 0 {
		t.Fatalf("want 400 with an error, got %s", r)
	}
	e := r.errors[0]
	if got, _ := e.Extensions["limit"].(string); e.Code() != code || (limit != "" && !strings.Contains("|"+limit+"|", "|"+got+"|")) {
		t.Fatalf("want code %s limit %q, got %s limit %v: %s", code, limit, e.Code(), e.Extensions["limit"], e.Message)
	}
}

// stillServes requires that an ordinary request still works.
func stillServes(t *testing.T, s *graphtest.Server) {
	t.Helper()
	if r := postRaw(t, s, queryBody("{ __typename }"), nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `"Query"`) {
		t.Fatalf("another client's request: want 200 with data, got %s", r)
	}
}

// fanOut is n fragments, each spreading the next twice: 2^n fields once
// expanded, in about 50 bytes per fragment.
func fanOut(n int) string {
	var b strings.Builder
	b.WriteString("query { ...F0 }\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Query { __typename }\n", n)
	return b.String()
}

func repeat(n int, s, sep string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = strings.ReplaceAll(s, "%d", fmt.Sprint(i))
	}
	return strings.Join(parts, sep)
}

func TestDocumentLimits(t *testing.T) {
	s := graphtest.Start(t)
	cases := []struct {
		name, query, code, limit string
	}{
		{"31 fragments spreading the next twice are refused before validation", fanOut(31), "BAD_USER_INPUT", "fields|selectionFields"},
		{"20 000 repeated fields are refused by the token limit", "{ " + repeat(20_000, "__typename", " ") + " }", "BAD_USER_INPUT", "tokens"},
		{"150 repeated fields in one selection set are refused", "{ me { " + repeat(150, "permissions", " ") + " } }", "BAD_USER_INPUT", "selectionFields"},
		{"fields brought by fragments count in the selection set", "{ me { ...A ...B } } fragment A on Me { " + repeat(60, "permissions", " ") + " } fragment B on Me { " + repeat(60, "permissions", " ") + " }", "BAD_USER_INPUT", "selectionFields"},
		{"1 000 aliases of __typename are refused", "{ " + repeat(1000, "a%d: __typename", " ") + " }", "BAD_USER_INPUT", "rootFields"},
		{"60 aliases below the root are refused", "{ me { " + repeat(60, "a%d: permissions", " ") + " } }", "BAD_USER_INPUT", "aliases"},
		{"21 root fields are refused", "{ " + repeat(21, "__typename", " ") + " }", "BAD_USER_INPUT", "rootFields"},
		{"21 operations in one document are refused", repeat(21, "query Q%d { __typename }", "\n"), "BAD_USER_INPUT", "operations"},
		{"a flood of directives is refused", "{ __typename " + repeat(60, "@include(if: true)", " ") + " }", "BAD_USER_INPUT", "directives"},
		{"3 aliased __schema selections are refused", "{ " + repeat(3, "s%d: __schema { types { name } }", " ") + " }", "BAD_USER_INPUT", "introspection"},
		{"a fragment that spreads itself is refused", "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }", "BAD_USER_INPUT", "fragmentCycle"},
		{"an unused fragment is bounded too", "{ __typename } " + strings.TrimPrefix(fanOut(31), "query { ...F0 }\n"), "BAD_USER_INPUT", "fields|selectionFields"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := postRaw(t, s, queryBody(c.query), nil)
			refused(t, r, c.code, c.limit)
			if len(r.body) > 64<<10 {
				t.Fatalf("the refusal is %d bytes; want at most 64 KiB", len(r.body))
			}
			stillServes(t, s)
		})
	}

	t.Run("the playground's introspection query is served", func(t *testing.T) {
		r := postRaw(t, s, queryBody(introspectionQuery), nil)
		if r.status != http.StatusOK || len(r.errors) > 0 || !bytes.Contains(r.body, []byte(`"__schema"`)) {
			t.Fatalf("want the schema, got %s", r)
		}
	})

	t.Run("errors are capped at 50 plus one that counts the rest", func(t *testing.T) {
		r := postRaw(t, s, queryBody("{ me { "+repeat(80, "nope%d", " ")+" } }"), nil)
		if r.status != http.StatusBadRequest || len(r.errors) != 51 {
			t.Fatalf("want 400 with 51 errors, got %d errors: %s", len(r.errors), r)
		}
		if last := r.errors[50]; last.Message != "30 more errors omitted" || last.Code() != "BAD_USER_INPUT" {
			t.Fatalf("want the last error to count the omitted ones, got %+v", last)
		}
	})
}

func TestComplexityCountsListSizes(t *testing.T) {
	s := graphtest.Start(t, func(cfg *app.Config) { cfg.MaxComplexity = 6000 })
	// users 1 + edges (1 + 500 × (node 1 + sessions (1 + 10 × id 1))) = 6002
	big := `{ users(first: 500) { edges { node { sessions { id } } } } }`
	for _, accept := range []string{"application/json", "application/graphql-response+json"} {
		t.Run("a page of 500 users with their sessions is refused, Accept "+accept, func(t *testing.T) {
			r := postRaw(t, s, queryBody(big), map[string]string{"Authorization": "Bearer " + s.AdminKey, "Accept": accept})
			refused(t, r, "BAD_USER_INPUT", "complexity")
			if !strings.Contains(r.errors[0].Message, "costs 6002; the limit is 6000") {
				t.Fatalf("want the cost of 500 users with 10 sessions each, got %q", r.errors[0].Message)
			}
		})
	}
	t.Run("the same selection on a page of 20 runs", func(t *testing.T) {
		s.Admin(`{ users(first: 20) { edges { node { sessions { id } } } } }`, nil, nil)
	})
	t.Run("a count over the largest page stays cheap", func(t *testing.T) {
		s.Admin(`{ users(first: 500) { totalCount } }`, nil, nil)
	})
}

func TestIntrospectionSwitch(t *testing.T) {
	s := graphtest.Start(t, graphtest.WithLimits(func(l *graph.Limits) { l.DisableIntrospection = true }))
	r := postRaw(t, s, queryBody("{ __schema { queryType { name } } }"), nil)
	refused(t, r, "FEATURE_DISABLED", "")
	r = postRaw(t, s, queryBody(`{ __type(name: "Query") { name } }`), nil)
	refused(t, r, "FEATURE_DISABLED", "")
	stillServes(t, s)
}

func TestRequestTimeBudget(t *testing.T) {
	s := graphtest.Start(t, graphtest.WithLimits(func(l *graph.Limits) { l.RequestTimeout = time.Nanosecond }))
	r := postRaw(t, s, queryBody("{ __typename }"), nil)
	refused(t, r, "BAD_USER_INPUT", "requestTimeout")
	if !strings.Contains(r.errors[0].Message, "ran out of time") {
		t.Fatalf("want the budget named, got %q", r.errors[0].Message)
	}
}

func TestHTTPLimits(t *testing.T) {
	s := graphtest.Start(t, graphtest.WithLimits(func(l *graph.Limits) { l.BodyReadTimeout = 300 * time.Millisecond }))

	t.Run("API answers say nosniff and no-store", func(t *testing.T) {
		r := postRaw(t, s, queryBody("{ __typename }"), nil)
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("headers: %v", r.header)
		}
		r = postRaw(t, s, "{", nil)
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("headers of a refusal: %v", r.header)
		}
	})

	// sessiond's own server bounds the read (graph.ConfigureServer); a
	// server that does not, as an embedder might run, leaves it to the
	// handler. Both must cut the trickle.
	plain := httptest.NewServer(s.Graph)
	t.Cleanup(plain.Close)
	for name, addr := range map[string]string{"configured server": s.HTTP.Listener.Addr().String(), "plain server": plain.Listener.Addr().String()} {
		t.Run("a body trickled byte by byte is cut at the read deadline, "+name, func(t *testing.T) { trickle(t, addr) })
	}

	t.Run("decode errors speak of the request, not of Go types", func(t *testing.T) {
		for body, want := range map[string]string{
			`notjson`:      "the request body is not valid JSON",
			`{"query": 5}`: `"query" must be a string`,
			`{"query": "{ __typename }", "variables": [1]}`: `"variables" must be a JSON object`,
			`[{"query": "{ __typename }"}]`:                 "batched requests",
			`"just a string"`:                               "the request body must be a JSON object",
			`{}`:                                            `the request has no "query"`,
		} {
			r := postRaw(t, s, body, nil)
			if r.status != http.StatusBadRequest || len(r.errors) != 1 || !strings.Contains(r.errors[0].Message, want) || r.errors[0].Code() != "BAD_USER_INPUT" {
				t.Errorf("body %s: want 400 BAD_USER_INPUT %q, got %s", body, want, r)
			}
			if strings.Contains(string(r.body), "Go ") || strings.Contains(string(r.body), "interface {}") {
				t.Errorf("body %s: the answer names Go types: %s", body, r.body)
			}
		}
		res, err := s.HTTP.Client().Get(s.URL + "?query=%7B__typename%7D&variables=5")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `\"variables\" must be a JSON object`) {
			t.Errorf("GET with variables=5: %d %s", res.StatusCode, b)
		}
	})
}

// trustProxyHeaders lets a test pose as several clients through X-Forwarded-For.
func trustProxyHeaders(cfg *app.Config) { cfg.TrustProxyHeaders = true }

func fromIP(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }

func TestSSEStreamsPerIP(t *testing.T) {
	s := graphtest.Start(t, trustProxyHeaders, graphtest.WithLimits(func(l *graph.Limits) { l.SSEStreamsPerIP = 2 }))
	w := s.NewWorkspace("sse")
	token := s.CreateSession(w.MemberID, w.TenantID).Token
	stream := func(ip string) *http.Response {
		body, _ := json.Marshal(map[string]any{"query": subTerminated})
		req, _ := http.NewRequest(http.MethodPost, s.URL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Forwarded-For", ip)
		res, err := s.HTTP.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	for i := 0; i < 2; i++ {
		if res := stream("203.0.113.1"); res.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: status %d", i, res.StatusCode)
		}
	}
	res := stream("203.0.113.1")
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(b), `"RATE_LIMITED"`) || !strings.Contains(string(b), "sseStreamsPerIP") {
		t.Fatalf("third stream from one address: want 429 RATE_LIMITED, got %d %s", res.StatusCode, b)
	}
	if res := stream("203.0.113.2"); res.StatusCode != http.StatusOK {
		t.Fatalf("another address: status %d", res.StatusCode)
	}
}

// dialFrom opens a graphql-transport-ws connection posing as ip.
func dialFrom(t *testing.T, s *graphtest.Server, ip string) *wsClient {
	t.Helper()
	return open(t, s, transportWS, fromIP(ip))
}

func TestWebsocketLimits(t *testing.T) {
	t.Run("connections per client address", func(t *testing.T) {
		s := graphtest.Start(t, trustProxyHeaders, graphtest.WithLimits(func(l *graph.Limits) { l.WSConnsPerIP = 2 }))
		a1, a2 := dialFrom(t, s, "198.51.100.1"), dialFrom(t, s, "198.51.100.1")
		dialFrom(t, s, "198.51.100.1").closed(wstransport.CloseTooManyConnsFromIP, "too many connections from your address")
		b := dialFrom(t, s, "198.51.100.2")
		b.init(bearerInit(s.AdminKey))
		b.expect("connection_ack")
		// A closed connection gives its slot back.
		_ = a1.c.Close()
		_ = a2
		waitFor(t, "the slot to come back", func() bool {
			c, _, err := dial(t, s, transportWS, fromIP("198.51.100.1"))
			if err != nil {
				return false
			}
			defer c.Close()
			ws := &wsClient{t: t, c: c, proto: transportWS}
			ws.init(bearerInit(s.AdminKey))
			m, err := ws.read()
			return err == nil && m.Type == "connection_ack"
		})
	})

	t.Run("connections per instance", func(t *testing.T) {
		s := graphtest.Start(t, trustProxyHeaders, graphtest.WithLimits(func(l *graph.Limits) { l.WSConns = 2 }))
		dialFrom(t, s, "198.51.100.1")
		dialFrom(t, s, "198.51.100.2")
		dialFrom(t, s, "198.51.100.3").closed(wstransport.CloseTooManyConns, "maximum of connections")
		stillServes(t, s)
	})

	t.Run("operations per connection", func(t *testing.T) {
		s := graphtest.Start(t, graphtest.WithLimits(func(l *graph.Limits) { l.WSSubscriptions = 2 }))
		w := s.NewWorkspace("ops")
		token := s.CreateSession(w.MemberID, w.TenantID).Token
		ws := connect(t, s, bearerInit(token))
		ws.subscribe("1", subTerminated, nil)
		ws.subscribe("2", subTerminated, nil)
		ws.subscribe("3", subTerminated, nil)
		if code := ws.failed("3"); code != "RATE_LIMITED" {
			t.Fatalf("third subscription: want RATE_LIMITED, got %s", code)
		}
		// The connection stays usable, and completing one frees a place.
		ws.send(wsMsg{Type: "complete", ID: "1"})
		waitFor(t, "a place to free up", func() bool {
			ws.subscribe("4", "{ __typename }", nil)
			m, err := ws.read()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if m.Type == "next" {
				ws.expect("complete")
				return true
			}
			return false
		})
		other := connect(t, s, bearerInit(token))
		other.subscribe("1", "{ __typename }", nil)
		other.expect("next")
	})

	t.Run("message size", func(t *testing.T) {
		s := graphtest.Start(t, graphtest.WithLimits(func(l *graph.Limits) { l.WSMessageBytes = 1024 }))
		ws := connect(t, s, bearerInit(s.AdminKey))
		payload, _ := json.Marshal(map[string]any{"query": "{ __typename }", "variables": map[string]any{"x": strings.Repeat("a", 1500)}})
		_ = ws.c.WriteJSON(wsMsg{Type: "subscribe", ID: "1", Payload: payload}) // the server may close before reading it all
		ws.closed(wstransport.CloseMessageTooBig, "")
		other := connect(t, s, bearerInit(s.AdminKey))
		other.subscribe("1", "{ __typename }", nil)
		other.expect("next")
	})

	t.Run("message rate, pings included", func(t *testing.T) {
		s := graphtest.Start(t, graphtest.WithLimits(func(l *graph.Limits) { l.WSMessageRate = 5 }))
		for _, kind := range []string{"protocol ping", "websocket ping"} {
			ws := connect(t, s, bearerInit(s.AdminKey))
			for i := 0; i < 100; i++ {
				var err error
				if kind == "protocol ping" {
					err = ws.c.WriteJSON(wsMsg{Type: "ping"})
				} else {
					err = ws.c.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second))
				}
				if err != nil {
					break // closed by the server
				}
			}
			ws.closed(wstransport.CloseMessageRate, "too many messages")
		}
		other := connect(t, s, bearerInit(s.AdminKey))
		other.subscribe("1", "{ __typename }", nil)
		other.expect("next")
	})
}

// trickle sends a request body to addr at one byte per 100 ms and requires
// the server to answer with an error (a body read deadline of 300 ms)
// before the body is complete.
func trickle(t *testing.T, addr string) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := queryBody("{ __typename }")
	fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	answered := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(conn) // until the server answers and closes
		answered <- string(b)
	}()
	for i := 0; i < len(body); i++ {
		select {
		case got := <-answered:
			if i == 0 || strings.Contains(got, `"Query"`) {
				t.Fatalf("want the trickle cut with an error, got %q after %d bytes", got, i)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := conn.Write([]byte{body[i]}); err != nil {
			return // the server closed the connection
		}
	}
	t.Fatalf("the whole body was accepted at one byte per 100 ms; want it cut after 300 ms")
}
