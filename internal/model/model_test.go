package model

import (
	"testing"
	"time"
)

func TestSessionWithActivity(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	const idle = 30 * time.Minute
	// live is a session created at t0, last active at t0, idle for 30 min,
	// with an absolute deadline abs after t0 (none when abs is 0).
	live := func(abs time.Duration) Session {
		s := Session{ID: "s1", CreatedAt: t0, LastActiveAt: t0, IdleTimeout: idle, IdleExpiresAt: t0.Add(idle), ExpiresAt: t0.Add(idle)}
		if abs > 0 {
			a := t0.Add(abs)
			s.AbsoluteExpiresAt = &a
			if a.Before(s.ExpiresAt) {
				s.ExpiresAt = a
			}
		}
		return s
	}
	ended := live(0)
	ended.EndedAt, ended.EndReason = new(t0.Add(time.Minute)), EndLogout

	cases := []struct {
		name                            string
		s                               Session
		at                              time.Time
		wantLast, wantIdle, wantExpires time.Time
		wantAbsolute                    *time.Time
	}{
		{
			name: "activity moves the idle deadline", s: live(0), at: t0.Add(10 * time.Minute),
			wantLast: t0.Add(10 * time.Minute), wantIdle: t0.Add(40 * time.Minute), wantExpires: t0.Add(40 * time.Minute),
		},
		{
			name: "idle deadline before the absolute one expires at idle", s: live(8 * time.Hour), at: t0.Add(time.Hour),
			wantLast: t0.Add(time.Hour), wantIdle: t0.Add(90 * time.Minute), wantExpires: t0.Add(90 * time.Minute),
			wantAbsolute: new(t0.Add(8 * time.Hour)),
		},
		{
			name: "never past the absolute deadline", s: live(time.Hour), at: t0.Add(45 * time.Minute),
			wantLast: t0.Add(45 * time.Minute), wantIdle: t0.Add(75 * time.Minute), wantExpires: t0.Add(time.Hour),
			wantAbsolute: new(t0.Add(time.Hour)),
		},
		{
			name: "earlier activity changes nothing", s: live(0).WithActivity(t0.Add(20 * time.Minute)), at: t0.Add(10 * time.Minute),
			wantLast: t0.Add(20 * time.Minute), wantIdle: t0.Add(50 * time.Minute), wantExpires: t0.Add(50 * time.Minute),
		},
		{
			name: "activity at the same instant changes nothing", s: live(0), at: t0,
			wantLast: t0, wantIdle: t0.Add(idle), wantExpires: t0.Add(idle),
		},
		{
			name: "ended session changes nothing", s: ended, at: t0.Add(10 * time.Minute),
			wantLast: t0, wantIdle: t0.Add(idle), wantExpires: t0.Add(idle),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := c.s
			got := c.s.WithActivity(c.at)
			if !got.LastActiveAt.Equal(c.wantLast) {
				t.Errorf("LastActiveAt = %v, want %v", got.LastActiveAt, c.wantLast)
			}
			if !got.IdleExpiresAt.Equal(c.wantIdle) {
				t.Errorf("IdleExpiresAt = %v, want %v", got.IdleExpiresAt, c.wantIdle)
			}
			if !got.ExpiresAt.Equal(c.wantExpires) {
				t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, c.wantExpires)
			}
			switch {
			case c.wantAbsolute == nil && got.AbsoluteExpiresAt != nil:
				t.Errorf("AbsoluteExpiresAt = %v, want nil", *got.AbsoluteExpiresAt)
			case c.wantAbsolute != nil && (got.AbsoluteExpiresAt == nil || !got.AbsoluteExpiresAt.Equal(*c.wantAbsolute)):
				t.Errorf("AbsoluteExpiresAt = %v, want %v", got.AbsoluteExpiresAt, *c.wantAbsolute)
			}
			if got.Ended() != before.Ended() || got.EndReason != before.EndReason {
				t.Errorf("end state changed: ended %v (%s), want %v (%s)", got.Ended(), got.EndReason, before.Ended(), before.EndReason)
			}
			// The receiver is a value: the caller's session is left alone.
			if c.s != before {
				t.Errorf("WithActivity changed its receiver: %+v, was %+v", c.s, before)
			}
		})
	}
}

func TestUserHasPassword(t *testing.T) {
	cases := []struct {
		name string
		hash string
		want bool
	}{
		{"hash set", "$argon2id$v=19$...", true},
		{"no hash", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := User{PasswordHash: c.hash}
			if got := u.HasPassword(); got != c.want {
				t.Fatalf("HasPassword() = %v, want %v", got, c.want)
			}
		})
	}
}
