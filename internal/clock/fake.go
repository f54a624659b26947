package clock

import (
	"slices"
	"sync"
	"time"
)

// Fake is a clock that moves only when told to, for tests where time itself
// is the subject. Its timers fire when Advance passes their instant.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	sets   uint64 // timers set so far, by NewTimer or Reset
}

// NewFake returns a fake clock showing t.
func NewFake(t time.Time) *Fake { return &Fake{now: t.UTC()} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d and fires due timers.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	now := f.now
	var due []*fakeTimer
	keep := f.timers[:0]
	for _, t := range f.timers {
		if t.active && !t.at.After(now) {
			t.active = false
			due = append(due, t)
		} else if t.active {
			keep = append(keep, t)
		}
	}
	f.timers = keep
	f.mu.Unlock()
	for _, t := range due {
		select {
		case t.c <- now:
		default:
		}
	}
}

// Timers reports how many timers wait for the clock to reach their instant,
// and how many times a timer was set (by NewTimer or Reset) so far. A test
// that moves time uses it to wait until the goroutines it woke have set
// their timers again, so that their next sleep is measured from the new
// time rather than raced by the test's next move.
func (f *Fake) Timers() (waiting int, set uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.timers {
		if t.active {
			waiting++
		}
	}
	return waiting, f.sets
}

// NewTimer returns a timer that fires when the fake clock reaches now+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

type fakeTimer struct {
	f      *Fake
	c      chan time.Time
	at     time.Time
	active bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	t.f.sets++
	was := t.active
	t.at = t.f.now.Add(d)
	if !t.at.After(t.f.now) {
		t.active = false
		now := t.f.now
		t.f.mu.Unlock()
		select {
		case t.c <- now:
		default:
		}
		return was
	}
	// A stopped timer may still be listed; list each timer once.
	if !t.active && !slices.Contains(t.f.timers, t) {
		t.f.timers = append(t.f.timers, t)
	}
	t.active = true
	t.f.mu.Unlock()
	return was
}
