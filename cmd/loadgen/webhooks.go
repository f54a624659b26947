package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/webhook"
)

// webhooksScenario measures webhook delivery (webhooks issue): latency from
// a session's end to a local receiver, session-end and creation throughput
// with an endpoint registered vs none, and API latency while the only
// endpoint hangs for 15 s on every request.
//
//	go run ./cmd/loadgen webhooks -ends 1000 -clients 8 -rounds 2
func webhooksScenario(args []string) error {
	fs := flag.NewFlagSet("webhooks", flag.ExitOnError)
	ends := fs.Int("ends", 1000, "sessions ended per measurement")
	clients := fs.Int("clients", 8, "concurrent API clients")
	rounds := fs.Int("rounds", 2, "alternating on/off rounds for the throughput ratio")
	hang := fs.Duration("hang", 15*time.Second, "how long the hanging receiver holds each request")
	only := fs.String("variants", "off,on,outbox only", "the throughput variants to run, comma-separated")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the throughput rounds to this file")
	_ = fs.Parse(args)
	ctx := context.Background()

	// 1. Latency: end → receiver, healthy receiver.
	rcv := newLoadReceiver(0)
	defer rcv.close()
	in, err := startWebhookInstance(ctx, rcv.url, []string{webhook.SessionEnded}, false)
	if err != nil {
		return err
	}
	ids, err := in.sessionsToEnd(ctx, *ends)
	if err != nil {
		return err
	}
	if _, err := in.revokeAll(ids, *clients); err != nil {
		return err
	}
	lat := rcv.waitLatencies(*ends, time.Minute)
	in.close()
	if len(lat) < *ends {
		return fmt.Errorf("only %d of %d ends delivered within a minute", len(lat), *ends)
	}
	slices.Sort(lat)
	fmt.Printf("delivery latency, end (payload endedAt) to receiver, %d ends by %d clients on SQLite: p50 %v  p99 %v  max %v\n",
		len(lat), *clients, lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))

	// 2. Throughput with webhooks on vs off, rounds alternating; "outbox
	// only" registers the endpoint but sends nothing (the dispatcher off),
	// which separates the cost of the transactional write from delivery's.
	type variant struct {
		name       string
		url        string
		noDispatch bool
	}
	var variants []variant
	for _, v := range []variant{{"off", "", false}, {"on", rcv.url, false}, {"outbox only", rcv.url, true}} {
		if slices.Contains(strings.Split(*only, ","), v.name) {
			variants = append(variants, v)
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
	}
	endRate, createRate, endCPU := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	for r := 0; r < *rounds; r++ {
		for _, v := range variants {
			in, err := startWebhookInstance(ctx, v.url, nil, v.noDispatch)
			if err != nil {
				return err
			}
			creates, err := in.createThroughput(*ends, *clients)
			if err != nil {
				return err
			}
			ids, err := in.sessionsToEnd(ctx, *ends)
			if err != nil {
				return err
			}
			rcv.waitLatencies(0, 0) // forget the creations' deliveries
			cpu0 := cpu()
			res, err := in.revokeAll(ids, *clients)
			if err != nil {
				return err
			}
			if v.name == "on" {
				// CPU until the last end is delivered: the whole cost.
				if got := rcv.waitLatencies(len(ids), time.Minute); len(got) < len(ids) {
					return fmt.Errorf("only %d of %d ends delivered", len(got), len(ids))
				}
			}
			perEnd := (cpu() - cpu0) / time.Duration(len(ids))
			in.close()
			endRate[v.name], createRate[v.name] = append(endRate[v.name], res.rps()), append(createRate[v.name], creates)
			endCPU[v.name] = append(endCPU[v.name], float64(perEnd))
			fmt.Printf("round %d webhooks %-11s ends %7.0f /s   creations %7.0f /s   CPU per end %v (server, load client and receiver)\n", r+1, v.name, res.rps(), creates, perEnd.Round(time.Microsecond))
		}
	}
	pprof.StopCPUProfile()
	fmt.Printf("session ends, webhooks on vs off (median of rounds): %.2f×; creations: %.2f×\n", median(endRate["on"])/median(endRate["off"]), median(createRate["on"])/median(createRate["off"]))
	fmt.Printf("outbox only vs off: ends %.2f×; creations %.2f×\n", median(endRate["outbox only"])/median(endRate["off"]), median(createRate["outbox only"])/median(createRate["off"]))
	fmt.Printf("CPU per end (median): off %v, outbox only %v, on %v (delivery included)\n", time.Duration(median(endCPU["off"])).Round(time.Microsecond),
		time.Duration(median(endCPU["outbox only"])).Round(time.Microsecond), time.Duration(median(endCPU["on"])).Round(time.Microsecond))

	// 3. API latency with a receiver that hangs, vs no endpoint, rounds alternating.
	hanging := newLoadReceiver(*hang)
	defer hanging.close()
	p99s := map[bool][]float64{}
	for r := 0; r < *rounds; r++ {
		for _, hangs := range []bool{false, true} {
			url := ""
			if hangs {
				url = hanging.url
			}
			in, err := startWebhookInstance(ctx, url, nil, false)
			if err != nil {
				return err
			}
			ids, err := in.sessionsToEnd(ctx, *ends)
			if err != nil {
				return err
			}
			res, err := in.revokeAll(ids, *clients)
			if err != nil {
				return err
			}
			p99s[hangs] = append(p99s[hangs], float64(res.pct(0.99)))
			fmt.Printf("round %d API (revokeSession), %-28s p50 %v  p99 %v  %.0f /s\n", r+1, map[bool]string{false: "no endpoint:", true: "a receiver hanging " + hang.String() + ":"}[hangs],
				res.pct(0.5).Round(time.Microsecond), res.pct(0.99).Round(time.Microsecond), res.rps())
			hanging.release() // let held requests go, so that closing does not wait for them
			in.close()
			hanging.rearm()
		}
	}
	fmt.Printf("API p99 with the hanging receiver vs none (median of rounds): %.2f×\n", median(p99s[true])/median(p99s[false]))
	return nil
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if n := len(v); n%2 == 1 {
		return v[n/2]
	} else {
		return (v[n/2-1] + v[n/2]) / 2
	}
}

func modelFilter(userID string) model.SessionFilter {
	return model.SessionFilter{UserIDs: []string{userID}, ActiveOnly: true}
}

type webhookInstance struct {
	*instance
	tenantID, userID string
}

// startWebhookInstance starts a sessiond on a fresh SQLite file with an
// endpoint for url (none when url is ""), its dispatcher off if noDispatch.
func startWebhookInstance(ctx context.Context, url string, types []string, noDispatch bool) (*webhookInstance, error) {
	in, err := start(ctx, app.Config{SingleInstance: true, Webhooks: webhook.Config{AllowInsecure: true, Disabled: noDispatch}})
	if err != nil {
		return nil, err
	}
	if url != "" {
		if err := in.do(`mutation($u: String!, $t: [String!]) { createWebhookEndpoint(input: {url: $u, eventTypes: $t}) { secret } }`,
			map[string]any{"u": url, "t": types}, in.key, nil); err != nil {
			return nil, err
		}
	}
	tenantID, users, err := in.seed(1)
	if err != nil {
		return nil, err
	}
	return &webhookInstance{instance: in, tenantID: tenantID, userID: users[0]}, nil
}

// sessionsToEnd stores n live sessions (directly, so their creation
// writes no deliveries) and returns their ids.
func (in *webhookInstance) sessionsToEnd(ctx context.Context, n int) ([]string, error) {
	before, err := in.app.Store.Sessions(ctx, modelFilter(in.userID))
	if err != nil {
		return nil, err
	}
	if err := in.importSessions(ctx, in.tenantID, []string{in.userID}, n, time.Now().Add(time.Hour)); err != nil {
		return nil, err
	}
	all, err := in.app.Store.Sessions(ctx, modelFilter(in.userID))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, s := range before {
		seen[s.ID] = true
	}
	var ids []string
	for _, s := range all {
		if !seen[s.ID] {
			ids = append(ids, s.ID)
		}
	}
	return ids, nil
}

// revokeAll ends the sessions with clients concurrent revokeSession calls.
func (in *webhookInstance) revokeAll(ids []string, clients int) (result, error) {
	var res result
	var mu sync.Mutex
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			for i := int(next.Add(1) - 1); i < len(ids); i = int(next.Add(1) - 1) {
				t0 := time.Now()
				if err := in.do(`mutation($id: ID!) { revokeSession(id: $id) { id } }`, map[string]any{"id": ids[i]}, in.key, nil); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.requests = len(res.latencies)
	if err, ok := firstErr.Load().(error); ok {
		return res, err
	}
	return res, nil
}

// createThroughput creates n sessions with clients concurrent calls and
// returns creations per second.
func (in *webhookInstance) createThroughput(n, clients int) (float64, error) {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, err := in.createSession(in.userID, in.tenantID); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// loadReceiver answers webhooks on loopback: at once (recording how long
// after the session's end each arrived), or after holding them for hang.
type loadReceiver struct {
	srv     *http.Server
	url     string
	hang    time.Duration
	stop    chan struct{}
	mu      sync.Mutex
	latency map[string]time.Duration
}

func newLoadReceiver(hang time.Duration) *loadReceiver {
	r := &loadReceiver{hang: hang, stop: make(chan struct{}), latency: map[string]time.Duration{}}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	r.url = "http://" + ln.Addr().String() + "/hook"
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got := time.Now()
		body, _ := io.ReadAll(req.Body)
		if r.hang > 0 {
			r.mu.Lock()
			stop := r.stop
			r.mu.Unlock()
			select {
			case <-time.After(r.hang):
			case <-stop:
			case <-req.Context().Done():
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var p struct {
			Data struct {
				Session struct {
					ID      string
					EndedAt *time.Time
				}
			}
		}
		if json.Unmarshal(body, &p) == nil && p.Data.Session.EndedAt != nil {
			r.mu.Lock()
			if _, dup := r.latency[p.Data.Session.ID]; !dup {
				r.latency[p.Data.Session.ID] = got.Sub(*p.Data.Session.EndedAt)
			}
			r.mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = r.srv.Serve(ln) }()
	return r
}

// waitLatencies waits until n ends arrived (or d passed) and returns their latencies.
func (r *loadReceiver) waitLatencies(n int, d time.Duration) []time.Duration {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		got := len(r.latency)
		r.mu.Unlock()
		if got >= n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]time.Duration, 0, len(r.latency))
	for _, l := range r.latency {
		out = append(out, l)
	}
	r.latency = map[string]time.Duration{}
	return out
}

// release lets held requests go, and answers new ones at once, until rearm.
func (r *loadReceiver) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.stop)
}

// rearm makes the receiver hang again.
func (r *loadReceiver) rearm() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stop = make(chan struct{})
}

func (r *loadReceiver) close() { _ = r.srv.Close() }
