package wstransport

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// sessiond's own close codes. graphql-transport-ws defines 4400, 4401,
// 4403, 4406, 4408, 4409, 4429, 4499 and 4500 (and sessiond uses 4401 and
// 4403 with the protocol's meaning); these live in 4600–4699 so that no
// client mistakes one for the other. docs/limits.md lists them.
const (
	// CloseTooManyConnsFromIP refuses a connection beyond the per-address bound.
	CloseTooManyConnsFromIP = 4601
	// CloseTooManyConns refuses a connection beyond the per-instance bound.
	CloseTooManyConns = 4602
	// CloseMessageRate closes a connection that sends messages (pings
	// included) faster than the allowed rate.
	CloseMessageRate = 4603
	// CloseSlowConsumer closes a connection that does not read its events
	// fast enough, once its bounded buffer is full.
	CloseSlowConsumer = 4604
	// CloseMessageTooBig (RFC 6455's 1009) is sent by gorilla/websocket for
	// a message larger than the transport's ReadLimit.
	CloseMessageTooBig = websocket.CloseMessageTooBig
)

// connSlots counts open connections per client address and in total.
type connSlots struct {
	mu    sync.Mutex
	total int
	perIP map[string]int
	conns map[*Conn]struct{}
}

func (t *Transport) initSlots() {
	t.slots = &connSlots{perIP: map[string]int{}, conns: map[*Conn]struct{}{}}
}

func (t *Transport) track(c *Conn) {
	t.slotsOnce.Do(t.initSlots)
	t.slots.mu.Lock()
	t.slots.conns[c] = struct{}{}
	t.slots.mu.Unlock()
}

func (t *Transport) untrack(c *Conn) {
	t.slots.mu.Lock()
	delete(t.slots.conns, c)
	t.slots.mu.Unlock()
}

// admit takes a slot for ip, or returns the close code that refuses it.
func (t *Transport) admit(ip string) (code int, reason string) {
	t.slotsOnce.Do(t.initSlots)
	s := t.slots
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case t.MaxConns > 0 && s.total >= t.MaxConns:
		return CloseTooManyConns, "the server holds its maximum of connections; retry later"
	case t.MaxConnsPerIP > 0 && s.perIP[ip] >= t.MaxConnsPerIP:
		return CloseTooManyConnsFromIP, "too many connections from your address"
	}
	s.total++
	s.perIP[ip]++
	return 0, ""
}

func (t *Transport) release(ip string) {
	s := t.slots
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

// OpenConns reports the connections the transport holds, for tests and metrics.
func (t *Transport) OpenConns() int {
	t.slotsOnce.Do(t.initSlots)
	t.slots.mu.Lock()
	defer t.slots.mu.Unlock()
	return t.slots.total
}

func (t *Transport) clientIP(r *http.Request) string {
	if t.ClientIP != nil {
		return t.ClientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// bucket is a token bucket: rate tokens per second, up to burst saved.
// It is used from the connection's read loop only.
type bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newBucket(rate int) *bucket {
	if rate <= 0 {
		return nil
	}
	b := float64(2 * rate)
	return &bucket{rate: float64(rate), burst: b, tokens: b, last: time.Now()}
}

// allow takes one token, reporting false when none is left.
func (b *bucket) allow() bool {
	if b == nil {
		return true
	}
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
