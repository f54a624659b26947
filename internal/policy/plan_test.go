package policy

import (
	"testing"
	"time"
)

func TestLevelsScope(t *testing.T) {
	two := 2
	levels := Levels{
		EnvironmentScope: {Idle: &Toggle{Enabled: true, Span: &Span{Value: 30, Unit: Minutes}}},
		"t1":             {MaxSessions: &Limit{Enabled: true, Max: &two}},
	}
	t.Run("a tenant inherits the environment and adds its own", func(t *testing.T) {
		e := levels.Effective("t1")
		if e.Idle() != 30*time.Minute || e.IdleSource != FromEnvironment || e.Limit() != 2 || e.MaxSource != FromTenant {
			t.Fatalf("Effective(t1) = %+v", e)
		}
		if s := levels.Scope("t1"); s != e {
			t.Fatalf("Scope(t1) = %+v, want %+v", s, e)
		}
	})
	t.Run("the environment scope ignores tenants", func(t *testing.T) {
		e := levels.Scope(EnvironmentScope)
		if e.Idle() != 30*time.Minute || e.Limit() != 0 || e.MaxSource != FromDefault {
			t.Fatalf("Scope(environment) = %+v", e)
		}
	})
	t.Run("an unknown tenant gets the environment's settings", func(t *testing.T) {
		if e := levels.Effective("other"); e.Idle() != 30*time.Minute || e.Limit() != 0 {
			t.Fatalf("Effective(other) = %+v", e)
		}
	})
}
