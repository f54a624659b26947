package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// policy lets 2 failures pass; the attempt after them waits 1 s, then 2 s,
// 4 s…, and 6 failures within 10 minutes lock a key out.
var policy = Policy{Free: 2, BaseDelay: time.Second, MaxFailures: 6, Window: 10 * time.Minute}

func wantAllow(t *testing.T, l *Limiter, key string, now time.Time) {
	t.Helper()
	if ok, wait := l.Allow(key, now); !ok || wait != 0 {
		t.Fatalf("Allow(%q, t0+%v) = (%v, %v), want (true, 0)", key, now.Sub(t0), ok, wait)
	}
}

func wantRefuse(t *testing.T, l *Limiter, key string, now time.Time, wait time.Duration) {
	t.Helper()
	if ok, got := l.Allow(key, now); ok || got != wait {
		t.Fatalf("Allow(%q, t0+%v) = (%v, %v), want (false, %v)", key, now.Sub(t0), ok, got, wait)
	}
}

func TestBackoff(t *testing.T) {
	t.Run("unknown key is allowed", func(t *testing.T) {
		wantAllow(t, New(policy, 10), "k", t0)
	})

	t.Run("free failures pass without delay, the next attempt waits", func(t *testing.T) {
		l := New(policy, 10)
		for i := range policy.Free - 1 {
			l.Fail("k", t0)
			if ok, wait := l.Allow("k", t0); !ok || wait != 0 {
				t.Fatalf("after %d failures: Allow = (%v, %v), want (true, 0)", i+1, ok, wait)
			}
		}
		l.Fail("k", t0)
		wantRefuse(t, l, "k", t0, policy.BaseDelay)
	})

	t.Run("each failure beyond free doubles the wait", func(t *testing.T) {
		l := New(policy, 10)
		now := t0
		for range policy.Free - 1 {
			l.Fail("k", now)
		}
		for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
			l.Fail("k", now)
			wantRefuse(t, l, "k", now, wait)
			wantRefuse(t, l, "k", now.Add(wait-time.Millisecond), time.Millisecond)
			now = now.Add(wait)
			wantAllow(t, l, "k", now)
		}
	})

	t.Run("max failures lock out until the window ends", func(t *testing.T) {
		l := New(policy, 10)
		now := t0
		for i := range policy.MaxFailures {
			now = t0.Add(time.Duration(i) * time.Minute)
			l.Fail("k", now)
		}
		end := t0.Add(policy.Window)
		wantRefuse(t, l, "k", now, end.Sub(now))
		wantRefuse(t, l, "k", end.Add(-time.Second), time.Second)
		wantAllow(t, l, "k", end)
	})

	t.Run("after the window a failure starts afresh", func(t *testing.T) {
		l := New(policy, 10)
		for range policy.Free + 2 {
			l.Fail("k", t0)
		}
		later := t0.Add(policy.Window)
		wantAllow(t, l, "k", later)
		// A new window: the first failures are free again.
		for range policy.Free - 1 {
			l.Fail("k", later)
		}
		wantAllow(t, l, "k", later)
		l.Fail("k", later)
		wantRefuse(t, l, "k", later, policy.BaseDelay)
	})

	t.Run("asking after the window frees the key", func(t *testing.T) {
		l := New(policy, 10)
		l.Fail("k", t0)
		wantAllow(t, l, "k", t0.Add(policy.Window))
		if n := l.keys.Len(); n != 0 {
			t.Fatalf("limiter holds %d keys after the window, want 0", n)
		}
	})

	t.Run("failing after the window without asking starts afresh", func(t *testing.T) {
		l := New(policy, 10)
		for range policy.MaxFailures - 1 {
			l.Fail("k", t0)
		}
		later := t0.Add(policy.Window + time.Second)
		// One more failure would lock the key out if the count carried over.
		l.Fail("k", later)
		wantAllow(t, l, "k", later)
	})

	t.Run("reset forgets failures", func(t *testing.T) {
		l := New(policy, 10)
		for range policy.MaxFailures {
			l.Fail("k", t0)
		}
		l.Reset("k")
		wantAllow(t, l, "k", t0)
		for range policy.Free - 1 {
			l.Fail("k", t0)
		}
		wantAllow(t, l, "k", t0)
	})

	t.Run("keys are independent", func(t *testing.T) {
		l := New(policy, 10)
		for range policy.MaxFailures {
			l.Fail("a", t0)
		}
		wantRefuse(t, l, "a", t0, policy.Window)
		wantAllow(t, l, "b", t0)
		l.Fail("b", t0)
		wantAllow(t, l, "b", t0)
		l.Reset("b")
		wantRefuse(t, l, "a", t0, policy.Window)
	})
}

func TestBoundedSize(t *testing.T) {
	const size = 3
	l := New(policy, size)
	lockOut := func(key string) {
		for range policy.MaxFailures {
			l.Fail(key, t0)
		}
	}
	lockOut("oldest")
	for i := range size {
		lockOut(fmt.Sprintf("k%d", i))
	}
	if n := l.keys.Len(); n != size {
		t.Fatalf("limiter holds %d keys, want at most %d", n, size)
	}
	// The oldest key was forgotten to make room; the newest are remembered.
	wantAllow(t, l, "oldest", t0)
	for i := range size {
		wantRefuse(t, l, fmt.Sprintf("k%d", i), t0, policy.Window)
	}
}

func TestDefaultPolicy(t *testing.T) {
	l := New(DefaultPolicy(), 10)
	for range 2 {
		l.Fail("k", t0)
	}
	wantAllow(t, l, "k", t0)
	l.Fail("k", t0)
	wantRefuse(t, l, "k", t0, time.Second)
	for range 7 {
		l.Fail("k", t0)
	}
	wantRefuse(t, l, "k", t0, 15*time.Minute)
}
