package clock

import (
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fired reports whether the timer has a value ready, and which.
func fired(tm Timer) (time.Time, bool) {
	select {
	case at := <-tm.C():
		return at, true
	default:
		return time.Time{}, false
	}
}

func wantNotFired(t *testing.T, tm Timer, when string) {
	t.Helper()
	if at, ok := fired(tm); ok {
		t.Fatalf("%s: timer fired at %v, want not fired", when, at)
	}
}

func wantFired(t *testing.T, tm Timer, at time.Time, when string) {
	t.Helper()
	got, ok := fired(tm)
	if !ok {
		t.Fatalf("%s: timer did not fire, want fired at %v", when, at)
	}
	if !got.Equal(at) {
		t.Fatalf("%s: timer fired with %v, want %v", when, got, at)
	}
}

func TestFakeNow(t *testing.T) {
	f := NewFake(t0.In(time.FixedZone("CET", 3600)))
	if got := f.Now(); !got.Equal(t0) || got.Location() != time.UTC {
		t.Fatalf("Now() = %v, want %v in UTC", got, t0)
	}
	f.Advance(90 * time.Second)
	if got, want := f.Now(), t0.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("after Advance(90s): Now() = %v, want %v", got, want)
	}
}

func TestFakeTimer(t *testing.T) {
	t.Run("fires when the clock reaches its instant, not before", func(t *testing.T) {
		f := NewFake(t0)
		tm := f.NewTimer(10 * time.Second)
		f.Advance(10*time.Second - time.Nanosecond)
		wantNotFired(t, tm, "a nanosecond early")
		f.Advance(time.Nanosecond)
		wantFired(t, tm, t0.Add(10*time.Second), "on time")
	})

	t.Run("an advance past the instant fires with the new time", func(t *testing.T) {
		f := NewFake(t0)
		tm := f.NewTimer(time.Second)
		f.Advance(time.Minute)
		wantFired(t, tm, t0.Add(time.Minute), "past due")
	})

	t.Run("fires once", func(t *testing.T) {
		f := NewFake(t0)
		tm := f.NewTimer(time.Second)
		f.Advance(time.Second)
		wantFired(t, tm, t0.Add(time.Second), "first advance")
		f.Advance(time.Second)
		f.Advance(time.Hour)
		wantNotFired(t, tm, "later advances")
	})

	t.Run("only due timers fire", func(t *testing.T) {
		f := NewFake(t0)
		soon, late := f.NewTimer(time.Second), f.NewTimer(time.Minute)
		f.Advance(time.Second)
		wantFired(t, soon, t0.Add(time.Second), "soon timer")
		wantNotFired(t, late, "late timer")
		f.Advance(time.Minute)
		wantFired(t, late, t0.Add(61*time.Second), "late timer after a minute")
	})

	t.Run("stop prevents firing", func(t *testing.T) {
		f := NewFake(t0)
		tm := f.NewTimer(time.Second)
		if !tm.Stop() {
			t.Fatalf("Stop() of an armed timer = false, want true")
		}
		f.Advance(time.Hour)
		wantNotFired(t, tm, "stopped")
		if tm.Stop() {
			t.Fatalf("second Stop() = true, want false")
		}
	})

	t.Run("stop after firing reports false", func(t *testing.T) {
		f := NewFake(t0)
		tm := f.NewTimer(time.Second)
		f.Advance(time.Second)
		if tm.Stop() {
			t.Fatalf("Stop() of a fired timer = true, want false")
		}
	})

	t.Run("reset re-arms a fired timer from now", func(t *testing.T) {
		f := NewFake(t0)
		tm := f.NewTimer(time.Second)
		f.Advance(time.Second)
		wantFired(t, tm, t0.Add(time.Second), "first firing")
		if tm.Reset(5 * time.Second) {
			t.Fatalf("Reset of a fired timer = true, want false")
		}
		f.Advance(5*time.Second - time.Nanosecond)
		wantNotFired(t, tm, "before the new instant")
		f.Advance(time.Nanosecond)
		wantFired(t, tm, t0.Add(6*time.Second), "at the new instant")
	})

	t.Run("reset re-arms a stopped timer", func(t *testing.T) {
		f := NewFake(t0)
		tm := f.NewTimer(time.Second)
		tm.Stop()
		tm.Reset(2 * time.Second)
		f.Advance(time.Second)
		wantNotFired(t, tm, "at the old instant")
		f.Advance(time.Second)
		wantFired(t, tm, t0.Add(2*time.Second), "at the new instant")
		f.Advance(time.Hour)
		wantNotFired(t, tm, "after firing once")
	})

	t.Run("reset moves an armed timer", func(t *testing.T) {
		f := NewFake(t0)
		tm := f.NewTimer(time.Second)
		if !tm.Reset(time.Minute) {
			t.Fatalf("Reset of an armed timer = false, want true")
		}
		f.Advance(time.Second)
		wantNotFired(t, tm, "at the old instant")
		f.Advance(time.Minute)
		wantFired(t, tm, t0.Add(61*time.Second), "after the new instant")
		f.Advance(time.Hour)
		wantNotFired(t, tm, "after firing once")
	})

	t.Run("NewTimer(0) fires at once", func(t *testing.T) {
		f := NewFake(t0)
		wantFired(t, f.NewTimer(0), t0, "without advancing")
	})

	t.Run("negative duration fires at once", func(t *testing.T) {
		f := NewFake(t0)
		wantFired(t, f.NewTimer(-time.Second), t0, "without advancing")
	})

	t.Run("reset to zero fires at once and disarms", func(t *testing.T) {
		f := NewFake(t0)
		tm := f.NewTimer(time.Minute)
		tm.Reset(0)
		wantFired(t, tm, t0, "without advancing")
		f.Advance(time.Hour)
		wantNotFired(t, tm, "at the old instant")
	})
}
