package policy

import (
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
)

const day = 24 * time.Hour

func span(v int, u Unit) *Span { return &Span{Value: v, Unit: u} }
func on(v int, u Unit) *Toggle { return &Toggle{Enabled: true, Span: span(v, u)} }
func off(s *Span) *Toggle      { return &Toggle{Enabled: false, Span: s} }
func limit(n int) *Limit       { return &Limit{Enabled: true, Max: &n} }
func intp(n int) *int          { return &n }

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestSpanDuration(t *testing.T) {
	cases := []struct {
		name string
		span Span
		want time.Duration
	}{
		{"minutes", Span{90, Minutes}, 90 * time.Minute},
		{"hours", Span{25, Hours}, 25 * time.Hour},
		{"days are 24 hours", Span{3, Days}, 72 * time.Hour},
		{"unknown unit is zero", Span{3, "WEEKS"}, 0},
		{"empty unit is zero", Span{3, ""}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.span.Duration(); got != c.want {
				t.Fatalf("%+v.Duration() = %v, want %v", c.span, got, c.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	defaultIdle := Span{24, Hours}
	cases := []struct {
		name        string
		env, tenant Overrides
		want        Effective
	}{
		{
			name: "nothing set gives defaults: idle 24 h off, relogin off, no limit",
			want: Effective{
				IdleSpan: defaultIdle, IdleSource: FromDefault,
				ReloginSource: FromDefault, MaxSource: FromDefault,
			},
		},
		{
			name: "environment overrides the defaults",
			env:  Overrides{Idle: on(30, Minutes), Relogin: on(7, Days), MaxSessions: limit(3)},
			want: Effective{
				IdleEnabled: true, IdleSpan: Span{30, Minutes}, IdleSource: FromEnvironment,
				ReloginEnabled: true, ReloginSpan: Span{7, Days}, ReloginSource: FromEnvironment,
				MaxEnabled: true, Max: 3, MaxSource: FromEnvironment,
			},
		},
		{
			name:   "tenant overrides win over the environment",
			env:    Overrides{Idle: on(30, Minutes), Relogin: on(7, Days), MaxSessions: limit(3)},
			tenant: Overrides{Idle: on(2, Hours), Relogin: on(1, Days), MaxSessions: limit(5)},
			want: Effective{
				IdleEnabled: true, IdleSpan: Span{2, Hours}, IdleSource: FromTenant,
				ReloginEnabled: true, ReloginSpan: Span{1, Days}, ReloginSource: FromTenant,
				MaxEnabled: true, Max: 5, MaxSource: FromTenant,
			},
		},
		{
			name:   "tenant's unset fields inherit the environment's",
			env:    Overrides{Idle: on(30, Minutes), Relogin: on(7, Days), MaxSessions: limit(3)},
			tenant: Overrides{Relogin: on(1, Days)},
			want: Effective{
				IdleEnabled: true, IdleSpan: Span{30, Minutes}, IdleSource: FromEnvironment,
				ReloginEnabled: true, ReloginSpan: Span{1, Days}, ReloginSource: FromTenant,
				MaxEnabled: true, Max: 3, MaxSource: FromEnvironment,
			},
		},
		{
			name:   "tenant's unset fields inherit defaults when the environment is unset too",
			tenant: Overrides{MaxSessions: limit(2)},
			want: Effective{
				IdleSpan: defaultIdle, IdleSource: FromDefault,
				ReloginSource: FromDefault,
				MaxEnabled:    true, Max: 2, MaxSource: FromTenant,
			},
		},
		{
			name:   "tenant enabled:false disables what the environment enabled",
			env:    Overrides{Idle: on(30, Minutes), Relogin: on(7, Days), MaxSessions: limit(3)},
			tenant: Overrides{Idle: off(nil), Relogin: off(nil), MaxSessions: &Limit{Enabled: false}},
			want: Effective{
				IdleEnabled: false, IdleSpan: defaultIdle, IdleSource: FromTenant,
				ReloginEnabled: false, ReloginSpan: Span{7, Days}, ReloginSource: FromTenant,
				MaxEnabled: false, Max: 3, MaxSource: FromTenant,
			},
		},
		{
			name:   "tenant enabled:false with a kept value still disables",
			env:    Overrides{Idle: on(30, Minutes), Relogin: on(7, Days), MaxSessions: limit(3)},
			tenant: Overrides{Idle: off(span(5, Minutes)), Relogin: off(span(1, Days)), MaxSessions: &Limit{Enabled: false, Max: intp(1)}},
			want: Effective{
				IdleEnabled: false, IdleSpan: defaultIdle, IdleSource: FromTenant,
				ReloginEnabled: false, ReloginSpan: Span{7, Days}, ReloginSource: FromTenant,
				MaxEnabled: false, Max: 3, MaxSource: FromTenant,
			},
		},
		{
			name:   "environment enabled:false is an environment source",
			env:    Overrides{Idle: off(nil)},
			tenant: Overrides{},
			want: Effective{
				IdleSpan: defaultIdle, IdleSource: FromEnvironment,
				ReloginSource: FromDefault, MaxSource: FromDefault,
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Resolve(c.env, c.tenant)
			// Spans and limits of disabled settings are documented as
			// meaningless; compare them only where they mean something.
			if !got.ReloginEnabled {
				got.ReloginSpan, c.want.ReloginSpan = Span{}, Span{}
			}
			if !got.MaxEnabled {
				got.Max, c.want.Max = 0, 0
			}
			if got != c.want {
				t.Fatalf("Resolve:\n got  %+v\n want %+v", got, c.want)
			}
		})
	}
}

func TestEffectiveAccessors(t *testing.T) {
	cases := []struct {
		name                string
		e                   Effective
		wantIdle, wantRelog time.Duration
		wantLimit           int
	}{
		{
			name:     "disabled settings: default idle, no relogin, unlimited",
			e:        Effective{IdleSpan: Span{5, Minutes}, ReloginSpan: Span{1, Days}, Max: 4},
			wantIdle: DefaultIdle, wantRelog: 0, wantLimit: 0,
		},
		{
			name: "enabled settings return their values",
			e: Effective{
				IdleEnabled: true, IdleSpan: Span{5, Minutes},
				ReloginEnabled: true, ReloginSpan: Span{2, Days},
				MaxEnabled: true, Max: 4,
			},
			wantIdle: 5 * time.Minute, wantRelog: 2 * day, wantLimit: 4,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.e.Idle(); got != c.wantIdle {
				t.Errorf("Idle() = %v, want %v", got, c.wantIdle)
			}
			if got := c.e.Relogin(); got != c.wantRelog {
				t.Errorf("Relogin() = %v, want %v", got, c.wantRelog)
			}
			if got := c.e.Limit(); got != c.wantLimit {
				t.Errorf("Limit() = %v, want %v", got, c.wantLimit)
			}
		})
	}
}

func TestDeadlines(t *testing.T) {
	created := t0
	idleOnly := Effective{IdleEnabled: true, IdleSpan: Span{30, Minutes}}
	both := Effective{IdleEnabled: true, IdleSpan: Span{30, Minutes}, ReloginEnabled: true, ReloginSpan: Span{2, Hours}}
	cases := []struct {
		name         string
		e            Effective
		lastActive   time.Time
		wantIdle     time.Time
		wantAbsolute *time.Time
		wantExpires  time.Time
	}{
		{
			name:        "no relogin: no absolute deadline, expires at idle",
			e:           idleOnly,
			lastActive:  created.Add(time.Hour),
			wantIdle:    created.Add(90 * time.Minute),
			wantExpires: created.Add(90 * time.Minute),
		},
		{
			name:         "idle earlier than absolute: expires at idle",
			e:            both,
			lastActive:   created.Add(time.Hour),
			wantIdle:     created.Add(90 * time.Minute),
			wantAbsolute: new(created.Add(2 * time.Hour)),
			wantExpires:  created.Add(90 * time.Minute),
		},
		{
			name:         "absolute earlier than idle: expires at absolute",
			e:            both,
			lastActive:   created.Add(100 * time.Minute),
			wantIdle:     created.Add(130 * time.Minute),
			wantAbsolute: new(created.Add(2 * time.Hour)),
			wantExpires:  created.Add(2 * time.Hour),
		},
		{
			name:        "idle disabled uses the 24 h default",
			e:           Effective{},
			lastActive:  created,
			wantIdle:    created.Add(24 * time.Hour),
			wantExpires: created.Add(24 * time.Hour),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			idle, abs, exp := c.e.Deadlines(created, c.lastActive)
			if !idle.Equal(c.wantIdle) {
				t.Errorf("idle = %v, want %v", idle, c.wantIdle)
			}
			switch {
			case c.wantAbsolute == nil && abs != nil:
				t.Errorf("absolute = %v, want nil", *abs)
			case c.wantAbsolute != nil && abs == nil:
				t.Errorf("absolute = nil, want %v", *c.wantAbsolute)
			case c.wantAbsolute != nil && !abs.Equal(*c.wantAbsolute):
				t.Errorf("absolute = %v, want %v", *abs, *c.wantAbsolute)
			}
			if !exp.Equal(c.wantExpires) {
				t.Errorf("expires = %v, want %v", exp, c.wantExpires)
			}
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	cases := []struct {
		name  string
		in    Input
		field string
	}{
		{"idle zero", Input{Idle: on(0, Minutes)}, "idleTimeout.duration.value"},
		{"idle negative", Input{Idle: on(-1, Hours)}, "idleTimeout.duration.value"},
		{"idle 366 DAYS", Input{Idle: on(366, Days)}, "idleTimeout.duration.value"},
		{"idle 8761 HOURS", Input{Idle: on(8761, Hours)}, "idleTimeout.duration.value"},
		{"idle 8785 HOURS", Input{Idle: on(8785, Hours)}, "idleTimeout.duration.value"},
		{"idle 525601 MINUTES", Input{Idle: on(525601, Minutes)}, "idleTimeout.duration.value"},
		{"idle days large enough to overflow a Duration", Input{Idle: on(106752, Days)}, "idleTimeout.duration.value"},
		{"idle 525600 DAYS", Input{Idle: on(525600, Days)}, "idleTimeout.duration.value"},
		{"idle enabled without a value", Input{Idle: &Toggle{Enabled: true}}, "idleTimeout.duration"},
		{"idle unit invalid", Input{Idle: on(5, "WEEKS")}, "idleTimeout.duration.unit"},
		{"idle unit empty", Input{Idle: on(5, "")}, "idleTimeout.duration.unit"},
		{"idle disabled but zero", Input{Idle: off(span(0, Hours))}, "idleTimeout.duration.value"},
		{"idle disabled but over a year", Input{Idle: off(span(366, Days))}, "idleTimeout.duration.value"},
		{"relogin zero", Input{Relogin: on(0, Days)}, "forceRelogin.duration.value"},
		{"relogin negative", Input{Relogin: on(-5, Minutes)}, "forceRelogin.duration.value"},
		{"relogin 366 DAYS", Input{Relogin: on(366, Days)}, "forceRelogin.duration.value"},
		{"relogin 8785 HOURS", Input{Relogin: on(8785, Hours)}, "forceRelogin.duration.value"},
		{"relogin 525601 MINUTES", Input{Relogin: on(525601, Minutes)}, "forceRelogin.duration.value"},
		{"relogin days large enough to overflow a Duration", Input{Relogin: on(200000, Days)}, "forceRelogin.duration.value"},
		{"relogin enabled without a value", Input{Relogin: &Toggle{Enabled: true}}, "forceRelogin.duration"},
		{"relogin unit invalid", Input{Relogin: on(5, "SECONDS")}, "forceRelogin.duration.unit"},
		{"limit 0", Input{MaxSessions: limit(0)}, "maxConcurrentSessions.maxSessions"},
		{"limit negative", Input{MaxSessions: limit(-1)}, "maxConcurrentSessions.maxSessions"},
		{"limit 1001", Input{MaxSessions: limit(1001)}, "maxConcurrentSessions.maxSessions"},
		{"limit enabled without a value", Input{MaxSessions: &Limit{Enabled: true}}, "maxConcurrentSessions.maxSessions"},
		{"limit disabled but 0", Input{MaxSessions: &Limit{Max: intp(0)}}, "maxConcurrentSessions.maxSessions"},
		{"valid idle does not hide an invalid relogin", Input{Idle: on(1, Hours), Relogin: on(0, Days)}, "forceRelogin.duration.value"},
		{"valid durations do not hide an invalid limit", Input{Idle: on(1, Hours), Relogin: on(1, Days), MaxSessions: limit(1001)}, "maxConcurrentSessions.maxSessions"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			warnings, err := Validate(c.in)
			var ae *apperr.Error
			if !errors.As(err, &ae) {
				t.Fatalf("Validate error = %v (%T), want *apperr.Error with field %q", err, err, c.field)
			}
			if ae.Code != apperr.BadUserInput || ae.Field != c.field {
				t.Fatalf("Validate error = {Code: %s, Field: %q}, want {Code: %s, Field: %q}", ae.Code, ae.Field, apperr.BadUserInput, c.field)
			}
			if warnings != nil {
				t.Fatalf("Validate warnings = %v alongside an error, want nil", warnings)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	cases := []struct {
		name string
		in   Input
		want []string // warned fields
	}{
		{"nothing given", Input{}, nil},
		{"idle exactly 24 HOURS", Input{Idle: on(24, Hours)}, nil},
		{"idle exactly 1440 MINUTES", Input{Idle: on(1440, Minutes)}, nil},
		{"idle 1 DAYS", Input{Idle: on(1, Days)}, nil},
		{"idle 25 HOURS warns", Input{Idle: on(25, Hours)}, []string{"idleTimeout.duration"}},
		{"idle 1441 MINUTES warns", Input{Idle: on(1441, Minutes)}, []string{"idleTimeout.duration"}},
		{"idle exactly 365 DAYS warns", Input{Idle: on(365, Days)}, []string{"idleTimeout.duration"}},
		{"idle exactly 8760 HOURS warns", Input{Idle: on(8760, Hours)}, []string{"idleTimeout.duration"}},
		{"idle exactly 525600 MINUTES warns", Input{Idle: on(525600, Minutes)}, []string{"idleTimeout.duration"}},
		{"relogin exactly 90 DAYS", Input{Relogin: on(90, Days)}, nil},
		{"relogin exactly 2160 HOURS", Input{Relogin: on(2160, Hours)}, nil},
		{"relogin 91 DAYS warns", Input{Relogin: on(91, Days)}, []string{"forceRelogin.duration"}},
		{"relogin 365 DAYS warns", Input{Relogin: on(365, Days)}, []string{"forceRelogin.duration"}},
		{"limit 1", Input{MaxSessions: limit(1)}, nil},
		{"limit exactly 10", Input{MaxSessions: limit(10)}, nil},
		{"limit 11 warns", Input{MaxSessions: limit(11)}, []string{"maxConcurrentSessions.maxSessions"}},
		{"limit 1000 warns", Input{MaxSessions: limit(1000)}, []string{"maxConcurrentSessions.maxSessions"}},
		{"idle disabled without a value", Input{Idle: off(nil)}, nil},
		{"relogin disabled without a value", Input{Relogin: off(nil)}, nil},
		{"limit disabled without a value", Input{MaxSessions: &Limit{}}, nil},
		{"idle disabled with a big value gives no warning", Input{Idle: off(span(300, Days))}, nil},
		{"relogin disabled with a big value gives no warning", Input{Relogin: off(span(300, Days))}, nil},
		{"limit disabled with a big value gives no warning", Input{MaxSessions: &Limit{Max: intp(500)}}, nil},
		{
			"every setting over its recommendation warns once each",
			Input{Idle: on(2, Days), Relogin: on(100, Days), MaxSessions: limit(50)},
			[]string{"idleTimeout.duration", "forceRelogin.duration", "maxConcurrentSessions.maxSessions"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			warnings, err := Validate(c.in)
			if err != nil {
				t.Fatalf("Validate error = %v, want nil", err)
			}
			var got []string
			for _, w := range warnings {
				if w.Message == "" {
					t.Errorf("warning for %s has no message", w.Field)
				}
				got = append(got, w.Field)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("warned fields = %q, want %q", got, c.want)
			}
		})
	}
}

func TestApply(t *testing.T) {
	stored := Overrides{Idle: on(30, Minutes), Relogin: on(7, Days), MaxSessions: limit(3)}
	cases := []struct {
		name string
		in   Input
		want Overrides
	}{
		{"empty input changes nothing", Input{}, stored},
		{
			"only idle given",
			Input{Idle: on(2, Hours)},
			Overrides{Idle: on(2, Hours), Relogin: on(7, Days), MaxSessions: limit(3)},
		},
		{
			"only relogin given",
			Input{Relogin: off(nil)},
			Overrides{Idle: on(30, Minutes), Relogin: off(nil), MaxSessions: limit(3)},
		},
		{
			"only limit given",
			Input{MaxSessions: limit(9)},
			Overrides{Idle: on(30, Minutes), Relogin: on(7, Days), MaxSessions: limit(9)},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := Overrides{Idle: on(30, Minutes), Relogin: on(7, Days), MaxSessions: limit(3)}
			got := Apply(stored, c.in)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Apply:\n got  %s\n want %s", show(got), show(c.want))
			}
			if !reflect.DeepEqual(stored, before) {
				t.Fatalf("Apply changed its argument: now %s, was %s", show(stored), show(before))
			}
		})
	}
	t.Run("result does not alias the input", func(t *testing.T) {
		in := Input{Idle: on(2, Hours)}
		got := Apply(Overrides{}, in)
		in.Idle.Enabled = false
		if !got.Idle.Enabled {
			t.Fatalf("changing the input after Apply changed the result")
		}
	})
}

func show(o Overrides) string {
	s := "{"
	if o.Idle != nil {
		s += " idle:" + showToggle(o.Idle)
	}
	if o.Relogin != nil {
		s += " relogin:" + showToggle(o.Relogin)
	}
	if o.MaxSessions != nil {
		s += " max:"
		if o.MaxSessions.Enabled {
			s += "on/"
		} else {
			s += "off/"
		}
		if o.MaxSessions.Max != nil {
			s += strconv.Itoa(*o.MaxSessions.Max)
		}
	}
	return s + " }"
}

func showToggle(t *Toggle) string {
	s := "off"
	if t.Enabled {
		s = "on"
	}
	if t.Span != nil {
		s += "/" + t.Span.Duration().String()
	}
	return s
}

func TestEffectiveWarnings(t *testing.T) {
	cases := []struct {
		name string
		e    Effective
		warn bool
	}{
		{"idle longer than relogin", Effective{IdleEnabled: true, IdleSpan: Span{2, Days}, ReloginEnabled: true, ReloginSpan: Span{1, Days}}, true},
		{"idle equal to relogin", Effective{IdleEnabled: true, IdleSpan: Span{24, Hours}, ReloginEnabled: true, ReloginSpan: Span{1, Days}}, true},
		{"idle shorter than relogin", Effective{IdleEnabled: true, IdleSpan: Span{1, Hours}, ReloginEnabled: true, ReloginSpan: Span{1, Days}}, false},
		{"relogin disabled", Effective{IdleEnabled: true, IdleSpan: Span{2, Days}, ReloginSpan: Span{1, Days}}, false},
		{"idle disabled", Effective{IdleSpan: Span{24, Hours}, ReloginEnabled: true, ReloginSpan: Span{1, Hours}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := EffectiveWarnings(c.e)
			if c.warn && (len(got) != 1 || got[0].Field != "idleTimeout.duration") {
				t.Fatalf("EffectiveWarnings = %+v, want one warning on idleTimeout.duration", got)
			}
			if !c.warn && len(got) != 0 {
				t.Fatalf("EffectiveWarnings = %+v, want none", got)
			}
		})
	}
}

func TestDueReason(t *testing.T) {
	idle := t0
	cases := []struct {
		name     string
		absolute *time.Time
		want     model.EndReason
	}{
		{"no absolute deadline: idle", nil, model.EndIdleTimeout},
		{"idle earlier: idle", new(idle.Add(time.Second)), model.EndIdleTimeout},
		{"absolute earlier: relogin", new(idle.Add(-time.Second)), model.EndForceRelogin},
		{"tie: relogin", new(idle), model.EndForceRelogin},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := DueReason(idle, c.absolute); got != c.want {
				t.Fatalf("DueReason = %s, want %s", got, c.want)
			}
		})
	}
}

func TestTerminations(t *testing.T) {
	now := t0
	// active returns a session created ago before now and last active
	// idleFor before now.
	active := func(id, user, tenant string, ago, idleFor time.Duration) Active {
		return Active{ID: id, UserID: user, TenantID: tenant, CreatedAt: now.Add(-ago), LastActiveAt: now.Add(-idleFor)}
	}
	deadlines := Effective{
		IdleEnabled: true, IdleSpan: Span{30, Minutes},
		ReloginEnabled: true, ReloginSpan: Span{8, Hours},
	}
	limited := func(n int) Effective { e := deadlines; e.MaxEnabled, e.Max = true, n; return e }
	cases := []struct {
		name     string
		e        Effective
		sessions []Active
		want     []Termination
	}{
		{
			name:     "nothing due and no limit ends nothing",
			e:        deadlines,
			sessions: []Active{active("a", "u", "t", time.Hour, time.Minute)},
		},
		{
			name:     "idle past its timeout ends with IDLE_TIMEOUT",
			e:        deadlines,
			sessions: []Active{active("a", "u", "t", time.Hour, 31*time.Minute)},
			want:     []Termination{{"a", model.EndIdleTimeout}},
		},
		{
			name:     "idle deadline exactly now is due",
			e:        deadlines,
			sessions: []Active{active("a", "u", "t", time.Hour, 30*time.Minute)},
			want:     []Termination{{"a", model.EndIdleTimeout}},
		},
		{
			name:     "idle deadline a nanosecond away is not due",
			e:        deadlines,
			sessions: []Active{active("a", "u", "t", time.Hour, 30*time.Minute-time.Nanosecond)},
		},
		{
			name:     "past its lifetime ends with FORCE_RELOGIN",
			e:        deadlines,
			sessions: []Active{active("a", "u", "t", 9*time.Hour, time.Minute)},
			want:     []Termination{{"a", model.EndForceRelogin}},
		},
		{
			name:     "both passed: the earlier deadline is the reason",
			e:        deadlines,
			sessions: []Active{active("a", "u", "t", 9*time.Hour, 2*time.Hour)},
			want:     []Termination{{"a", model.EndIdleTimeout}},
		},
		{
			name: "oldest session ends when limit exceeded",
			e:    limited(2),
			sessions: []Active{
				active("new", "u", "t", time.Hour, 0),
				active("old", "u", "t", 3*time.Hour, 0),
				active("mid", "u", "t", 2*time.Hour, 0),
			},
			want: []Termination{{"old", model.EndConcurrentSessionLimit}},
		},
		{
			name: "creation ties evict by id",
			e:    limited(1),
			sessions: []Active{
				active("b", "u", "t", time.Hour, 0),
				active("c", "u", "t", time.Hour, 0),
				active("a", "u", "t", time.Hour, 0),
			},
			want: []Termination{{"a", model.EndConcurrentSessionLimit}, {"b", model.EndConcurrentSessionLimit}},
		},
		{
			name: "due sessions do not count towards the limit",
			e:    limited(1),
			sessions: []Active{
				active("idle", "u", "t", 3*time.Hour, time.Hour),
				active("live", "u", "t", time.Hour, 0),
			},
			want: []Termination{{"idle", model.EndIdleTimeout}},
		},
		{
			name: "users are limited independently",
			e:    limited(1),
			sessions: []Active{
				active("u1-old", "u1", "t", 2*time.Hour, 0),
				active("u2-only", "u2", "t", 3*time.Hour, 0),
				active("u1-new", "u1", "t", time.Hour, 0),
			},
			want: []Termination{{"u1-old", model.EndConcurrentSessionLimit}},
		},
		{
			name: "one user's sessions in different tenants are limited independently",
			e:    limited(1),
			sessions: []Active{
				active("t1-old", "u", "t1", 2*time.Hour, 0),
				active("t2-only", "u", "t2", 3*time.Hour, 0),
				active("t1-new", "u", "t1", time.Hour, 0),
			},
			want: []Termination{{"t1-old", model.EndConcurrentSessionLimit}},
		},
		{
			name: "no limit keeps every live session",
			e:    deadlines,
			sessions: []Active{
				active("a", "u", "t", 3*time.Hour, 0),
				active("b", "u", "t", 2*time.Hour, 0),
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Terminations(c.e, c.sessions, now)
			if len(got) == 0 && len(c.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Terminations = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestOldest(t *testing.T) {
	sessions := []Active{
		{ID: "c", CreatedAt: t0.Add(2 * time.Hour)},
		{ID: "b", CreatedAt: t0},
		{ID: "a", CreatedAt: t0},
		{ID: "d", CreatedAt: t0.Add(time.Hour)},
	}
	cases := []struct {
		name string
		n    int
		want []string
	}{
		{"zero gives none", 0, nil},
		{"negative gives none", -2, nil},
		{"oldest first, ties by id", 3, []string{"a", "b", "d"}},
		{"more than there are gives all", 10, []string{"a", "b", "d", "c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, s := range Oldest(sessions, c.n) {
				got = append(got, s.ID)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Oldest(n=%d) = %q, want %q", c.n, got, c.want)
			}
		})
	}
	t.Run("input order is left alone", func(t *testing.T) {
		Oldest(sessions, 2)
		if sessions[0].ID != "c" || sessions[1].ID != "b" {
			t.Fatalf("Oldest reordered its argument: %+v", sessions)
		}
	})
}
