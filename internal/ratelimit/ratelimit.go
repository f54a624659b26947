// Package ratelimit slows down and then refuses repeated login failures for
// one key (an email address or an IP address). State is in memory, bounded
// in size, per process.
package ratelimit

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Policy says how failures are punished.
type Policy struct {
	// Free is how many failures in Window pass without delay.
	Free int
	// BaseDelay is the wait imposed once Free failures have passed (before
	// the next attempt); it doubles with each further failure.
	BaseDelay time.Duration
	// MaxFailures within Window lock the key out until the window ends.
	MaxFailures int
	// Window is how long failures are remembered.
	Window time.Duration
}

// DefaultPolicy lets 3 failures pass, then waits 1 s, 2 s, 4 s…, and locks
// a key out for 15 minutes after 10 failures.
func DefaultPolicy() Policy {
	return Policy{Free: 3, BaseDelay: time.Second, MaxFailures: 10, Window: 15 * time.Minute}
}

type entry struct {
	failures  int
	first     time.Time
	notBefore time.Time
}

// Limiter tracks failures per key.
type Limiter struct {
	policy Policy
	mu     sync.Mutex
	keys   *lru.Cache[string, *entry]
}

// New returns a limiter remembering at most size keys (oldest forgotten first).
func New(p Policy, size int) *Limiter {
	c, _ := lru.New[string, *entry](size) // size > 0 never fails
	return &Limiter{policy: p, keys: c}
}

// Allow reports whether an attempt for key may proceed at now, and if
// not, how long to wait.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.keys.Get(key)
	if !ok {
		return true, 0
	}
	if now.Sub(e.first) >= l.policy.Window {
		l.keys.Remove(key)
		return true, 0
	}
	if now.Before(e.notBefore) {
		return false, e.notBefore.Sub(now)
	}
	return true, 0
}

// Fail records a failed attempt for key at now.
func (l *Limiter) Fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.keys.Get(key)
	if !ok || now.Sub(e.first) >= l.policy.Window {
		e = &entry{first: now}
		l.keys.Add(key, e)
	}
	e.failures++
	switch {
	case e.failures >= l.policy.MaxFailures:
		e.notBefore = e.first.Add(l.policy.Window)
	case e.failures >= max(l.policy.Free, 1):
		// Free failures pass; the attempt after them already waits BaseDelay.
		shift := min(e.failures-max(l.policy.Free, 1), 20)
		e.notBefore = now.Add(l.policy.BaseDelay << shift)
	}
}

// Reset forgets key's failures, after a success.
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys.Remove(key)
}
