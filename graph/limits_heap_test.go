package graph_test

import (
	"encoding/json"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sessiond/sessiond/graph"
	"github.com/sessiond/sessiond/graph/graphtest"
)

// heapAfterGC is the live heap once garbage is collected.
func heapAfterGC() uint64 {
	var m runtime.MemStats
	for range 2 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestAbusiveClientHeapIsBounded holds what an abusive client can hold at
// once: 2 000 connections that never send connection_init, one connection
// asking for 1 000 subscriptions, a ping flood and a consumer that never
// reads its events. The live heap (server and these clients together, in
// this process) must stay within 64 KiB per connection held, and return
// near its start once they are gone. It counts the whole process's heap,
// so it does not run in parallel with other tests.
func TestAbusiveClientHeapIsBounded(t *testing.T) {
	const (
		idle          = 2000
		perConnection = 64 << 10
		afterwards    = 32 << 20
	)
	s := graphtest.Start(t, graphtest.WithInitTimeout(time.Minute), graphtest.WithLimits(func(l *graph.Limits) {
		l.WSConnsPerIP = 2 * idle // all from 127.0.0.1: let the idle ones in
		l.WSMessageRate = 500     // let 1 000 subscribes through to meet the subscription bound
	}))
	w := s.NewWorkspace("heap")
	token := s.CreateSession(w.MemberID, w.TenantID).Token
	base := heapAfterGC()

	var conns []*websocket.Conn
	var mu sync.Mutex
	keep := func(c *websocket.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	// 2 000 connections without connection_init.
	var wg sync.WaitGroup
	for range idle / 100 {
		wg.Go(func() {
			for range 100 {
				c, _, err := dial(t, s, transportWS, nil)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				keep(c)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// 1 000 subscriptions on one connection: 100 run, 900 are refused.
	many := connect(t, s, bearerInit(token))
	keep(many.c)
	refusedSubs := 0
	for i := range 1000 {
		payload, _ := json.Marshal(map[string]any{"query": subTerminated})
		many.send(wsMsg{Type: "subscribe", ID: strconv.Itoa(i), Payload: payload})
	}
	for refusedSubs < 900 {
		m, err := many.read()
		if err != nil {
			t.Fatalf("read refusals: %v after %d", err, refusedSubs)
		}
		if m.Type == "error" {
			refusedSubs++
		}
	}

	// A ping flood: closed at the message rate.
	flood := connect(t, s, bearerInit(token))
	keep(flood.c)
	for range 10_000 {
		if err := flood.c.WriteJSON(wsMsg{Type: "ping"}); err != nil {
			break
		}
	}

	// A consumer that never reads, while 150 events are published for it.
	deaf := connect(t, s, bearerInit(s.AdminKey))
	keep(deaf.c)
	before := s.App.Bus.Subscribers()
	deaf.subscribe("1", subUserEvents, map[string]any{"u": w.MemberID})
	waitSubscribers(t, s, before+1-s.BaseSubscribers)
	for range 150 {
		s.CreateSession(w.MemberID, w.TenantID)
	}

	held := heapAfterGC()
	bound := base + uint64(len(conns))*perConnection
	t.Logf("heap: %d MiB at start, %d MiB holding %d connections (%.1f KiB each); bound %d MiB",
		base>>20, held>>20, len(conns), float64(held-base)/float64(len(conns))/1024, bound>>20)
	if held > bound {
		t.Fatalf("heap %d MiB while holding %d connections; want at most %d MiB", held>>20, len(conns), bound>>20)
	}
	stillServes(t, s)

	for _, c := range conns {
		_ = c.Close()
	}
	waitFor(t, "the heap to come back", func() bool { return heapAfterGC() < base+afterwards })
}
