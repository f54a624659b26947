package wstransport

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

type atomicInt64 = atomic.Int64

// Pinger keeps every connection alive from one goroutine: each Interval it
// sends a websocket ping (and, on the legacy protocol, a `ka` message), and
// closes connections that answered no ping for two intervals. Pings never
// reach the GraphQL layer, so they never count as activity.
type Pinger struct {
	Interval time.Duration

	mu      sync.Mutex
	conns   map[*Conn]struct{}
	running bool
}

// NewPinger returns a pinger; its goroutine runs only while it has connections.
func NewPinger(interval time.Duration) *Pinger {
	return &Pinger{Interval: interval, conns: map[*Conn]struct{}{}}
}

func (p *Pinger) add(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns[c] = struct{}{}
	if !p.running {
		p.running = true
		go p.run()
	}
}

func (p *Pinger) remove(c *Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Pinger) run() {
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for range t.C {
		p.mu.Lock()
		if len(p.conns) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		conns := make([]*Conn, 0, len(p.conns))
		for c := range p.conns {
			conns = append(conns, c)
		}
		p.mu.Unlock()
		deadline := time.Now().Add(-2*p.Interval - p.Interval/2).UnixNano()
		for _, c := range conns {
			if c.lastPong.Load() < deadline {
				_ = c.Close() // no pong for two intervals: the peer is gone
				continue
			}
			if c.proto == LegacyWS && c.initialised() {
				c.write(message{Type: "ka"})
			}
			_ = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout))
		}
	}
}
