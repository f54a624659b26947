package clock

import "time"

// Scaled runs time faster than the wall clock by Factor, for end-to-end
// tests of minute-scale policies (the server's test-only -time-scale flag):
// with Factor 60 a one-minute idle timeout passes in one real second.
type Scaled struct {
	Factor float64
	start  time.Time
	origin time.Time
}

// NewScaled returns a clock that starts at the current time and runs
// factor times faster.
func NewScaled(factor float64) *Scaled {
	now := time.Now()
	return &Scaled{Factor: factor, start: now, origin: now.UTC()}
}

// NewScaledFrom returns a clock that was at origin when the wall clock was
// at origin, and runs factor times faster: a pure function of wall time,
// so processes given the same origin agree, across restarts too.
func NewScaledFrom(factor float64, origin time.Time) *Scaled {
	return &Scaled{Factor: factor, start: origin, origin: origin.UTC()}
}

// Now returns the scaled time.
func (s *Scaled) Now() time.Time {
	return s.origin.Add(time.Duration(float64(time.Since(s.start)) * s.Factor))
}

// NewTimer returns a real timer for d of scaled time.
func (s *Scaled) NewTimer(d time.Duration) Timer {
	return &scaledTimer{realTimer{time.NewTimer(s.real(d))}, s}
}

func (s *Scaled) real(d time.Duration) time.Duration { return time.Duration(float64(d) / s.Factor) }

type scaledTimer struct {
	realTimer
	s *Scaled
}

func (t *scaledTimer) Reset(d time.Duration) bool { return t.t.Reset(t.s.real(d)) }
