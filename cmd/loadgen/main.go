// Command loadgen measures sessiond on this machine and prints figures for
// docs/benchmarks.md. Each scenario starts its own sessiond (production
// wiring, a fresh SQLite file, a real HTTP listener on loopback) and drives
// it over HTTP keep-alive, so ratios compare runs made in the same process.
//
//	go run ./cmd/loadgen validate -sessions 1000,1000000 -clients 32 -duration 5s
//	go run ./cmd/loadgen writes
//	go run ./cmd/loadgen create -clients 8 -duration 5s
//	go run ./cmd/loadgen expire -sessions 100000
//	go run ./cmd/loadgen push -subscribers 1000
//	go run ./cmd/loadgen memory -conns 10000
//	go run ./cmd/loadgen idle -sessions 100000
//	go run ./cmd/loadgen soak -duration 60s [-postgres URL]
//	go run ./cmd/loadgen webhooks -ends 1000 -clients 8 -rounds 2
//	go run ./cmd/loadgen scrape -scrapes 1000 -duration 10s
//	go run ./cmd/loadgen purge -rows 1000000 -during 60s [-postgres URL]
//	go run ./cmd/loadgen cluster -postgres postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/sessiond/sessiond/graph"
	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/metrics"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/secret"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen validate|writes|create|expire|push|memory|cluster|idle|soak|webhooks|scrape|purge [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "validate":
		err = validate(os.Args[2:])
	case "writes":
		err = writes(os.Args[2:])
	case "create":
		err = create(os.Args[2:])
	case "expire":
		err = expire(os.Args[2:])
	case "push":
		err = push(os.Args[2:])
	case "memory":
		err = memory(os.Args[2:])
	case "serve":
		err = serve(os.Args[2:])
	case "cluster":
		err = clusterScenario(os.Args[2:])
	case "idle":
		err = idle(os.Args[2:])
	case "soak":
		err = soak(os.Args[2:])
	case "webhooks":
		err = webhooksScenario(os.Args[2:])
	case "scrape":
		err = scrapeScenario(os.Args[2:])
	case "purge":
		err = purgeScenario(os.Args[2:])
	case "scrape-client":
		err = scrapeClient(os.Args[2:])
	case "webhook-receiver":
		err = webhookReceiver(os.Args[2:])
	default:
		err = fmt.Errorf("unknown scenario %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// instance is a sessiond under load.
type instance struct {
	app    *app.App
	srv    *http.Server
	url    string
	key    string
	dir    string
	client *http.Client
}

func start(ctx context.Context, cfg app.Config) (*instance, error) {
	dir, err := os.MkdirTemp("", "sessiond-loadgen-")
	if err != nil {
		return nil, err
	}
	if cfg.AdminKey == "" {
		cfg.AdminKey = secret.NewToken(secret.AdminKeyPrefix)
	}
	key := cfg.AdminKey
	if cfg.Database == "" {
		cfg.Database = filepath.Join(dir, "load.db")
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// All of a scenario's clients come from 127.0.0.1: the per-address
	// limits (100 websockets by default) would refuse them.
	if cfg.Limits.WSConnsPerIP == 0 {
		cfg.Limits.WSConnsPerIP = -1
	}
	if cfg.Limits.SSEStreamsPerIP == 0 {
		cfg.Limits.SSEStreamsPerIP = -1
	}
	a, err := app.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	// As server.go does with its defaults.
	srv := &http.Server{Handler: graph.NewServerWith(a, graph.ServerOptions{ServeMetrics: a.Metrics != nil, MetricsMaxAge: metrics.DefaultMaxAge})}
	graph.ConfigureServer(srv, a.Config.Limits)
	go func() { _ = srv.Serve(ln) }()
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}
	return &instance{app: a, srv: srv, url: "http://" + ln.Addr().String() + "/graphql", key: key, dir: dir, client: &http.Client{Transport: tr}}, nil
}

func (in *instance) close() {
	_ = in.srv.Close()
	_ = in.app.Close()
	_ = os.RemoveAll(in.dir)
}

// freshPostgres creates an empty database next to base (a PostgreSQL URL)
// and returns its URL and a function that drops it; base "" means SQLite.
func freshPostgres(base string) (string, func(), error) {
	if base == "" {
		return "", func() {}, nil
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	name := fmt.Sprintf("sessiond_load_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		return "", nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	}, nil
}

func storeName(pg string) string {
	if pg == "" {
		return "SQLite"
	}
	return "PostgreSQL"
}

// do posts a GraphQL request and decodes data into out (if not nil).
func (in *instance) do(query string, vars map[string]any, token string, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, in.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := in.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	var r struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("status %d: %s", res.StatusCode, raw)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("graphql: %s", r.Errors[0].Message)
	}
	if out != nil {
		return json.Unmarshal(r.Data, out)
	}
	return nil
}

// seed creates a tenant and n users in it, returning their ids.
func (in *instance) seed(n int) (tenantID string, userIDs []string, err error) {
	var t struct{ CreateTenant struct{ ID string } }
	if err := in.do(`mutation { createTenant(input: {name: "Load"}) { id } }`, nil, in.key, &t); err != nil {
		return "", nil, err
	}
	userIDs = make([]string, n)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	next := atomic.Int64{}
	for range min(8, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				var u struct{ CreateUser struct{ ID string } }
				if err := in.do(`mutation($e: String!, $t: ID!) { createUser(input: {email: $e, name: "Load user", tenantId: $t}) { id } }`,
					map[string]any{"e": fmt.Sprintf("user%d@load.example", i), "t": t.CreateTenant.ID}, in.key, &u); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				userIDs[i] = u.CreateUser.ID
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return "", nil, err
	}
	return t.CreateTenant.ID, userIDs, nil
}

func (in *instance) createSession(userID, tenantID string) (string, error) {
	var out struct{ CreateSession struct{ Token string } }
	err := in.do(`mutation($u: ID!, $t: ID!) { createSession(input: {userId: $u, tenantId: $t}) { token } }`,
		map[string]any{"u": userID, "t": tenantID}, in.key, &out)
	return out.CreateSession.Token, err
}

// importSessions stores n extra sessions spread over the users, expiring at exp.
func (in *instance) importSessions(ctx context.Context, tenantID string, users []string, n int, exp time.Time) error {
	now := time.Now().UTC()
	const chunk = 50_000
	for done := 0; done < n; done += chunk {
		batch := make([]model.Session, 0, min(chunk, n-done))
		for i := done; i < min(done+chunk, n); i++ {
			batch = append(batch, model.Session{
				ID: uuid.Must(uuid.NewV7()).String(), TokenHash: secret.HashToken(secret.NewToken(secret.SessionTokenPrefix)),
				UserID: users[i%len(users)], TenantID: tenantID, CreatedAt: now, LastActiveAt: now,
				IdleExpiresAt: exp, ExpiresAt: exp, IdleTimeout: exp.Sub(now), Device: "Load",
			})
		}
		if err := in.app.Store.ImportSessions(ctx, batch); err != nil {
			return err
		}
	}
	return nil
}

// result of a closed-loop load run.
type result struct {
	requests  int
	errors    int
	elapsed   time.Duration
	latencies []time.Duration
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	slices.Sort(r.latencies)
	return r.latencies[min(int(p*float64(len(r.latencies))), len(r.latencies)-1)]
}

// load runs clients closed-loop workers sending body for d.
func (in *instance) load(clients int, d time.Duration, body []byte, token string, headers map[string]string) result {
	var mu sync.Mutex
	var res result
	var errs atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodPost, in.url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				for k, v := range headers {
					req.Header.Set(k, v)
				}
				t0 := time.Now()
				r, err := in.client.Do(req)
				if err == nil {
					b, _ := io.ReadAll(r.Body)
					r.Body.Close()
					if r.StatusCode != 200 || bytes.Contains(b, []byte(`"errors"`)) {
						err = fmt.Errorf("status %d: %s", r.StatusCode, b)
					}
				}
				if err != nil {
					errs.Add(1)
					continue
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
	res.errors = int(errs.Load())
	return res
}

func validate(args []string) error {
	fs := flag.NewFlagSet("validate", flag.ExitOnError)
	sizes := fs.String("sessions", "1000,1000000", "comma-separated numbers of stored sessions")
	usersN := fs.Int("users", 10, "users the stored sessions are spread over (created through the API)")
	clients := fs.Int("clients", 32, "concurrent clients (HTTP keep-alive)")
	d := fs.Duration("duration", 5*time.Second, "duration of each measured run")
	rounds := fs.Int("rounds", 3, "alternating rounds of bare, light and full load")
	pg := fs.String("postgres", "", "run on a fresh database next to this PostgreSQL URL instead of SQLite")
	_ = fs.Parse(args)
	bare := []byte(`{"query":"{ __typename }"}`)
	light := []byte(`{"query":"{ me { session { id expiresAt } } }"}`)
	full := []byte(`{"query":"{ me { session { id } user { id email } tenant { id } roles { key } permissions } }"}`)
	fmt.Printf("token validation on %s: %d clients, %d×%s per kind, %d users; bare = { __typename } without token,\n"+
		"  light = { me { session { id expiresAt } } }, full = { me { session { id } user { id email } tenant { id } roles { key } permissions } }\n",
		storeName(*pg), *clients, *rounds, *d, *usersN)
	fmt.Printf("%10s %10s %10s %10s %9s %9s %9s %11s %10s\n", "sessions", "bare/s", "light/s", "full/s", "bare p99", "light p99", "full p99", "light/bare", "full/bare")
	// Every store size gets its own server, all of them up at once, and the
	// rounds alternate between them: a figure measured later in the run (a
	// warmer file cache, a busier neighbour, the previous server's garbage)
	// then weighs on every size alike instead of on the last one.
	type sized struct {
		n     int
		in    *instance
		drop  func()
		token string
		res   []result
	}
	var stores []*sized
	defer func() {
		for _, s := range stores {
			s.in.close()
			s.drop()
		}
	}()
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		ctx := context.Background()
		dsn, drop, err := freshPostgres(*pg)
		if err != nil {
			return err
		}
		in, err := start(ctx, app.Config{Database: dsn})
		if err != nil {
			drop()
			return err
		}
		s := &sized{n: n, in: in, drop: drop, res: make([]result, 3)}
		stores = append(stores, s)
		tenant, users, err := in.seed(*usersN)
		if err != nil {
			return err
		}
		// The caller holds a role with a permission, so the full query has
		// roles and permissions to show.
		if err := in.do(`mutation($u: ID!, $t: ID!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: ["admin"]) { user { id } } }`,
			map[string]any{"u": users[0], "t": tenant}, in.key, nil); err != nil {
			return err
		}
		if err := in.importSessions(ctx, tenant, users, n-1, time.Now().Add(24*time.Hour)); err != nil {
			return err
		}
		if s.token, err = in.createSession(users[0], tenant); err != nil {
			return err
		}
	}
	slices.SortFunc(stores, func(a, b *sized) int { return a.n - b.n })
	kinds := []struct {
		body   []byte
		tokens bool
	}{{bare, false}, {light, true}, {full, true}}
	tokenFor := func(s *sized, withToken bool) string {
		if withToken {
			return s.token
		}
		return ""
	}
	for _, s := range stores {
		for _, k := range kinds {
			s.in.load(*clients, time.Second, k.body, tokenFor(s, k.tokens), nil) // warm up
		}
	}
	for range *rounds {
		for _, s := range stores {
			for i, k := range kinds {
				r := s.in.load(*clients, *d, k.body, tokenFor(s, k.tokens), nil)
				s.res[i].requests += r.requests
				s.res[i].elapsed += r.elapsed
				s.res[i].latencies = append(s.res[i].latencies, r.latencies...)
				s.res[i].errors += r.errors
			}
		}
	}
	for _, s := range stores {
		b, l, fu := s.res[0], s.res[1], s.res[2]
		fmt.Printf("%10d %10.0f %10.0f %10.0f %9s %9s %9s %10.2f× %9.2f×\n", s.n, b.rps(), l.rps(), fu.rps(), b.pct(.99), l.pct(.99), fu.pct(.99), l.rps()/b.rps(), fu.rps()/b.rps())
		if b.errors+l.errors+fu.errors > 0 {
			fmt.Printf("  errors: bare %d, light %d, full %d\n", b.errors, l.errors, fu.errors)
		}
	}
	if len(stores) > 1 {
		small, large := stores[0].res[2], stores[len(stores)-1].res[2]
		// Cost per full validation is the inverse of its throughput.
		fmt.Printf("full validation cost, %d vs %d stored sessions: %.2f×\n", stores[len(stores)-1].n, stores[0].n, small.rps()/large.rps())
	}
	return nil
}

func writes(args []string) error {
	fs := flag.NewFlagSet("writes", flag.ExitOnError)
	n := fs.Int("requests", 1000, "requests on one session")
	within := fs.Duration("within", time.Second, "spread the requests over this long")
	_ = fs.Parse(args)
	ctx := context.Background()
	in, err := start(ctx, app.Config{})
	if err != nil {
		return err
	}
	defer in.close()
	tenant, users, err := in.seed(1)
	if err != nil {
		return err
	}
	token, err := in.createSession(users[0], tenant)
	if err != nil {
		return err
	}
	time.Sleep(1100 * time.Millisecond) // let the creation's writes settle
	before := in.app.Store.Stats()
	start := time.Now()
	body := []byte(`{"query":"{ me { session { id lastActiveAt } } }"}`)
	gap := *within / time.Duration(*n)
	for i := range *n {
		if wait := time.Until(start.Add(time.Duration(i) * gap)); wait > 0 {
			time.Sleep(wait)
		}
		req, _ := http.NewRequest(http.MethodPost, in.url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := in.client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	elapsed := time.Since(start)
	time.Sleep(1500 * time.Millisecond) // one more flush interval
	after := in.app.Store.Stats()
	fmt.Printf("activity writes: %d requests on one session in %s → %d database writes (%d reads)\n",
		*n, elapsed.Round(time.Millisecond), after.Writes-before.Writes, after.Reads-before.Reads)
	return nil
}

func create(args []string) error {
	fs := flag.NewFlagSet("create", flag.ExitOnError)
	clients := fs.Int("clients", 8, "concurrent clients")
	d := fs.Duration("duration", 5*time.Second, "duration")
	usersN := fs.Int("users", 100, "users the sessions are spread over")
	limit := fs.Int("limit", 5, "max concurrent sessions per user (the rule stays active)")
	pg := fs.String("postgres", "", "run on a fresh database next to this PostgreSQL URL instead of SQLite")
	noNotify := fs.Bool("no-notify", false, "PostgreSQL only: keep events in process (no NOTIFY)")
	synchronous := fs.String("sqlite-synchronous", "FULL", "SQLite only: FULL or NORMAL")
	_ = fs.Parse(args)
	ctx := context.Background()
	dsn, drop, err := freshPostgres(*pg)
	if err != nil {
		return err
	}
	defer drop()
	in, err := start(ctx, app.Config{Database: dsn, NoNotify: *noNotify, SQLiteSynchronous: *synchronous})
	if err != nil {
		return err
	}
	defer in.close()
	tenant, users, err := in.seed(*usersN)
	if err != nil {
		return err
	}
	if err := in.do(`mutation($n: Int) { updateSessionPolicy(input: {maxConcurrentSessions: {enabled: true, maxSessions: $n}}) { terminatedSessions } }`,
		map[string]any{"n": *limit}, in.key, nil); err != nil {
		return err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var errs atomic.Int64
	var lat []time.Duration
	var mu sync.Mutex
	deadline := time.Now().Add(*d)
	start := time.Now()
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				u := users[int(next.Add(1))%len(users)]
				t0 := time.Now()
				if _, err := in.createSession(u, tenant); err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := result{requests: len(lat), elapsed: time.Since(start), latencies: lat, errors: int(errs.Load())}
	notify := ", synchronous " + *synchronous
	if *pg != "" {
		notify = ", NOTIFY on"
		if *noNotify {
			notify = ", NOTIFY off"
		}
	}
	fmt.Printf("createSession on %s%s, %d clients, %d users, limit %d: %.0f sessions/s, p50 %s, p99 %s, errors %d\n",
		storeName(*pg), notify, *clients, *usersN, *limit, r.rps(), r.pct(.5), r.pct(.99), r.errors)
	return nil
}

func expire(args []string) error {
	fs := flag.NewFlagSet("expire", flag.ExitOnError)
	n := fs.Int("sessions", 100_000, "sessions falling due in the same second")
	_ = fs.Parse(args)
	ctx := context.Background()
	in, err := start(ctx, app.Config{})
	if err != nil {
		return err
	}
	defer in.close()
	tenant, users, err := in.seed(100)
	if err != nil {
		return err
	}
	due := time.Now().Add(10 * time.Second).Truncate(time.Second)
	t0 := time.Now()
	if err := in.importSessions(ctx, tenant, users, *n, due); err != nil {
		return err
	}
	fmt.Printf("imported %d sessions in %s; all due at %s\n", *n, time.Since(t0).Round(time.Millisecond), due.Format(time.TimeOnly))
	in.app.Scheduler.Wake(time.Time{})
	for {
		var out struct {
			Users struct {
				Edges []struct {
					Node struct{ ActiveSessionCount int }
				}
			}
		}
		if err := in.do(`{ users(first: 500) { edges { node { activeSessionCount } } } }`, nil, in.key, &out); err != nil {
			return err
		}
		active := 0
		for _, e := range out.Users.Edges {
			active += e.Node.ActiveSessionCount
		}
		if active == 0 && time.Now().After(due) {
			fmt.Printf("expiry: %d sessions due at the same second all ended %s after their deadline\n", *n, time.Since(due).Round(time.Millisecond))
			return nil
		}
		if time.Since(due) > 5*time.Minute {
			return fmt.Errorf("%d sessions still active 5 minutes after their deadline", active)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
