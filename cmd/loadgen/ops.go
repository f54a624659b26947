package main

// Operations scenarios: what scraping /metrics costs the validation path,
// and what a retention purge of many rows costs the API's latency.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/metrics"
	"github.com/sessiond/sessiond/internal/retention"
)

var fullValidation = []byte(`{"query":"{ me { session { id } user { id email } tenant { id } roles { key } permissions } }"}`)

// scrapeScenario compares full-validation throughput with and without a
// scraper reading /metrics `scrapes` times during the run, alternating.
func scrapeScenario(args []string) error {
	fs := flag.NewFlagSet("scrape", flag.ExitOnError)
	clients := fs.Int("clients", 32, "concurrent validating clients")
	d := fs.Duration("duration", 10*time.Second, "duration of each measured run")
	scrapes := fs.Int("scrapes", 1000, "scrapes of /metrics spread over each scraped run")
	rounds := fs.Int("rounds", 3, "alternating rounds of each kind")
	path := fs.String("path", "/metrics", "what the scraper reads (e.g. /healthz, as a control: the cost of any request at that rate from another process)")
	_ = fs.Parse(args)
	ctx := context.Background()
	in, err := start(ctx, app.Config{Metrics: metrics.New()})
	if err != nil {
		return err
	}
	defer in.close()
	tenant, users, err := in.seed(10)
	if err != nil {
		return err
	}
	token, err := in.createSession(users[0], tenant)
	if err != nil {
		return err
	}
	metricsURL := strings.TrimSuffix(in.url, "/graphql") + *path
	// scrape has a separate process (this binary's scrape-client) read
	// /metrics n times during the run, as Prometheus would from elsewhere:
	// its CPU is not this process's, though it shares the machine.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	scrape := func(n int, within time.Duration, done <-chan struct{}) (int, int) {
		out, err := exec.Command(self, "scrape-client", "-url", metricsURL, "-n", strconv.Itoa(n), "-within", (within * 9 / 10).String()).Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "scrape-client:", err)
			return 0, 0
		}
		var got, size int
		_, _ = fmt.Sscan(string(out), &got, &size)
		return got, size
	}
	in.load(*clients, time.Second, fullValidation, token, nil) // warm up
	if path := os.Getenv("LOADGEN_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	// The machine may be shared: runs alternate ABBA so drift cancels, and
	// besides throughput the process's CPU time per validation is reported
	// (other processes' load does not change it).
	var quiet, scraped result
	var quietCPU, scrapedCPU time.Duration
	total, size := 0, 0
	runQuiet := func() {
		c0 := cpu()
		r := in.load(*clients, *d, fullValidation, token, nil)
		quietCPU += cpu() - c0
		quiet.requests += r.requests
		quiet.elapsed += r.elapsed
		quiet.latencies = append(quiet.latencies, r.latencies...)
	}
	runScraped := func() {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		c0 := cpu()
		go func() {
			defer wg.Done()
			n, s := scrape(*scrapes, *d, done)
			total, size = total+n, s
		}()
		r := in.load(*clients, *d, fullValidation, token, nil)
		close(done)
		wg.Wait()
		scrapedCPU += cpu() - c0
		scraped.requests += r.requests
		scraped.elapsed += r.elapsed
		scraped.latencies = append(scraped.latencies, r.latencies...)
	}
	for i := range *rounds {
		if i%2 == 0 {
			runQuiet()
			runScraped()
		} else {
			runScraped()
			runQuiet()
		}
	}
	perReq := func(cpu time.Duration, r result) time.Duration { return cpu / time.Duration(max(r.requests, 1)) }
	fmt.Printf("full validation on SQLite, %d clients, %d×%s per kind (ABBA); scraped runs read %s %d times each (%d in all, %d bytes a scrape);\n"+
		"  the scraper is a separate process; load clients and server share one process, and all share the machine's cores\n",
		*clients, *rounds, *d, *path, *scrapes, total, size)
	fmt.Printf("%-12s %10s %9s %14s\n", "", "req/s", "p99", "CPU/request")
	fmt.Printf("%-12s %10.0f %9s %14s\n", "no scraping", quiet.rps(), quiet.pct(.99), perReq(quietCPU, quiet))
	fmt.Printf("%-12s %10.0f %9s %14s\n", "scraping", scraped.rps(), scraped.pct(.99), perReq(scrapedCPU, scraped))
	fmt.Printf("scraping / no scraping: throughput %.3f×, CPU-bound throughput (inverse CPU per request) %.3f×\n",
		scraped.rps()/quiet.rps(), float64(perReq(quietCPU, quiet))/float64(perReq(scrapedCPU, scraped)))
	return nil
}

// scrapeClient reads a /metrics URL n times, evenly over within (catching
// up without pause when behind), and prints how many it read and the size
// of the last.
func scrapeClient(args []string) error {
	fs := flag.NewFlagSet("scrape-client", flag.ExitOnError)
	url := fs.String("url", "", "the /metrics URL")
	n := fs.Int("n", 1000, "scrapes")
	within := fs.Duration("within", 9*time.Second, "time to spread them over")
	_ = fs.Parse(args)
	every := *within / time.Duration(*n)
	start := time.Now()
	got, size := 0, 0
	for got < *n {
		if wait := time.Until(start.Add(time.Duration(got) * every)); wait > 0 {
			time.Sleep(wait)
		}
		res, err := http.Get(*url)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		got, size = got+1, len(b)
	}
	fmt.Println(got, size)
	return nil
}

// purgeScenario measures the API's p99 (full validation from several
// clients, and session creation, which writes) before and while a purge
// deletes `rows` ended sessions.
func purgeScenario(args []string) error {
	fs := flag.NewFlagSet("purge", flag.ExitOnError)
	rows := fs.Int("rows", 1_000_000, "ended sessions to purge")
	clients := fs.Int("clients", 16, "concurrent validating clients")
	d := fs.Duration("duration", 20*time.Second, "duration of the baseline run")
	during := fs.Duration("during", time.Minute, "how long to measure while the purge runs (then it is stopped; 0: until it is done)")
	pg := fs.String("postgres", "", "run on a fresh database next to this PostgreSQL URL instead of SQLite")
	batchTime := fs.Duration("batch-time", 0, "the purge's target time per delete transaction (0: the server's default)")
	yield := fs.Float64("yield", 0, "the purge's pause as a multiple of each batch's time (0: the server's default)")
	idle := fs.Duration("idle", 10*time.Second, "then purge this long with no load, to show the idle rate (0: skip)")
	_ = fs.Parse(args)
	ctx := context.Background()
	dsn, drop, err := freshPostgres(*pg)
	if err != nil {
		return err
	}
	defer drop()
	in, err := start(ctx, app.Config{Database: dsn, RetainEnded: 24 * time.Hour})
	if err != nil {
		return err
	}
	defer in.close()
	tenant, users, err := in.seed(100)
	if err != nil {
		return err
	}
	fmt.Printf("importing %d sessions and ending them 40 days ago…\n", *rows)
	t0 := time.Now()
	if err := in.importSessions(ctx, tenant, users, *rows, time.Now().Add(24*time.Hour)); err != nil {
		return err
	}
	old := time.Now().Add(-40 * 24 * time.Hour).UnixMilli()
	if _, err := in.app.Store.Bun().ExecContext(ctx,
		"UPDATE sessions SET ended_at = ?, end_written_at = ?, end_reason = 'LOGOUT', ended_by_kind = 'SYSTEM'", old, old); err != nil {
		return err
	}
	fmt.Printf("  ready in %s\n", time.Since(t0).Round(time.Second))
	token, err := in.createSession(users[0], tenant)
	if err != nil {
		return err
	}
	writeBody, _ := json.Marshal(map[string]any{
		"query":     `mutation($u: ID!, $t: ID!) { createSession(input: {userId: $u, tenantId: $t}) { token } }`,
		"variables": map[string]any{"u": users[1], "t": tenant},
	})
	measure := func(until func() bool) (result, result) {
		var v, w result
		var wg sync.WaitGroup
		wg.Add(2)
		run := func(out *result, n int, body []byte, tok string) {
			defer wg.Done()
			for !until() {
				r := in.load(n, time.Second, body, tok, nil)
				out.requests += r.requests
				out.elapsed += r.elapsed
				out.errors += r.errors
				out.latencies = append(out.latencies, r.latencies...)
			}
		}
		go run(&v, *clients, fullValidation, token)
		go run(&w, 1, writeBody, in.key)
		wg.Wait()
		return v, w
	}
	in.load(*clients, time.Second, fullValidation, token, nil) // warm up
	end := time.Now().Add(*d)
	bv, bw := measure(func() bool { return time.Now().After(end) })

	svc := retention.New(in.app.Store, clock.Real{}, in.app.Config.Logger, retention.Config{RetainEnded: 24 * time.Hour, BatchTime: *batchTime, Yield: *yield})
	var report retention.Report
	var purgeErr error
	purged := make(chan struct{})
	start := time.Now()
	pctx, stopPurge := context.WithCancel(ctx)
	defer stopPurge()
	go func() { report, purgeErr = svc.Purge(pctx); close(purged) }()
	pv, pw := measure(func() bool {
		select {
		case <-purged:
			return true
		default:
			return *during > 0 && time.Since(start) > *during
		}
	})
	took := time.Since(start)
	stopPurge()
	<-purged
	if purgeErr != nil && !errors.Is(purgeErr, context.Canceled) {
		return purgeErr
	}
	fmt.Printf("API under load on %s (%d validating clients + 1 client creating sessions), before and during a purge of %d ended sessions (batch time %s, pause ≥ %g× each batch; 0 = default)\n",
		storeName(*pg), *clients, *rows, *batchTime, *yield)
	c, err := in.app.Store.CountPurgeable(ctx, time.Now().Add(-24*time.Hour), time.Time{})
	left := c.Sessions
	if err != nil {
		return err
	}
	fmt.Printf("measured for %s of the purge: it deleted %d rows (%.0f rows/s), %d were left\n",
		took.Round(time.Millisecond), report.Sessions, float64(report.Sessions)/took.Seconds(), left)
	fmt.Printf("%-16s %10s %10s %12s %12s\n", "", "valid/s", "valid p99", "create/s", "create p99")
	fmt.Printf("%-16s %10.0f %10s %12.0f %12s\n", "before", bv.rps(), bv.pct(.99), bw.rps(), bw.pct(.99))
	fmt.Printf("%-16s %10.0f %10s %12.0f %12s\n", "during purge", pv.rps(), pv.pct(.99), pw.rps(), pw.pct(.99))
	fmt.Printf("p99 during / before: validation %.2f×, creation %.2f×\n",
		float64(pv.pct(.99))/float64(bv.pct(.99)), float64(pw.pct(.99))/float64(bw.pct(.99)))
	if *idle > 0 {
		ictx, stop := context.WithTimeout(ctx, *idle)
		defer stop()
		t0 := time.Now()
		r, err := svc.Purge(ictx)
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		fmt.Printf("then with no load for %s: deleted %d rows (%.0f rows/s)\n", time.Since(t0).Round(time.Millisecond), r.Sessions, float64(r.Sessions)/time.Since(t0).Seconds())
	}
	if bv.errors+bw.errors+pv.errors+pw.errors > 0 {
		fmt.Printf("  errors: %d %d %d %d\n", bv.errors, bw.errors, pv.errors, pw.errors)
	}
	return nil
}
