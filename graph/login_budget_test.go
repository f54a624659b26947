package graph_test

// The login budget (internal/ratelimit) through the API: parallel guesses
// are counted before they run, an attacker cannot lock a person out, and
// the counters are shared by a cluster and survive a restart.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/ratelimit"
)

// trustProxy makes the server take client addresses from X-Forwarded-For,
// so one test can speak from many addresses.
func trustProxy() graphtest.Option { return func(c *app.Config) { c.TrustProxyHeaders = true } }

// loginOutcome is one login's answer: "OK" or the error code, and
// extensions.retryAfter for RATE_LIMITED.
type loginOutcome struct {
	code       string
	retryAfter float64
}

// tryLogin posts a login from ip (sent as X-Forwarded-For; "" for none)
// without failing the test, so it can run in many goroutines.
func tryLogin(s *graphtest.Server, email, password, ip string) (loginOutcome, error) {
	body, _ := json.Marshal(map[string]any{"query": loginMutation, "variables": loginVars(email, password, "")})
	req, _ := http.NewRequest(http.MethodPost, s.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	res, err := s.HTTP.Client().Do(req)
	if err != nil {
		return loginOutcome{}, err
	}
	defer res.Body.Close()
	var out graphtest.Response
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return loginOutcome{}, err
	}
	if len(out.Errors) == 0 {
		return loginOutcome{code: "OK"}, nil
	}
	ra, _ := out.Errors[0].Extensions["retryAfter"].(float64)
	return loginOutcome{code: out.Errors[0].Code(), retryAfter: ra}, nil
}

// parallelLogins sends n logins at once, the i-th to servers[i%len] from
// ip(i), and counts the answers by code.
func parallelLogins(t *testing.T, servers []*graphtest.Server, n int, email, password string, ip func(int) string) map[string]int {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = map[string]int{}
		errs   []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			o, err := tryLogin(servers[i%len(servers)], email, password, ip(i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			if o.code == "RATE_LIMITED" && o.retryAfter <= 0 {
				errs = append(errs, fmt.Errorf("RATE_LIMITED without a positive extensions.retryAfter (%v)", o.retryAfter))
			}
			counts[o.code]++
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d logins failed: %v", len(errs), n, errs[0])
	}
	return counts
}

func sameIP(int) string { return "198.51.100.7" }

func manyIPs(i int) string { return fmt.Sprintf("203.0.113.%d", i+1) }

func TestLoginBudget(t *testing.T) {
	t.Run("50 parallel wrong passwords from one client: only the pair's free attempts are checked", func(t *testing.T) {
		s, _ := startFake(t, trustProxy())
		w := s.NewWorkspace("par")
		got := parallelLogins(t, []*graphtest.Server{s}, 50, w.MemberEmail, "not the password", sameIP)
		if got["UNAUTHENTICATED"] != 3 || got["RATE_LIMITED"] != 47 {
			t.Fatalf("answers %v, want 3 UNAUTHENTICATED (the free attempts) and 47 RATE_LIMITED", got)
		}
	})

	t.Run("50 parallel wrong passwords from 50 clients: only the email's ceiling is checked", func(t *testing.T) {
		s, _ := startFake(t, trustProxy())
		w := s.NewWorkspace("par50")
		got := parallelLogins(t, []*graphtest.Server{s}, 50, w.MemberEmail, "not the password", manyIPs)
		if got["UNAUTHENTICATED"] != 10 || got["RATE_LIMITED"] != 40 {
			t.Fatalf("answers %v, want 10 UNAUTHENTICATED (the email's ceiling) and 40 RATE_LIMITED", got)
		}
	})

	t.Run("59 concurrent wrong passwords, then the right one from the same client, is refused", func(t *testing.T) {
		s, _ := startFake(t, trustProxy())
		w := s.NewWorkspace("par59")
		got := parallelLogins(t, []*graphtest.Server{s}, 59, w.MemberEmail, "not the password", sameIP)
		if got["UNAUTHENTICATED"] != 3 {
			t.Fatalf("answers %v, want 3 UNAUTHENTICATED", got)
		}
		o, err := tryLogin(s, w.MemberEmail, w.Password, sameIP(0))
		if err != nil || o.code != "RATE_LIMITED" || o.retryAfter <= 0 {
			t.Fatalf("right password after the guesses: %+v %v, want RATE_LIMITED with retryAfter", o, err)
		}
	})

	t.Run("the right password works from a clean client while attackers hammer the email", func(t *testing.T) {
		// The default budget with a ceiling of 3 instead of 10, to keep the
		// number of (slow) password checks small.
		b := ratelimit.DefaultBudget()
		b.Email.Free = 3
		s, clk := startFake(t, trustProxy(), func(c *app.Config) { c.LoginBudget = b })
		w := s.NewWorkspace("hammer")
		// Three attacking addresses reach the email's ceiling, then keep
		// going in parallel.
		for i := range 3 {
			if o, _ := tryLogin(s, w.MemberEmail, "not the password", manyIPs(i)); o.code != "UNAUTHENTICATED" {
				t.Fatalf("guess %d answered %+v, want UNAUTHENTICATED", i, o)
			}
		}
		attack := func(i int) string { return manyIPs(i % 3) }
		if got := parallelLogins(t, []*graphtest.Server{s}, 60, w.MemberEmail, "not the password", attack); got["RATE_LIMITED"] != 60 {
			t.Fatalf("answers %v, want all 60 RATE_LIMITED past the ceiling", got)
		}
		// The person, from a client that has not failed, waits at most the
		// ceiling's spacing, however long the attack goes on.
		for round := range 3 {
			parallelLogins(t, []*graphtest.Server{s}, 20, w.MemberEmail, "not the password", attack)
			o, err := tryLogin(s, w.MemberEmail, w.Password, "192.0.2.10")
			if err != nil {
				t.Fatal(err)
			}
			if o.code == "RATE_LIMITED" {
				if o.retryAfter > 60 {
					t.Fatalf("round %d: the person is told to wait %v s, more than the ceiling's 60 s cap", round, o.retryAfter)
				}
				clk.Advance(time.Duration(o.retryAfter) * time.Second)
				o, err = tryLogin(s, w.MemberEmail, w.Password, "192.0.2.10")
			}
			if err != nil || o.code != "OK" {
				t.Fatalf("round %d: the right password from a clean client answered %+v %v, want a session", round, o, err)
			}
		}
		// The attackers' addresses stay refused for the email's window.
		o, _ := tryLogin(s, w.MemberEmail, w.Password, manyIPs(0))
		if o.code != "RATE_LIMITED" || o.retryAfter < 60 {
			t.Fatalf("an attacking address answered %+v, want RATE_LIMITED for the rest of the window", o)
		}
	})

	t.Run("a success does not reset the client's budget for other emails", func(t *testing.T) {
		// A budget whose client counter passes 2 failures, to keep the
		// number of (slow) password checks small.
		small := ratelimit.DefaultBudget()
		small.Client.Free = 2
		s, _ := startFake(t, trustProxy(), func(c *app.Config) { c.LoginBudget = small })
		w := s.NewWorkspace("reset")
		if o, _ := tryLogin(s, "guess0@example.com", "whatever-password", sameIP(0)); o.code != "UNAUTHENTICATED" {
			t.Fatalf("first guess answered %+v", o)
		}
		if o, _ := tryLogin(s, w.MemberEmail, w.Password, sameIP(0)); o.code != "OK" {
			t.Fatalf("the right password answered %+v, want a session", o)
		}
		// The second failure is the client's last free one; the third waits.
		if o, _ := tryLogin(s, "guess1@example.com", "whatever-password", sameIP(0)); o.code != "UNAUTHENTICATED" {
			t.Fatalf("second guess answered %+v, want UNAUTHENTICATED", o)
		}
		if o, _ := tryLogin(s, "guess2@example.com", "whatever-password", sameIP(0)); o.code != "RATE_LIMITED" {
			t.Fatalf("third guess answered %+v, want RATE_LIMITED: the success must not have reset the client's count", o)
		}
	})

	t.Run("budgets survive a restart", func(t *testing.T) {
		clk := clock.NewFake(t0)
		s1 := graphtest.Start(t, graphtest.WithClock(clk), trustProxy())
		w := s1.NewWorkspace("restart")
		for range 3 {
			if o, _ := tryLogin(s1, w.MemberEmail, "not the password", sameIP(0)); o.code != "UNAUTHENTICATED" {
				t.Fatalf("answered %+v, want UNAUTHENTICATED", o)
			}
		}
		stop(t, s1)
		s2 := graphtest.Start(t, graphtest.WithClock(clk), trustProxy(), graphtest.WithDatabase(s1.DBPath), graphtest.WithAdminKey(s1.AdminKey))
		if o, _ := tryLogin(s2, w.MemberEmail, w.Password, sameIP(0)); o.code != "RATE_LIMITED" {
			t.Fatalf("after the restart the 4th attempt answered %+v, want RATE_LIMITED", o)
		}
		clk.Advance(time.Second)
		if o, _ := tryLogin(s2, w.MemberEmail, w.Password, sameIP(0)); o.code != "OK" {
			t.Fatalf("after the wait the right password answered %+v, want a session", o)
		}
	})
}

func TestClusterLoginBudget(t *testing.T) {
	clk := clock.NewFake(t0)
	nodes := clusterWith(t, 3, clk, trustProxy())
	w := nodes[0].NewWorkspace("cluster-budget")

	t.Run("50 parallel wrong passwords over 3 instances: the pair's budget holds", func(t *testing.T) {
		got := parallelLogins(t, nodes, 50, w.MemberEmail, "not the password", sameIP)
		if got["UNAUTHENTICATED"] != 3 || got["RATE_LIMITED"] != 47 {
			t.Fatalf("answers %v, want 3 UNAUTHENTICATED and 47 RATE_LIMITED", got)
		}
	})
	t.Run("50 parallel wrong passwords from 50 clients over 3 instances: the email's ceiling holds", func(t *testing.T) {
		clk.Advance(time.Hour) // a fresh window
		got := parallelLogins(t, nodes, 50, w.MemberEmail, "not the password", manyIPs)
		if got["UNAUTHENTICATED"] != 10 || got["RATE_LIMITED"] != 40 {
			t.Fatalf("answers %v, want 10 UNAUTHENTICATED and 40 RATE_LIMITED", got)
		}
	})
	t.Run("another instance refuses the guessing client and admits a clean one", func(t *testing.T) {
		if o, _ := tryLogin(nodes[2], w.MemberEmail, w.Password, manyIPs(0)); o.code != "RATE_LIMITED" {
			t.Fatalf("a failing client answered %+v, want RATE_LIMITED", o)
		}
		o, _ := tryLogin(nodes[1], w.MemberEmail, w.Password, "192.0.2.10")
		if o.code == "RATE_LIMITED" {
			clk.Advance(time.Duration(o.retryAfter) * time.Second)
			o, _ = tryLogin(nodes[1], w.MemberEmail, w.Password, "192.0.2.10")
		}
		if o.code != "OK" {
			t.Fatalf("a clean client answered %+v, want a session", o)
		}
	})
}
