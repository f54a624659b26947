package expiry

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/clock"
)

// patience bounds every wait for the scheduler goroutine; reaching it is a
// failure, never a pass.
const patience = 5 * time.Second

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeEnder holds session deadlines in memory and ends those the fake clock
// has reached, recording when each EndDue call happened.
type fakeEnder struct {
	clk *clock.Fake

	mu        sync.Mutex
	deadlines map[string]time.Time
	ended     map[string]time.Time // id → clock time it ended at
	calls     []time.Time          // clock time of each EndDue call
	fail      int                  // EndDue calls still to fail
	endedC    chan string
}

func newFakeEnder(clk *clock.Fake) *fakeEnder {
	return &fakeEnder{clk: clk, deadlines: map[string]time.Time{}, ended: map[string]time.Time{}, endedC: make(chan string, 100)}
}

var errStore = errors.New("store unavailable")

func (f *fakeEnder) EndDue(context.Context) (int, error) {
	now := f.clk.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, now)
	if f.fail > 0 {
		f.fail--
		return 0, errStore
	}
	n := 0
	for id, d := range f.deadlines {
		if !d.After(now) {
			delete(f.deadlines, id)
			f.ended[id] = now
			f.endedC <- id
			n++
		}
	}
	return n, nil
}

func (f *fakeEnder) NextDeadline(context.Context) (time.Time, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var next time.Time
	for _, d := range f.deadlines {
		if next.IsZero() || d.Before(next) {
			next = d
		}
	}
	return next, !next.IsZero(), nil
}

func (f *fakeEnder) add(id string, deadline time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deadlines[id] = deadline
}

func (f *fakeEnder) callTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls...)
}

// armClock is the fake clock, telling the test each time the scheduler arms
// its timer (once per round), so the test moves time only while the
// scheduler waits.
type armClock struct {
	*clock.Fake
	armed chan time.Duration
}

func (c *armClock) NewTimer(d time.Duration) clock.Timer {
	return &armTimer{Timer: c.Fake.NewTimer(d), armed: c.armed}
}

type armTimer struct {
	clock.Timer
	armed chan time.Duration
}

func (t *armTimer) Reset(d time.Duration) bool {
	was := t.Timer.Reset(d)
	t.armed <- d
	return was
}

type harness struct {
	clk   *clock.Fake
	ender *fakeEnder
	s     *Scheduler
	armed chan time.Duration
}

const (
	maxSleep   = time.Minute
	retryAfter = 3 * time.Second
)

// start runs a scheduler until the test ends and waits for its first round.
func start(t *testing.T, setup func(*fakeEnder)) *harness {
	t.Helper()
	clk := clock.NewFake(t0)
	h := &harness{clk: clk, ender: newFakeEnder(clk), armed: make(chan time.Duration, 100)}
	if setup != nil {
		setup(h.ender)
	}
	h.s = New(h.ender, &armClock{Fake: clk, armed: h.armed}, slog.New(slog.DiscardHandler))
	h.s.MaxSleep, h.s.RetryAfter = maxSleep, retryAfter
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(patience):
			t.Errorf("Run did not return within %v of cancel", patience)
		}
	})
	return h
}

// waitArmed waits for the scheduler's next round to arm its timer and
// returns the sleep it chose.
func (h *harness) waitArmed(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-h.armed:
		return d
	case <-time.After(patience):
		t.Fatalf("scheduler did not arm its timer within %v (EndDue calls at %v)", patience, h.ender.callTimes())
		return 0
	}
}

func (h *harness) wantArmed(t *testing.T, want time.Duration) {
	t.Helper()
	if got := h.waitArmed(t); got != want {
		t.Fatalf("scheduler sleeps %v, want %v", got, want)
	}
}

func (h *harness) waitEnded(t *testing.T, id string) time.Time {
	t.Helper()
	select {
	case got := <-h.ender.endedC:
		if got != id {
			t.Fatalf("session %s ended, want %s", got, id)
		}
	case <-time.After(patience):
		t.Fatalf("session %s not ended within %v (clock at %v, EndDue calls at %v)", id, patience, h.clk.Now(), h.ender.callTimes())
	}
	h.ender.mu.Lock()
	defer h.ender.mu.Unlock()
	return h.ender.ended[id]
}

func (h *harness) wantCalls(t *testing.T, want ...time.Time) {
	t.Helper()
	got := h.ender.callTimes()
	if len(got) != len(want) {
		t.Fatalf("EndDue called at %v, want at %v", got, want)
	}
	for i := range got {
		if !got[i].Equal(want[i]) {
			t.Fatalf("EndDue called at %v, want at %v", got, want)
		}
	}
}

func TestScheduler(t *testing.T) {
	t.Run("ends a session when the clock reaches its deadline, not before", func(t *testing.T) {
		deadline := t0.Add(10 * time.Second)
		h := start(t, func(e *fakeEnder) { e.add("s1", deadline) })
		h.wantArmed(t, 10*time.Second)
		h.clk.Advance(10*time.Second - time.Nanosecond)
		h.clk.Advance(time.Nanosecond)
		if at := h.waitEnded(t, "s1"); !at.Equal(deadline) {
			t.Fatalf("session ended at %v, want at its deadline %v", at, deadline)
		}
		h.waitArmed(t)
		// One round at start and one at the deadline: none before it.
		h.wantCalls(t, t0, deadline)
	})

	t.Run("a session already due at start ends in the first round", func(t *testing.T) {
		h := start(t, func(e *fakeEnder) { e.add("s1", t0.Add(-time.Hour)) })
		if at := h.waitEnded(t, "s1"); !at.Equal(t0) {
			t.Fatalf("session ended at %v, want at %v", at, t0)
		}
		h.wantArmed(t, maxSleep)
	})

	t.Run("sessions end in deadline order, each on time", func(t *testing.T) {
		h := start(t, func(e *fakeEnder) {
			e.add("late", t0.Add(30*time.Second))
			e.add("soon", t0.Add(10*time.Second))
		})
		h.wantArmed(t, 10*time.Second)
		h.clk.Advance(10 * time.Second)
		h.waitEnded(t, "soon")
		h.wantArmed(t, 20*time.Second)
		h.clk.Advance(20 * time.Second)
		if at := h.waitEnded(t, "late"); !at.Equal(t0.Add(30 * time.Second)) {
			t.Fatalf("late session ended at %v, want at %v", at, t0.Add(30*time.Second))
		}
	})

	t.Run("a deadline beyond MaxSleep is approached in MaxSleep steps", func(t *testing.T) {
		deadline := t0.Add(maxSleep + 30*time.Second)
		h := start(t, func(e *fakeEnder) { e.add("s1", deadline) })
		h.wantArmed(t, maxSleep)
		h.clk.Advance(maxSleep)
		h.wantArmed(t, 30*time.Second)
		h.clk.Advance(30 * time.Second)
		if at := h.waitEnded(t, "s1"); !at.Equal(deadline) {
			t.Fatalf("session ended at %v, want at %v", at, deadline)
		}
	})

	t.Run("with no sessions it sleeps MaxSleep without a busy loop", func(t *testing.T) {
		h := start(t, nil)
		h.wantArmed(t, maxSleep)
		h.wantCalls(t, t0)
		h.clk.Advance(maxSleep - time.Nanosecond)
		h.clk.Advance(time.Nanosecond)
		h.wantArmed(t, maxSleep)
		h.wantCalls(t, t0, t0.Add(maxSleep))
	})

	t.Run("wake with an earlier deadline re-plans", func(t *testing.T) {
		h := start(t, nil)
		h.wantArmed(t, maxSleep)
		deadline := t0.Add(10 * time.Second)
		h.ender.add("s1", deadline)
		h.s.Wake(deadline)
		// It looks at once, no time passing, and sleeps until the new deadline.
		h.wantArmed(t, 10*time.Second)
		h.wantCalls(t, t0, t0)
		h.clk.Advance(10 * time.Second)
		if at := h.waitEnded(t, "s1"); !at.Equal(deadline) {
			t.Fatalf("session ended at %v, want at %v", at, deadline)
		}
	})

	t.Run("wake with the zero time looks again", func(t *testing.T) {
		h := start(t, nil)
		h.wantArmed(t, maxSleep)
		// A deadline that moved into the past, e.g. after a stricter policy.
		h.ender.add("s1", t0.Add(-time.Second))
		h.s.Wake(time.Time{})
		if at := h.waitEnded(t, "s1"); !at.Equal(t0) {
			t.Fatalf("session ended at %v, want at once (%v)", at, t0)
		}
		h.wantArmed(t, maxSleep)
	})

	t.Run("failed round is retried after RetryAfter", func(t *testing.T) {
		h := start(t, func(e *fakeEnder) {
			e.fail = 1
			e.add("s1", t0.Add(-time.Second))
		})
		h.wantArmed(t, retryAfter)
		h.wantCalls(t, t0)
		h.clk.Advance(retryAfter - time.Nanosecond)
		h.clk.Advance(time.Nanosecond)
		if at := h.waitEnded(t, "s1"); !at.Equal(t0.Add(retryAfter)) {
			t.Fatalf("session ended at %v, want at the retry %v", at, t0.Add(retryAfter))
		}
		h.wantArmed(t, maxSleep)
		h.wantCalls(t, t0, t0.Add(retryAfter))
	})

	t.Run("failed NextDeadline is retried after RetryAfter", func(t *testing.T) {
		clk := clock.NewFake(t0)
		ender := &failingNext{fakeEnder: newFakeEnder(clk), fail: 1}
		armed := make(chan time.Duration, 100)
		s := New(ender, &armClock{Fake: clk, armed: armed}, slog.New(slog.DiscardHandler))
		s.MaxSleep, s.RetryAfter = maxSleep, retryAfter
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.Run(ctx) }()
		defer func() { cancel(); <-done }()
		h := &harness{clk: clk, ender: ender.fakeEnder, s: s, armed: armed}
		h.wantArmed(t, retryAfter)
		clk.Advance(retryAfter)
		h.wantArmed(t, maxSleep)
	})
}

type failingNext struct {
	*fakeEnder
	fail int
}

func (f *failingNext) NextDeadline(ctx context.Context) (time.Time, bool, error) {
	f.mu.Lock()
	fail := f.fail > 0
	if fail {
		f.fail--
	}
	f.mu.Unlock()
	if fail {
		return time.Time{}, false, errStore
	}
	return f.fakeEnder.NextDeadline(ctx)
}

func TestRunStopsOnCancel(t *testing.T) {
	cases := []struct {
		name  string
		setup func(*fakeEnder)
	}{
		{"while sleeping", nil},
		{"while waiting to retry", func(e *fakeEnder) { e.fail = 1 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			ender := newFakeEnder(clk)
			if c.setup != nil {
				c.setup(ender)
			}
			armed := make(chan time.Duration, 100)
			s := New(ender, &armClock{Fake: clk, armed: armed}, slog.New(slog.DiscardHandler))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); s.Run(ctx) }()
			select {
			case <-armed:
			case <-time.After(patience):
				t.Fatalf("scheduler did not arm its timer within %v", patience)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(patience):
				t.Fatalf("Run did not return within %v of cancel", patience)
			}
		})
	}

	t.Run("already cancelled", func(t *testing.T) {
		clk := clock.NewFake(t0)
		s := New(newFakeEnder(clk), clk, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan struct{})
		go func() { defer close(done); s.Run(ctx) }()
		select {
		case <-done:
		case <-time.After(patience):
			t.Fatalf("Run with a cancelled context did not return within %v", patience)
		}
	})
}

func TestWakeNeverBlocks(t *testing.T) {
	clk := clock.NewFake(t0)
	s := New(newFakeEnder(clk), clk, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Nobody runs the scheduler: the wake-ups only fill its buffer.
		for range 10 * cap(s.wake) {
			s.Wake(t0)
		}
	}()
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatalf("Wake blocked with no scheduler running")
	}
}
