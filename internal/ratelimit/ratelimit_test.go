package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// budget: a pair gets 2 quick failures, then 1 s, 2 s… and stops after 4;
// a client 4 quick ones over all emails and stops after 8; an email past 5
// failures takes clean clients one at a time, 1 s apart, doubling.
var budget = Budget{
	Pair:   Policy{Free: 2, BaseDelay: time.Second, MaxDelay: time.Minute, Max: 4, Window: 10 * time.Minute},
	Client: Policy{Free: 4, BaseDelay: time.Second, MaxDelay: time.Minute, Max: 8, Window: 10 * time.Minute},
	Email:  Policy{Free: 5, BaseDelay: time.Second, MaxDelay: 4 * time.Second, Window: 10 * time.Minute},
}

type harness struct {
	t *testing.T
	l *Limiter
	m *Memory
}

func newHarness(t *testing.T) harness {
	m := NewMemory()
	return harness{t: t, l: New(budget, m), m: m}
}

// fail makes a failed attempt and requires it to be allowed.
func (h harness) fail(email, ip string, now time.Time) {
	h.t.Helper()
	if _, wait, err := h.l.Reserve(context.Background(), email, ip, now); err != nil || wait != 0 {
		h.t.Fatalf("Reserve(%s, %s, t0+%v) = wait %v err %v, want allowed", email, ip, now.Sub(t0), wait, err)
	}
}

// succeed makes an attempt with the right password and requires it allowed.
func (h harness) succeed(email, ip string, now time.Time) {
	h.t.Helper()
	a, wait, err := h.l.Reserve(context.Background(), email, ip, now)
	if err != nil || wait != 0 {
		h.t.Fatalf("Reserve(%s, %s, t0+%v) = wait %v err %v, want allowed", email, ip, now.Sub(t0), wait, err)
	}
	if err := h.l.Refund(context.Background(), a, now); err != nil {
		h.t.Fatal(err)
	}
}

// refused requires an attempt to be refused with exactly wait.
func (h harness) refused(email, ip string, now time.Time, want time.Duration) {
	h.t.Helper()
	a, wait, err := h.l.Reserve(context.Background(), email, ip, now)
	if err != nil || a != nil || wait != want {
		h.t.Fatalf("Reserve(%s, %s, t0+%v) = attempt %v wait %v err %v, want refused for %v", email, ip, now.Sub(t0), a != nil, wait, err, want)
	}
}

func TestPair(t *testing.T) {
	t.Run("free failures pass, then each waits twice as long", func(t *testing.T) {
		h := newHarness(t)
		h.fail("ann", "ip1", t0)
		h.fail("ann", "ip1", t0)
		h.refused("ann", "ip1", t0, time.Second)
		h.fail("ann", "ip1", t0.Add(time.Second))
		h.refused("ann", "ip1", t0.Add(time.Second), 2*time.Second)
	})
	t.Run("max failures stop the pair until the window ends", func(t *testing.T) {
		h := newHarness(t)
		now := t0
		for range budget.Pair.Max {
			h.fail("ann", "ip1", now)
			now = now.Add(time.Minute)
		}
		h.refused("ann", "ip1", now, t0.Add(budget.Pair.Window).Sub(now))
		h.fail("ann", "ip1", t0.Add(budget.Pair.Window))
	})
	t.Run("a refused attempt counts for nothing", func(t *testing.T) {
		h := newHarness(t)
		h.fail("ann", "ip1", t0)
		h.fail("ann", "ip1", t0)
		for range 50 {
			h.refused("ann", "ip1", t0, time.Second)
		}
		// Had the refusals counted, the pair would be stopped for the window.
		h.fail("ann", "ip1", t0.Add(time.Second))
	})
	t.Run("a success forgets the pair", func(t *testing.T) {
		h := newHarness(t)
		h.fail("ann", "ip1", t0)
		h.succeed("ann", "ip1", t0)
		h.fail("ann", "ip1", t0)
		h.fail("ann", "ip1", t0)
		h.refused("ann", "ip1", t0, time.Second)
	})
}

func TestClient(t *testing.T) {
	t.Run("one client guessing many emails is slowed and stopped", func(t *testing.T) {
		h := newHarness(t)
		for i := range budget.Client.Free {
			h.fail(fmt.Sprintf("u%d", i), "ip1", t0)
		}
		h.refused("fresh", "ip1", t0, time.Second)
		// Another client is not affected.
		h.fail("fresh", "ip2", t0)
	})
	t.Run("a success does not reset the client for other emails", func(t *testing.T) {
		h := newHarness(t)
		for i := range budget.Client.Free - 1 {
			h.fail(fmt.Sprintf("u%d", i), "ip1", t0)
		}
		h.succeed("mine", "ip1", t0)
		h.fail("other", "ip1", t0)
		h.refused("another", "ip1", t0, time.Second)
	})
	t.Run("a success gives back its own reservation", func(t *testing.T) {
		h := newHarness(t)
		for i := range budget.Client.Free - 1 {
			h.fail(fmt.Sprintf("u%d", i), "ip1", t0)
		}
		// This success reserved the last free attempt and its wait; the
		// refund gives back both.
		h.succeed("mine", "ip1", t0)
		h.succeed("mine", "ip1", t0)
		h.fail("other", "ip1", t0)
	})
}

func TestEmailCeiling(t *testing.T) {
	hammer := func(h harness, now time.Time) {
		// Attackers from three addresses reach the ceiling.
		for _, ip := range []string{"evil1", "evil1", "evil2", "evil2", "evil3"} {
			h.fail("ann", ip, now)
		}
	}
	t.Run("over the ceiling a failing client waits for the window", func(t *testing.T) {
		h := newHarness(t)
		hammer(h, t0)
		h.refused("ann", "evil1", t0.Add(time.Minute), budget.Email.Window-time.Minute)
	})
	t.Run("over the ceiling a clean client still gets in, one at a time", func(t *testing.T) {
		h := newHarness(t)
		hammer(h, t0)
		// The ceiling's spacing was set by the last failure.
		h.refused("ann", "home", t0, time.Second)
		h.succeed("ann", "home", t0.Add(time.Second))
		// The right password's attempt was refunded: the next clean client
		// waits no longer than it did.
		h.succeed("ann", "office", t0.Add(time.Second))
	})
	t.Run("the email is never locked: spacing is capped", func(t *testing.T) {
		h := newHarness(t)
		now := t0
		for i := range 40 {
			ip := fmt.Sprintf("bot%d", i)
			a, wait, _ := h.l.Reserve(context.Background(), "ann", ip, now)
			if wait > budget.Email.MaxDelay {
				t.Fatalf("attempt %d waits %v, more than the cap %v", i, wait, budget.Email.MaxDelay)
			}
			if a == nil {
				now = now.Add(wait)
				h.fail("ann", ip, now)
			}
		}
		_, wait, _ := h.l.Reserve(context.Background(), "ann", "home", now)
		if wait > budget.Email.MaxDelay {
			t.Fatalf("a clean client waits %v, want at most %v", wait, budget.Email.MaxDelay)
		}
	})
}

func TestParallelAttemptsAreCountedBeforeTheyRun(t *testing.T) {
	h := newHarness(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a, _, _ := h.l.Reserve(context.Background(), "ann", "ip1", t0); a != nil {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != budget.Pair.Free {
		t.Fatalf("%d of 50 parallel attempts allowed, want the pair's %d", allowed, budget.Pair.Free)
	}
}

func TestPrune(t *testing.T) {
	h := newHarness(t)
	h.fail("ann", "ip1", t0)
	if n := h.m.Len(); n != 3 {
		t.Fatalf("%d counters, want 3", n)
	}
	if n, _ := h.l.Prune(context.Background(), t0.Add(budget.Pair.Window-time.Second)); n != 0 {
		t.Fatalf("pruned %d counters inside their window", n)
	}
	if n, _ := h.l.Prune(context.Background(), t0.Add(budget.Pair.Window+time.Second)); n != 3 || h.m.Len() != 0 {
		t.Fatalf("pruned %d, %d left; want 3 and 0", n, h.m.Len())
	}
}

// Right passwords checked in parallel are refunded in whatever order their
// checks finish. The wait one of them set must go with the refunds: here
// the fourth attempt of a client sets its wait and the first is refunded
// before it. Before this was fixed, the wait outlived every refund, and
// twenty parallel right-password logins of one person from one address
// were refused "too many failed logins".
func TestRefundsInAnyOrderLeaveNoWait(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var held []*Attempt
	for i := range budget.Client.Free {
		a, wait, err := h.l.Reserve(ctx, fmt.Sprintf("user%d", i), "ip1", t0)
		if err != nil || wait != 0 {
			t.Fatalf("attempt %d: wait %v err %v", i, wait, err)
		}
		held = append(held, a)
	}
	h.refused("other", "ip1", t0, time.Second) // the client's free attempts are all in flight
	if err := h.l.Refund(ctx, held[0], t0); err != nil {
		t.Fatal(err)
	}
	// One attempt fewer counted: the state is as if the first had never
	// been made, so the next goes at once.
	a, wait, err := h.l.Reserve(ctx, "other", "ip1", t0)
	if err != nil || wait != 0 {
		t.Fatalf("after one refund: wait %v err %v, want allowed", wait, err)
	}
	held = append(held[1:], a)
	for i := len(held) - 1; i >= 0; i-- { // the newest first
		if err := h.l.Refund(ctx, held[i], t0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range budget.Client.Free - 1 {
		h.fail(fmt.Sprintf("later%d", i), "ip1", t0)
	}
}
