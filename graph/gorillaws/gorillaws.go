// Package gorillaws lets gqlgen's websocket transport run on
// github.com/gorilla/websocket.
//
// gqlgen (v0.17.98 and later) no longer ships a gorilla transport: its
// transport.Websocket talks to an abstract transport.WebsocketImplementation
// and defaults to github.com/coder/websocket. This package supplies the gorilla
// flavour of that abstraction so the server can keep a single websocket stack
// (and gorilla's origin checking, buffer tuning and compression options):
//
//	srv.AddTransport(transport.Websocket{
//		Implementation: gorillaws.Implementation{},
//	})
//
// The zero Implementation is safe to use: it only accepts same-origin,
// localhost and Origin-less (non-browser) clients.
package gorillaws

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

const (
	// DefaultWriteTimeout bounds every write (data or close frame) when
	// Implementation.WriteTimeout is zero, so a peer that stops reading can
	// never block a resolver goroutine or the transport's teardown forever.
	DefaultWriteTimeout = 10 * time.Second

	// maxCloseReasonBytes is the RFC 6455 limit for a close reason: a control
	// frame payload is at most 125 bytes and the status code takes two.
	maxCloseReasonBytes = 123
)

// Implementation accepts gqlgen websocket connections using gorilla's
// Upgrader. It is a value type so it can be placed directly in
// transport.Websocket.Implementation; the zero value is ready to use.
type Implementation struct {
	// CheckOrigin decides whether a browser's cross-origin upgrade request is
	// allowed. Websockets are not covered by CORS, so without this check any
	// web page could open an authenticated socket using the visitor's cookies
	// (cross-site websocket hijacking). Nil means SameOriginOrLocalhost; use
	// AllowOrigins to admit additional trusted front-end origins.
	CheckOrigin func(r *http.Request) bool

	// ReadBufferSize and WriteBufferSize are gorilla's I/O buffer sizes in
	// bytes. Zero lets gorilla reuse the buffers of the HTTP server, which
	// is the cheapest option for most deployments. They do not limit the
	// message size; transport.Websocket.PayloadReadLimit does that.
	ReadBufferSize, WriteBufferSize int

	// HandshakeTimeout bounds how long writing the HTTP 101 handshake
	// response may take. Zero means no extra timeout beyond the server's.
	HandshakeTimeout time.Duration

	// EnableCompression negotiates permessage-deflate when the client
	// offers it, trading CPU for bandwidth on large subscription payloads.
	EnableCompression bool

	// Subprotocols are offered ahead of the GraphQL subprotocols that gqlgen
	// supports, in order of server preference. It is mainly useful to
	// reorder preference, e.g. []string{"graphql-transport-ws"} to pick
	// the modern protocol when a client offers both. A subprotocol gqlgen
	// does not understand will be rejected by gqlgen after the upgrade.
	Subprotocols []string

	// WriteTimeout bounds each individual write; zero means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration

	// WriteBufferPool, when set, lends write buffers to connections only
	// while they write, so idle connections hold none (see gorilla's
	// Upgrader.WriteBufferPool). Share one pool across accepts.
	WriteBufferPool websocket.BufferPool

	// OnAccept, when set, is called with every accepted connection and its
	// upgrade request, so the application can later close the connection
	// with a close code of its own choosing (gqlgen closes only with 1000
	// once a connection is initialised).
	OnAccept func(r *http.Request, c Closer)
}

// Closer closes an accepted connection.
type Closer interface {
	// WriteClose sends a close frame with the code and reason.
	WriteClose(code int, reason string) error
	// Close closes the underlying network connection.
	Close() error
}

var _ transport.WebsocketImplementation = Implementation{}

// Accept upgrades r to a websocket with gorilla and wraps the connection for
// gqlgen. gqlgen's offered subprotocols are appended to i.Subprotocols and
// options.ResponseHeader is sent with the 101 response (gorilla ignores
// headers set on w because it hijacks the connection). On failure gorilla has
// already replied with an HTTP error status (e.g. 403 for a refused Origin).
func (i Implementation) Accept(
	w http.ResponseWriter,
	r *http.Request,
	options transport.WebsocketAcceptOptions,
) (transport.WebsocketConn, error) {
	checkOrigin := i.CheckOrigin
	if checkOrigin == nil {
		checkOrigin = SameOriginOrLocalhost
	}

	// Keep the list nil when empty: gorilla then falls back to a
	// Sec-WebSocket-Protocol value supplied in the response header.
	var subprotocols []string
	for _, p := range slices.Concat(i.Subprotocols, options.Subprotocols) {
		if !slices.Contains(subprotocols, p) {
			subprotocols = append(subprotocols, p)
		}
	}

	upgrader := websocket.Upgrader{
		HandshakeTimeout:  i.HandshakeTimeout,
		ReadBufferSize:    i.ReadBufferSize,
		WriteBufferSize:   i.WriteBufferSize,
		Subprotocols:      subprotocols,
		CheckOrigin:       checkOrigin,
		EnableCompression: i.EnableCompression,
		WriteBufferPool:   i.WriteBufferPool,
	}

	ws, err := upgrader.Upgrade(w, r, options.ResponseHeader.Clone())
	if err != nil {
		return nil, err
	}

	writeTimeout := i.WriteTimeout
	if writeTimeout <= 0 {
		writeTimeout = DefaultWriteTimeout
	}
	c := &conn{ws: ws, writeTimeout: writeTimeout}
	if i.OnAccept != nil {
		i.OnAccept(r, c)
	}
	return c, nil
}

// conn adapts *websocket.Conn to transport.WebsocketConn.
//
// gorilla allows at most one concurrent writer, while gqlgen writes from the
// read loop, keep-alive tickers and one goroutine per subscription, so all
// writes are serialized by writeMu.
type conn struct {
	ws           *websocket.Conn
	writeTimeout time.Duration

	writeMu   sync.Mutex
	closeSent bool // guarded by writeMu

	closeOnce sync.Once
	closeErr  error
}

var (
	_ transport.WebsocketConn          = (*conn)(nil)
	_ transport.WebsocketReadLimiter   = (*conn)(nil)
	_ transport.WebsocketReadDeadliner = (*conn)(nil)
)

// NextReader returns the next data message. A clean close by the peer is
// reported as transport.ErrWebsocketClosed so gqlgen treats it as an orderly
// shutdown instead of passing it to the ErrorFunc. gorilla answers the
// peer's close frame itself.
func (c *conn) NextReader() (int, io.Reader, error) {
	messageType, r, err := c.ws.NextReader()
	if err != nil {
		if websocket.IsCloseError(err,
			websocket.CloseNormalClosure,
			websocket.CloseNoStatusReceived,
			websocket.CloseGoingAway,
		) {
			return messageType, nil, transport.ErrWebsocketClosed
		}
		return messageType, nil, err
	}
	return messageType, r, nil
}

// WriteJSON sends v as one text message. It is safe for concurrent use and
// gives up after the write timeout so a stalled peer cannot block forever.
// v is marshalled before anything is written, so an encoding error never
// leaves a half-written frame on the wire.
func (c *conn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}

	c.writeMu.Lock()
	defer c.writeMu.Unlock()

	if err := c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

// WriteClose starts the closing handshake with the given status code and
// reason. The reason is truncated (at a UTF-8 boundary) to the 123 bytes a
// close frame can carry rather than failing, because gqlgen may put error
// text there. Only the first call writes; later calls, and calls on an
// already closed connection, return nil since there is nothing left to do.
func (c *conn) WriteClose(closeCode int, message string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()

	if c.closeSent {
		return nil
	}
	c.closeSent = true

	payload := websocket.FormatCloseMessage(closeCode, truncateReason(message))
	err := c.ws.WriteControl(websocket.CloseMessage, payload, time.Now().Add(c.writeTimeout))
	if err == nil || errors.Is(err, websocket.ErrCloseSent) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Close closes the underlying network connection without waiting for the
// peer's close frame, unblocking any pending read or write. It is idempotent
// and deliberately does not take the write lock, so it can always interrupt
// a stuck writer.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.ws.Close()
	})
	return c.closeErr
}

// Subprotocol returns the negotiated subprotocol, which gqlgen uses to pick
// between graphql-ws and graphql-transport-ws.
func (c *conn) Subprotocol() string {
	return c.ws.Subprotocol()
}

// SetReadLimit caps the size of a single incoming message; gorilla closes
// the connection with status 1009 when it is exceeded. gqlgen calls it with
// transport.Websocket.PayloadReadLimit.
func (c *conn) SetReadLimit(limit int64) {
	c.ws.SetReadLimit(limit)
}

// SetReadDeadline lets gqlgen's PingPongInterval drop clients that stop
// answering pings. A zero time clears the deadline.
func (c *conn) SetReadDeadline(t time.Time) error {
	return c.ws.SetReadDeadline(t)
}

// truncateReason shortens s to at most maxCloseReasonBytes without splitting
// a UTF-8 sequence, since peers must reject close reasons that are not valid
// UTF-8.
func truncateReason(s string) string {
	if len(s) <= maxCloseReasonBytes {
		return s
	}
	n := maxCloseReasonBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// SameOriginOrLocalhost is the default Implementation.CheckOrigin. It allows
// requests without an Origin header (non-browser clients, which cannot carry
// a victim's cookies cross-site), requests whose Origin host equals r.Host,
// and http(s) origins on localhost, 127.0.0.1 or [::1] with any port so local
// development front-ends work. Everything else is refused, which defeats
// cross-site websocket hijacking. It does not defend against DNS rebinding;
// validate r.Host separately if the server listens on loopback.
func SameOriginOrLocalhost(r *http.Request) bool {
	origin, ok := requestOrigin(r)
	if !ok {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	switch strings.ToLower(u.Hostname()) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// AllowOrigins returns a CheckOrigin function for deployments whose browser
// front-end is served from a different origin than the API. It allows what
// SameOriginOrLocalhost allows plus the exact origins listed, written as
// scheme://host[:port] and compared case-insensitively (a trailing slash is
// ignored; browsers omit default ports, so list origins the way they send
// them). The entry "*" allows every origin and disables the protection.
// The slice is copied, so later changes to it have no effect.
func AllowOrigins(allowed []string) func(*http.Request) bool {
	set := make(map[string]struct{}, len(allowed))
	all := false
	for _, o := range allowed {
		o = normalizeOrigin(o)
		if o == "*" {
			all = true
		}
		if o != "" {
			set[o] = struct{}{}
		}
	}
	return func(r *http.Request) bool {
		if all || SameOriginOrLocalhost(r) {
			return true
		}
		origin, _ := requestOrigin(r)
		_, ok := set[normalizeOrigin(origin)]
		return ok
	}
}

// requestOrigin returns the Origin header and whether one was sent at all;
// an empty but present header is not treated as absent.
func requestOrigin(r *http.Request) (string, bool) {
	values := r.Header.Values("Origin")
	if len(values) == 0 {
		return "", false
	}
	return values[0], true
}

// normalizeOrigin makes origins comparable: surrounding space and a trailing
// slash are dropped and the result is lower-cased.
func normalizeOrigin(o string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
}
