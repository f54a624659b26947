// Package wstransport serves GraphQL over websockets (the graphql-transport-ws
// protocol and the legacy graphql-ws one) on gorilla/websocket, for gqlgen's
// executor. It replaces gqlgen's own websocket transport to keep an idle
// connection cheap: one goroutine per connection (its read loop), keep-alive
// pings from one shared goroutine, and subscriptions that hold no goroutine
// while they wait — a resolver that supports it (see Stream) tells the
// transport when an event is ready, and only then is it rendered.
package wstransport

import (
	"github.com/sessiond/sessiond/internal/text"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Sub-protocols.
const (
	TransportWS = "graphql-transport-ws"
	LegacyWS    = "graphql-ws"
)

// Close codes of graphql-transport-ws.
const (
	CloseBadRequest     = 4400
	CloseUnauthorized   = 4401
	CloseInitTimeout    = 4408
	CloseDuplicateID    = 4409
	CloseTooManyInits   = 4429
	closeNormal         = websocket.CloseNormalClosure
	closeInternal       = websocket.CloseInternalServerErr
	maxCloseReasonBytes = 123
	writeTimeout        = 10 * time.Second
)

// InitFunc authenticates connection_init. It returns the connection's
// context, or a close code and reason to refuse it.
type InitFunc func(ctx context.Context, payload map[string]any) (context.Context, int, string)

// Transport is a gqlgen transport for websocket upgrades.
type Transport struct {
	Upgrader websocket.Upgrader
	InitFunc InitFunc
	// InitTimeout closes connections that send no connection_init (4408).
	InitTimeout time.Duration
	// ReadLimit bounds one incoming message (default 64 KiB); a larger one
	// closes the connection with 1009.
	ReadLimit int64
	// MaxConnsPerIP and MaxConns bound open connections per client address
	// and in total (0: unbounded); a connection beyond them is closed at
	// once with CloseTooManyConnsFromIP or CloseTooManyConns.
	MaxConnsPerIP, MaxConns int
	// ClientIP names a request's client address (default: its peer
	// address); sessiond passes the one that honours -trust-proxy-headers.
	ClientIP func(*http.Request) string
	// MaxOperations bounds the operations running on one connection (0:
	// unbounded); a subscribe beyond it gets a RATE_LIMITED error and the
	// connection stays open.
	MaxOperations int
	// MessageRate bounds incoming messages per second, pings included,
	// with bursts of twice as many (0: unbounded); a faster client is
	// closed with CloseMessageRate.
	MessageRate int
	// OperationTimeout bounds one query or mutation, and the parsing and
	// validation of any operation (0: unbounded). A subscription, once
	// accepted, runs until it completes; its budget ends at acceptance.
	OperationTimeout time.Duration

	slotsOnce sync.Once
	slots     *connSlots
	// Pinger sends keep-alive pings for all connections (nil: none).
	Pinger *Pinger
	// OnAccept is called with each accepted connection, so the application
	// can close it later with a code of its own.
	OnAccept func(r *http.Request, c *Conn)
	// Observer, when set, is told of connections, operations and pushes.
	Observer Observer
}

// Observer is what the transport reports, for metrics (*metrics.Metrics
// implements it). proto is TransportWS or LegacyWS.
type Observer interface {
	ConnOpened(proto string)
	ConnClosed(proto string)
	OperationStarted(proto string)
	OperationEnded(proto string)
	// Pushed reports an event written to the socket, d after its
	// resolver's Stream.ReadySince instant.
	Pushed(proto string, d time.Duration)
}

type nopObserver struct{}

func (nopObserver) ConnOpened(string)            {}
func (nopObserver) ConnClosed(string)            {}
func (nopObserver) OperationStarted(string)      {}
func (nopObserver) OperationEnded(string)        {}
func (nopObserver) Pushed(string, time.Duration) {}

// CloseAll closes every open connection with code and reason (a drain
// closes them with 1012, service restart, so clients reconnect elsewhere).
// It returns how many it closed.
func (t *Transport) CloseAll(code int, reason string) int {
	t.slotsOnce.Do(t.initSlots)
	t.slots.mu.Lock()
	conns := make([]*Conn, 0, len(t.slots.conns))
	for c := range t.slots.conns {
		conns = append(conns, c)
	}
	t.slots.mu.Unlock()
	for _, c := range conns {
		_ = c.WriteClose(code, reason)
		_ = c.Close()
	}
	return len(conns)
}

var _ graphql.Transport = (*Transport)(nil)

// Supports reports whether r asks for a websocket.
func (t *Transport) Supports(r *http.Request) bool { return r.Header.Get("Upgrade") != "" }

// Do upgrades r and runs the connection until it closes.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	up := t.Upgrader
	up.Subprotocols = []string{TransportWS, LegacyWS}
	// Take the slot before the upgrade answers: a client that sees 101 is
	// counted, so connections opened one after another never overshoot.
	ip := t.clientIP(r)
	code, reason := t.admit(ip)
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		if code == 0 {
			t.release(ip)
		}
		return // gorilla has answered with an HTTP error
	}
	// The connection outlives this handler: detach from the request's
	// context (cancelled when the handler returns) and serve the connection
	// on a fresh goroutine, so the HTTP middleware's frames and the parsed
	// request are not kept for the connection's whole life.
	if code != 0 {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		_ = ws.Close()
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	obs := t.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	c := &Conn{ws: ws, proto: ws.Subprotocol(), exec: exec, ctx: ctx, cancel: cancel, ops: map[string]*operation{},
		rate: newBucket(t.MessageRate), maxOps: t.MaxOperations, opTimeout: t.OperationTimeout, obs: obs}
	if c.proto == "" {
		c.proto = LegacyWS
	}
	t.track(c)
	obs.ConnOpened(c.proto)
	c.release = func() { obs.ConnClosed(c.proto); t.untrack(c); t.release(ip) }
	ws.SetPingHandler(c.onPing)
	if t.OnAccept != nil {
		t.OnAccept(r, c)
	}
	limit := t.ReadLimit
	if limit <= 0 {
		limit = 64 << 10
	}
	ws.SetReadLimit(limit)
	go c.serve(t)
}

func (c *Conn) serve(t *Transport) {
	defer c.shutdown()
	if t.InitTimeout > 0 {
		timer := time.AfterFunc(t.InitTimeout, func() {
			if !c.initialised() {
				c.WriteClose(CloseInitTimeout, "Connection initialisation timeout")
				_ = c.Close()
			}
		})
		defer timer.Stop()
	}
	if t.Pinger != nil {
		c.lastPong.Store(time.Now().UnixNano()) // before the pinger can see it
		c.ws.SetPongHandler(func(string) error { c.lastPong.Store(time.Now().UnixNano()); return nil })
		t.Pinger.add(c)
		defer t.Pinger.remove(c)
	}
	c.readLoop(t)
}

// Conn is one websocket connection.
type Conn struct {
	ws     *websocket.Conn
	proto  string
	exec   graphql.GraphExecutor
	ctx    context.Context
	cancel context.CancelFunc

	writeMu sync.Mutex
	closed  bool

	mu     sync.Mutex
	inited bool
	ops    map[string]*operation

	lastPong atomicInt64

	rate      *bucket // incoming messages; read loop only
	maxOps    int
	opTimeout time.Duration
	obs       Observer
	release   func() // gives back the connection's slot
}

// onPing answers a client's websocket ping unless the client sends
// messages faster than allowed (a ping costs a write, so it counts).
func (c *Conn) onPing(data string) error {
	if !c.rate.allow() {
		c.closeTooFast()
		return errTooFast
	}
	err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
	if err == websocket.ErrCloseSent {
		return nil
	}
	return err
}

var errTooFast = errors.New("too many messages")

func (c *Conn) closeTooFast() {
	c.WriteClose(CloseMessageRate, "too many messages: slow down")
}

type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

var errBadMessage = errors.New("invalid message")

// decodeMessage parses one incoming message of either protocol: a JSON
// object with a "type".
func decodeMessage(data []byte) (message, error) {
	var m message
	if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
		return m, errBadMessage
	}
	return m, nil
}

// decodeInit parses connection_init's payload: absent, null or an object.
func decodeInit(raw json.RawMessage) (map[string]any, error) {
	payload := map[string]any{}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &payload); err != nil {
			return nil, errBadMessage
		}
	}
	return payload, nil
}

// decodeSubscribe parses a subscribe (or legacy start) message: an id and
// a payload of GraphQL request parameters.
func decodeSubscribe(m message) (graphql.RawParams, error) {
	var p graphql.RawParams
	if m.ID == "" || json.Unmarshal(m.Payload, &p) != nil {
		return p, errBadMessage
	}
	return p, nil
}

func (c *Conn) initialised() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inited
}

func (c *Conn) readLoop(t *Transport) {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if !c.rate.allow() {
			c.closeTooFast()
			return
		}
		m, err := decodeMessage(data)
		if err != nil {
			c.WriteClose(CloseBadRequest, "Invalid message received")
			return
		}
		switch m.Type {
		case "connection_init":
			if !onFreshStack(func() bool { return c.init(t, m.Payload) }) {
				return
			}
		case "ping":
			c.write(message{Type: "pong"})
		case "pong":
		case "subscribe", "start":
			if !c.initialised() {
				c.WriteClose(CloseUnauthorized, "Unauthorized")
				return
			}
			if !onFreshStack(func() bool { return c.start(m) }) {
				return
			}
		case "complete", "stop":
			c.stop(m.ID)
		case "connection_terminate":
			c.WriteClose(closeNormal, "terminated")
			return
		default:
			c.WriteClose(CloseBadRequest, "Invalid message type "+text.Truncate(m.Type, 40))
			return
		}
	}
}

// onFreshStack runs f on a short-lived goroutine and waits for it. Starting
// an operation (validation, resolvers, database calls) needs a deep stack;
// done on the read loop, that stack would stay grown for the connection's
// whole life, while the read loop itself needs very little.
func onFreshStack(f func() bool) bool {
	done := make(chan bool, 1)
	go func() { done <- f() }()
	return <-done
}

func (c *Conn) init(t *Transport, raw json.RawMessage) bool {
	c.mu.Lock()
	again := c.inited
	c.mu.Unlock()
	if again {
		c.WriteClose(CloseTooManyInits, "Too many initialisation requests")
		return false
	}
	payload, err := decodeInit(raw)
	if err != nil {
		c.WriteClose(CloseBadRequest, "Invalid connection_init payload")
		return false
	}
	ctx := c.ctx
	if t.InitFunc != nil {
		var code int
		var reason string
		if ctx, code, reason = t.InitFunc(c.ctx, payload); code != 0 {
			if c.proto == LegacyWS {
				c.write(message{Type: "connection_error", Payload: mustJSON(map[string]string{"message": reason})})
			}
			c.WriteClose(code, reason)
			return false
		}
	}
	c.mu.Lock()
	c.inited = true
	c.ctx = ctx
	c.mu.Unlock()
	c.write(message{Type: "connection_ack"})
	return true
}

// operation is one running subscribe/start.
type operation struct {
	id        string
	cancel    context.CancelFunc
	responses graphql.ResponseHandler
	ctx       context.Context

	mu      sync.Mutex
	pending int
	running bool
	done    bool
	// since holds, per pending response, when its event was published
	// (zero when unknown), for the push latency.
	since []time.Time
}

// popSince takes the publication instant of the response just written.
func (op *operation) popSince() time.Time {
	op.mu.Lock()
	defer op.mu.Unlock()
	if len(op.since) == 0 {
		return time.Time{}
	}
	t := op.since[0]
	op.since = op.since[1:]
	return t
}

func (c *Conn) start(m message) bool {
	p, err := decodeSubscribe(m)
	if err != nil {
		c.WriteClose(CloseBadRequest, "Invalid subscribe message")
		return false
	}
	c.mu.Lock()
	if _, dup := c.ops[m.ID]; dup {
		c.mu.Unlock()
		c.WriteClose(CloseDuplicateID, "Subscriber for "+text.Truncate(m.ID, 80)+" already exists")
		return false
	}
	if c.maxOps > 0 && len(c.ops) >= c.maxOps {
		c.mu.Unlock()
		c.sendErrors(m.ID, gqlerror.List{{
			Message:    fmt.Sprintf("too many operations on this connection (the limit is %d): complete one first", c.maxOps),
			Extensions: map[string]any{"code": "RATE_LIMITED", "limit": "wsSubscriptions"},
		}})
		return true
	}
	connCtx := c.ctx
	op := &operation{id: m.ID}
	c.ops[m.ID] = op
	c.mu.Unlock()
	c.obs.OperationStarted(c.proto)

	ctx, cancel := context.WithCancel(connCtx)
	ctx = graphql.StartOperationTrace(ctx)
	// The time budget covers parsing and validation of every operation
	// and the whole run of a query or mutation; the extensions and the
	// resolvers stop at its end as they stop when the client leaves.
	budget, endBudget := ctx, context.CancelFunc(func() {})
	if c.opTimeout > 0 {
		budget, endBudget = context.WithTimeout(ctx, c.opTimeout)
	}
	op.cancel = func() { endBudget(); cancel() }
	rc, errs := c.exec.CreateOperationContext(budget, &p)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(budget, rc), errs)
		c.sendErrors(m.ID, resp.Errors)
		c.finish(op, false)
		return true
	}
	if rc.Operation != nil && rc.Operation.Operation == ast.Subscription {
		endBudget()
	} else {
		ctx = budget
	}
	st := &Stream{op: op, conn: c}
	ctx = context.WithValue(ctx, streamKey{}, st)
	responses, ctx := c.exec.DispatchOperation(ctx, rc)
	op.responses, op.ctx = responses, ctx
	if rc.Operation != nil && rc.Operation.Operation == ast.Subscription && st.claimed() {
		// Event-driven: rendered when the resolver says an event is ready.
		st.ready()
		return true
	}
	// Queries, mutations, refused subscriptions and resolvers that do not
	// signal: pull responses until the stream ends.
	go func() {
		for {
			resp := responses(ctx)
			if resp == nil {
				c.finish(op, true)
				return
			}
			c.sendNext(m.ID, resp)
			if rc.Operation == nil || rc.Operation.Operation != ast.Subscription || len(resp.Errors) > 0 && resp.Data == nil {
				c.finish(op, true)
				return
			}
		}
	}()
	return true
}

// pump renders one response per signalled event, on a goroutine that lives
// only while events are pending.
func (op *operation) pump(c *Conn) {
	for {
		op.mu.Lock()
		if op.pending == 0 || op.done {
			op.running = false
			op.mu.Unlock()
			return
		}
		op.pending--
		op.mu.Unlock()
		resp := op.responses(op.ctx)
		if resp == nil {
			c.finish(op, true)
			return
		}
		c.sendNext(op.id, resp)
		if t := op.popSince(); !t.IsZero() {
			c.obs.Pushed(c.proto, time.Since(t))
		}
	}
}

func (c *Conn) stop(id string) {
	c.mu.Lock()
	op, ok := c.ops[id]
	c.mu.Unlock()
	if ok {
		c.finish(op, false)
	}
}

// finish ends an operation, telling the client when sendComplete is set.
func (c *Conn) finish(op *operation, sendComplete bool) {
	op.mu.Lock()
	already := op.done
	op.done = true
	op.mu.Unlock()
	if already {
		return
	}
	c.obs.OperationEnded(c.proto)
	if op.cancel != nil {
		op.cancel()
	}
	c.mu.Lock()
	delete(c.ops, op.id)
	c.mu.Unlock()
	if sendComplete {
		c.write(message{ID: op.id, Type: "complete"})
	}
}

func (c *Conn) sendNext(id string, resp *graphql.Response) {
	typ := "next"
	if c.proto == LegacyWS {
		typ = "data"
	}
	c.write(message{ID: id, Type: typ, Payload: mustJSON(resp)})
}

func (c *Conn) sendErrors(id string, errs gqlerror.List) {
	if c.proto == LegacyWS {
		c.write(message{ID: id, Type: "error", Payload: mustJSON(map[string]any{"errors": errs})})
		c.write(message{ID: id, Type: "complete"})
		return
	}
	c.write(message{ID: id, Type: "error", Payload: mustJSON(errs)})
}

func (c *Conn) write(m message) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closed {
		return
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.ws.WriteJSON(m); err != nil {
		c.closed = true
		_ = c.ws.Close()
	}
}

// WriteClose sends a close frame with code and reason, once.
func (c *Conn) WriteClose(code int, reason string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	msg := websocket.FormatCloseMessage(code, text.Truncate(reason, maxCloseReasonBytes))
	return c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
}

// Drain waits until no operation of the connection has a response waiting
// to be rendered or written, or until max has passed: a close that follows
// a final event then never overtakes it.
func (c *Conn) Drain(max time.Duration) {
	deadline := time.Now().Add(max)
	for c.busy() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *Conn) busy() bool {
	c.mu.Lock()
	ops := make([]*operation, 0, len(c.ops))
	for _, op := range c.ops {
		ops = append(ops, op)
	}
	c.mu.Unlock()
	for _, op := range ops {
		op.mu.Lock()
		b := op.running || op.pending > 0
		op.mu.Unlock()
		if b {
			return true
		}
	}
	return false
}

// Close closes the network connection; the read loop then ends.
func (c *Conn) Close() error { return c.ws.Close() }

func (c *Conn) shutdown() {
	if c.release != nil {
		defer c.release()
	}
	c.cancel()
	c.mu.Lock()
	ops := make([]*operation, 0, len(c.ops))
	for _, op := range c.ops {
		ops = append(ops, op)
	}
	c.mu.Unlock()
	for _, op := range ops {
		c.finish(op, false)
	}
	c.WriteClose(closeNormal, "")
	_ = c.ws.Close()
}

// Stream lets a subscription resolver drive its stream without a goroutine
// of its own: it claims the stream when it starts, and calls Ready after
// each value it sends on its channel (and after closing the channel).
type Stream struct {
	op      *operation
	conn    *Conn
	mu      sync.Mutex
	claim   bool
	started bool
	early   int
}

type streamKey struct{}

// StreamFrom returns the operation's stream, or nil when the transport
// does not drive streams (HTTP, SSE).
func StreamFrom(ctx context.Context) *Stream {
	s, _ := ctx.Value(streamKey{}).(*Stream)
	return s
}

// Claim marks the resolver as one that calls Ready.
func (s *Stream) Claim() {
	s.mu.Lock()
	s.claim = true
	s.mu.Unlock()
}

func (s *Stream) claimed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claim
}

// Ready says one more value (or the channel's close) is waiting.
func (s *Stream) Ready() { s.ReadySince(time.Time{}) }

// ReadySince is Ready for a value that carries an event published at
// sent: the push latency is measured from it to the socket write.
func (s *Stream) ReadySince(sent time.Time) {
	s.op.mu.Lock()
	s.op.since = append(s.op.since, sent)
	s.op.mu.Unlock()
	s.mu.Lock()
	if !s.started {
		s.early++ // before the transport has the response handler
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.signal(1)
}

// ready starts delivery once the response handler is known.
func (s *Stream) ready() {
	s.mu.Lock()
	s.started = true
	n := s.early
	s.early = 0
	s.mu.Unlock()
	if n > 0 {
		s.signal(n)
	}
}

func (s *Stream) signal(n int) {
	op := s.op
	op.mu.Lock()
	if op.done {
		op.mu.Unlock()
		return
	}
	op.pending += n
	start := !op.running
	op.running = true
	op.mu.Unlock()
	if start {
		go op.pump(s.conn)
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"errors": []map[string]string{{"message": "internal error"}}})
	}
	return b
}
