package main

import (
	"context"
	"flag"
	"fmt"
	"math"
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
// endpoint hangs for 15 s on every request. sessiond and the load clients
// run in this process, the receiver in a child process (see receiver.go);
// to give each their own cores, as on separate hosts:
//
//	go build -o /tmp/wh-loadgen ./cmd/loadgen
//	taskset -c 0 /tmp/wh-loadgen webhooks -receiver-cpus 1
func webhooksScenario(args []string) error {
	fs := flag.NewFlagSet("webhooks", flag.ExitOnError)
	ends := fs.Int("ends", 1000, "sessions ended per measurement")
	clients := fs.Int("clients", 8, "concurrent API clients")
	rounds := fs.Int("rounds", 2, "alternating on/off rounds for the throughput ratio")
	hang := fs.Duration("hang", 15*time.Second, "how long the hanging receiver holds each request")
	only := fs.String("variants", "off,on,outbox only", "the throughput variants to run, comma-separated")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the throughput rounds to this file")
	receiverCPUs := fs.String("receiver-cpus", "", "run the receivers on these CPUs (taskset -c list); empty: anywhere")
	_ = fs.Parse(args)
	ctx := context.Background()

	// 1. Latency: end → receiver, healthy receiver.
	rcv, err := newLoadReceiver(0, *receiverCPUs)
	if err != nil {
		return err
	}
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
	endRate, createRate, endCPU, rcvCPU := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
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
			cpu0, rcv0 := cpu(), rcv.cpu()
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
			rcvPerEnd := (rcv.cpu() - rcv0) / time.Duration(len(ids))
			in.close()
			endRate[v.name], createRate[v.name] = append(endRate[v.name], res.rps()), append(createRate[v.name], creates)
			endCPU[v.name], rcvCPU[v.name] = append(endCPU[v.name], float64(perEnd)), append(rcvCPU[v.name], float64(rcvPerEnd))
			fmt.Printf("round %d webhooks %-11s ends %7.0f /s   creations %7.0f /s   CPU per end: sessiond and load clients %v, receiver %v\n",
				r+1, v.name, res.rps(), creates, perEnd.Round(time.Microsecond), rcvPerEnd.Round(time.Microsecond))
		}
	}
	pprof.StopCPUProfile()
	fmt.Printf("session ends, webhooks on vs off (median of rounds): %.2f×; creations: %.2f×\n", median(endRate["on"])/median(endRate["off"]), median(createRate["on"])/median(createRate["off"]))
	fmt.Printf("outbox only vs off: ends %.2f×; creations %.2f×\n", median(endRate["outbox only"])/median(endRate["off"]), median(createRate["outbox only"])/median(createRate["off"]))
	us := func(v []float64) time.Duration { return time.Duration(median(v)).Round(time.Microsecond) }
	fmt.Printf("CPU per end (median), sessiond and load clients: off %v, outbox only %v, on %v (delivery included); receiver, on: %v\n",
		us(endCPU["off"]), us(endCPU["outbox only"]), us(endCPU["on"]), us(rcvCPU["on"]))
	fmt.Printf("CPU-bound ends (inverse CPU per end), on vs off: %.2f×\n", median(endCPU["off"])/median(endCPU["on"]))

	// 3. API latency with a receiver that hangs, vs no endpoint, rounds alternating.
	hanging, err := newLoadReceiver(*hang, *receiverCPUs)
	if err != nil {
		return err
	}
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
	if len(v) == 0 {
		return math.NaN() // a variant not run
	}
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
