package policy

import (
	"testing"

	"github.com/sessiond/sessiond/internal/apperr"
)

// FuzzValidate feeds arbitrary policy input to Validate: it never panics,
// refuses with BAD_USER_INPUT naming a field, and what it accepts is in
// range (durations from 1 minute to 365 days, limits from 1 to 1000).
func FuzzValidate(f *testing.F) {
	f.Add(true, 30, "MINUTES", true, 90, "DAYS", true, 5, true)
	f.Add(true, 0, "HOURS", false, -1, "WEEKS", true, 0, false)
	f.Add(true, 1<<62, "DAYS", true, 366, "DAYS", true, 1001, true)
	f.Add(false, 1, "", true, 8760, "HOURS", false, 1, true)
	f.Fuzz(func(t *testing.T, idleOn bool, idleV int, idleU string, reOn bool, reV int, reU string, maxOn bool, maxN int, hasMax bool) {
		in := Input{
			Idle:    &Toggle{Enabled: idleOn, Span: &Span{Value: idleV, Unit: Unit(idleU)}},
			Relogin: &Toggle{Enabled: reOn, Span: &Span{Value: reV, Unit: Unit(reU)}},
		}
		lim := &Limit{Enabled: maxOn}
		if hasMax {
			lim.Max = &maxN
		}
		in.MaxSessions = lim
		_, err := Validate(in)
		if err != nil {
			if ae, ok := apperr.As(err); !ok || ae.Code != apperr.BadUserInput || ae.Field == "" {
				t.Fatalf("refusal without BAD_USER_INPUT and a field: %v", err)
			}
			return
		}
		for _, tg := range []*Toggle{in.Idle, in.Relogin} {
			if d := tg.Span.Duration(); d <= 0 || d > MaxDuration {
				t.Fatalf("accepted a duration of %v (%+v)", d, *tg.Span)
			}
		}
		if hasMax && (maxN < 1 || maxN > MaxSessionsLimit) {
			t.Fatalf("accepted a limit of %d", maxN)
		}
	})
}
