// Package ratelimit is the login budget: it slows down and then refuses
// repeated login failures per client (IP address) and per email–client
// pair, and slows, without ever locking out, attempts for an email that is
// failing from everywhere.
//
// The rule (OWASP's advice against lockouts an attacker can aim at a
// person): a client that guesses is slowed and then stopped, a person
// whose email is being guessed from elsewhere is slowed but can still sign
// in from a client that has not been failing for that email.
//
//   - Pair (email, client IP): Free failures in Window pass at once; each
//     further one waits BaseDelay, doubling up to MaxDelay; after Max
//     failures that client may not try that email until the window ends.
//   - Client IP: the same, with its own policy, over all emails.
//   - Email: once Free failures (the ceiling) in Window came from anywhere,
//     clients that have failed for it are refused until its window ends,
//     and clients that have not may try one at a time, each attempt at
//     least BaseDelay (doubling per further failure, up to MaxDelay) after
//     the previous one. There is no Max: the email is never locked.
//
// A refused attempt counts for nothing, so refusals cannot extend a wait.
// An allowed attempt is counted before the password is checked (the check
// and the count are one atomic step in the Store) and refunded when it
// succeeds: a success forgets the pair's failures, and gives back its own
// reservation on the IP and the email without forgetting their other
// failures (so a success does not reset an IP's budget for other emails).
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Policy says how failures on one counter are punished.
type Policy struct {
	// Free is how many failures in Window pass without delay.
	Free int
	// BaseDelay is the wait imposed once Free failures have passed (before
	// the next attempt); it doubles with each further failure.
	BaseDelay time.Duration
	// MaxDelay caps the doubling (zero: no cap but Window).
	MaxDelay time.Duration
	// Max failures within Window stop attempts until the window ends
	// (zero: never; the email counter has none).
	Max int
	// Window is how long failures are remembered, from the first one.
	Window time.Duration
}

// Budget is the policy of each of the three counters an attempt touches.
type Budget struct {
	// Pair counts one client's failures for one email.
	Pair Policy
	// Client counts one client's failures over all emails.
	Client Policy
	// Email counts one email's failures from all clients; Free is the
	// ceiling past which attempts are spaced out (see the package doc).
	Email Policy
}

// DefaultBudget: a client gets 3 quick guesses per email, then waits 1 s,
// 2 s, 4 s… and is stopped for that email after 10 in 15 minutes; 10
// quick guesses over all emails, then the same doubling up to a minute and
// a stop after 100 in 15 minutes; an email failing 10 times in 15 minutes
// from anywhere takes one attempt at a time from clients that have not
// failed for it, spaced 1 s doubling up to 1 minute.
func DefaultBudget() Budget {
	w := 15 * time.Minute
	return Budget{
		Pair:   Policy{Free: 3, BaseDelay: time.Second, MaxDelay: time.Minute, Max: 10, Window: w},
		Client: Policy{Free: 10, BaseDelay: time.Second, MaxDelay: time.Minute, Max: 100, Window: w},
		Email:  Policy{Free: 10, BaseDelay: time.Second, MaxDelay: time.Minute, Window: w},
	}
}

// Counter is the stored state of one key. The zero Counter is "no failures".
type Counter struct {
	Failures  int
	First     time.Time // start of the window; zero when Failures is 0
	NotBefore time.Time // no attempt before this
}

// live returns c, or the zero Counter when its window has ended.
func (c Counter) live(p Policy, now time.Time) Counter {
	if c.Failures <= 0 || !now.Before(c.First.Add(p.Window)) {
		return Counter{}
	}
	return c
}

// wait is how long an attempt on c must wait at now under p (0: it may go).
func (c Counter) wait(p Policy, now time.Time) time.Duration {
	if p.Max > 0 && c.Failures >= p.Max {
		return c.First.Add(p.Window).Sub(now)
	}
	if now.Before(c.NotBefore) {
		return c.NotBefore.Sub(now)
	}
	return 0
}

// fail counts one failure on c at now.
func (c Counter) fail(p Policy, now time.Time) Counter {
	if c.Failures == 0 {
		c.First = now
	}
	c.Failures++
	free := max(p.Free, 1)
	switch {
	case p.Max > 0 && c.Failures >= p.Max:
		c.NotBefore = c.First.Add(p.Window)
	case c.Failures >= free:
		d := p.BaseDelay << min(c.Failures-free, 30)
		if p.MaxDelay > 0 && d > p.MaxDelay {
			d = p.MaxDelay
		}
		c.NotBefore = now.Add(d)
	}
	return c
}

// Counters are the three counters one attempt reads and writes.
type Counters struct{ Pair, Client, Email Counter }

// Reserve decides an attempt at now: either it may go and next is the
// state with the attempt counted as a failure, or it must wait (wait > 0)
// and nothing changes. Pure: the Store makes it atomic.
func (b Budget) Reserve(c Counters, now time.Time) (next Counters, wait time.Duration) {
	c.Pair = c.Pair.live(b.Pair, now)
	c.Client = c.Client.live(b.Client, now)
	c.Email = c.Email.live(b.Email, now)
	wait = max(c.Pair.wait(b.Pair, now), c.Client.wait(b.Client, now))
	if c.Email.Failures >= max(b.Email.Free, 1) {
		if c.Pair.Failures > 0 {
			// Over the ceiling, only clients that have not failed for this
			// email may try; this one waits for the email's window.
			wait = max(wait, c.Email.First.Add(b.Email.Window).Sub(now))
		} else {
			wait = max(wait, c.Email.wait(b.Email, now))
		}
	}
	if wait > 0 {
		return c, wait
	}
	return Counters{
		Pair:   c.Pair.fail(b.Pair, now),
		Client: c.Client.fail(b.Client, now),
		Email:  c.Email.fail(b.Email, now),
	}, 0
}

// Refund gives back a reservation whose password was right: cur is the
// stored state now, before and after the state the reservation read and
// wrote. The pair is forgotten; the client and the email lose this one
// failure, and the wait it imposed if no later failure replaced it.
func (b Budget) Refund(cur, before, after Counters, now time.Time) Counters {
	give := func(cur, before, after Counter, p Policy) Counter {
		cur = cur.live(p, now)
		if cur.Failures == 0 || !cur.First.Equal(after.First) {
			return cur // a new window started since: nothing of ours is left
		}
		cur.Failures--
		switch {
		case cur.Failures == 0:
			return Counter{}
		case cur.Failures < max(p.Free, 1):
			// Below the free count no failure imposes a wait (see fail).
			// Refunds arrive in any order: the wait may have been set by
			// another refunded attempt, and must not outlive it.
			cur.NotBefore = time.Time{}
		case cur.NotBefore.Equal(after.NotBefore):
			cur.NotBefore = before.NotBefore
		}
		return cur
	}
	return Counters{
		Pair:   Counter{},
		Client: give(cur.Client, before.Client, after.Client, b.Client),
		Email:  give(cur.Email, before.Email, after.Email, b.Email),
	}
}

// Store keeps counters where every instance sharing the database sees
// them. UpdateLoginCounters reads the counters of keys (zero for unknown
// keys), calls update once with them, and stores what it returns, all in
// one atomic step (the rows locked against concurrent updates); a zero
// Counter may be deleted.
type Store interface {
	UpdateLoginCounters(ctx context.Context, keys []string, update func([]Counter) []Counter) error
	// PruneLoginCounters deletes counters whose window started before cutoff.
	PruneLoginCounters(ctx context.Context, cutoff time.Time) (int, error)
}

// Limiter applies a Budget to counters in a Store.
type Limiter struct {
	budget Budget
	store  Store
}

// New returns a limiter over store.
func New(b Budget, store Store) *Limiter { return &Limiter{budget: b, store: store} }

// Budget returns the limiter's budget.
func (l *Limiter) Budget() Budget { return l.budget }

// Attempt is a reserved login attempt, counted as a failure until Refund.
type Attempt struct {
	keys          []string
	before, after Counters
}

// Keys returns the counter keys of an attempt for email from client ip.
// Emails are compared case-insensitively by the caller; keys are hashed
// so no email or address is stored in the clear and every key has one
// size however long the input.
func Keys(email, ip string) []string {
	h := func(parts ...string) string {
		s := sha256.New()
		for _, p := range parts {
			s.Write([]byte(p))
			s.Write([]byte{0})
		}
		return hex.EncodeToString(s.Sum(nil))
	}
	return []string{h("pair", email, ip), h("client", ip), h("email", email)}
}

// Reserve counts an attempt for email from ip at now, or refuses it: wait
// > 0 says how long until it could go, and nothing is counted.
func (l *Limiter) Reserve(ctx context.Context, email, ip string, now time.Time) (*Attempt, time.Duration, error) {
	a := &Attempt{keys: Keys(email, ip)}
	var wait time.Duration
	err := l.store.UpdateLoginCounters(ctx, a.keys, func(cs []Counter) []Counter {
		a.before = Counters{Pair: cs[0], Client: cs[1], Email: cs[2]}
		var next Counters
		next, wait = l.budget.Reserve(a.before, now)
		a.after = next
		return []Counter{next.Pair, next.Client, next.Email}
	})
	if err != nil {
		return nil, 0, err
	}
	if wait > 0 {
		return nil, wait, nil
	}
	return a, 0, nil
}

// Refund gives back an attempt whose password was right.
func (l *Limiter) Refund(ctx context.Context, a *Attempt, now time.Time) error {
	return l.store.UpdateLoginCounters(ctx, a.keys, func(cs []Counter) []Counter {
		r := l.budget.Refund(Counters{Pair: cs[0], Client: cs[1], Email: cs[2]}, a.before, a.after, now)
		return []Counter{r.Pair, r.Client, r.Email}
	})
}

// Prune deletes counters whose longest window has ended.
func (l *Limiter) Prune(ctx context.Context, now time.Time) (int, error) {
	w := max(l.budget.Pair.Window, l.budget.Client.Window, l.budget.Email.Window)
	return l.store.PruneLoginCounters(ctx, now.Add(-w))
}
