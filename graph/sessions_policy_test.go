package graph_test

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph"
	"github.com/sessiond/sessiond/graph/graphtest"
)

// requireIdle, requireRelogin and requireLimit check one effective setting.
func requireIdle(t *testing.T, p policyView, enabled bool, value int, unit string, seconds int, source string) {
	t.Helper()
	got := p.IdleTimeout
	want := durationView{Value: value, Unit: unit, Seconds: seconds}
	if got.Enabled != enabled || got.Duration != want || got.Source != source {
		t.Fatalf("idleTimeout = %+v, want enabled %v duration %+v source %s", got, enabled, want, source)
	}
}

func requireRelogin(t *testing.T, p policyView, d *durationView, source string) {
	t.Helper()
	got := p.ForceRelogin
	if got.Enabled != (d != nil) || got.Source != source || !reflect.DeepEqual(got.Duration, d) {
		t.Fatalf("forceRelogin = enabled %v duration %+v source %s, want duration %+v source %s", got.Enabled, got.Duration, got.Source, d, source)
	}
}

func requireLimit(t *testing.T, p policyView, max *int, source string) {
	t.Helper()
	got := p.MaxConcurrentSessions
	if got.Enabled != (max != nil) || got.Source != source || !reflect.DeepEqual(got.MaxSessions, max) {
		t.Fatalf("maxConcurrentSessions = enabled %v maxSessions %v source %s, want %v source %s", got.Enabled, derefAny(got.MaxSessions), got.Source, derefAny(max), source)
	}
}

func ptr[T any](v T) *T { return &v }

func derefAny[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestSessionPolicySources(t *testing.T) {
	s := graphtest.Start(t)
	w := s.NewWorkspace("src")
	other := s.CreateTenant("src-other")

	t.Run("without settings every rule has its default", func(t *testing.T) {
		for _, scope := range []string{"", w.TenantID} {
			p := policyOf(t, s, scope)
			if scope == "" && p.TenantID != nil || scope != "" && (p.TenantID == nil || *p.TenantID != scope) {
				t.Fatalf("tenantId = %v, want %q", derefAny(p.TenantID), scope)
			}
			requireIdle(t, p, false, 24, "HOURS", 86400, "DEFAULT")
			requireRelogin(t, p, nil, "DEFAULT")
			requireLimit(t, p, nil, "DEFAULT")
		}
	})

	t.Run("environment settings apply to tenants without their own", func(t *testing.T) {
		out := setPolicy(t, s, "", merge(idle(2, "HOURS"), relogin(30, "DAYS")))
		if out.Policy.TenantID != nil {
			t.Fatalf("environment policy has tenantId %s", *out.Policy.TenantID)
		}
		for _, p := range []policyView{out.Policy, policyOf(t, s, ""), policyOf(t, s, w.TenantID), policyOf(t, s, other)} {
			requireIdle(t, p, true, 2, "HOURS", 7200, "ENVIRONMENT")
			requireRelogin(t, p, &durationView{30, "DAYS", 30 * 86400}, "ENVIRONMENT")
			requireLimit(t, p, nil, "DEFAULT")
		}
	})

	t.Run("a tenant setting overrides that rule only, in that tenant only", func(t *testing.T) {
		out := setPolicy(t, s, w.TenantID, limit(5))
		for _, p := range []policyView{out.Policy, policyOf(t, s, w.TenantID)} {
			requireLimit(t, p, ptr(5), "TENANT")
			requireIdle(t, p, true, 2, "HOURS", 7200, "ENVIRONMENT")
			requireRelogin(t, p, &durationView{30, "DAYS", 30 * 86400}, "ENVIRONMENT")
		}
		requireLimit(t, policyOf(t, s, other), nil, "DEFAULT")
		requireLimit(t, policyOf(t, s, ""), nil, "DEFAULT")
	})

	t.Run("omitted fields are unchanged", func(t *testing.T) {
		p := setPolicy(t, s, w.TenantID, idle(45, "MINUTES")).Policy
		requireIdle(t, p, true, 45, "MINUTES", 2700, "TENANT")
		requireLimit(t, p, ptr(5), "TENANT")
		requireRelogin(t, p, &durationView{30, "DAYS", 30 * 86400}, "ENVIRONMENT")
	})

	t.Run("unset tenant fields follow later environment changes", func(t *testing.T) {
		env := setPolicy(t, s, "", relogin(7, "DAYS")).Policy
		requireIdle(t, env, true, 2, "HOURS", 7200, "ENVIRONMENT") // omitted: unchanged
		p := policyOf(t, s, w.TenantID)
		requireRelogin(t, p, &durationView{7, "DAYS", 7 * 86400}, "ENVIRONMENT")
		requireIdle(t, p, true, 45, "MINUTES", 2700, "TENANT")
	})

	t.Run("a tenant can switch off a rule the environment sets", func(t *testing.T) {
		p := setPolicy(t, s, w.TenantID, map[string]any{
			"forceRelogin": map[string]any{"enabled": false},
			"idleTimeout":  map[string]any{"enabled": false},
		}).Policy
		requireRelogin(t, p, nil, "TENANT")
		// Idle timeout switched off: the 24-hour default is in force.
		requireIdle(t, p, false, 24, "HOURS", 86400, "TENANT")
	})

	t.Run("reset drops the tenant's overrides", func(t *testing.T) {
		var out struct{ ResetSessionPolicy policyPayload }
		s.Admin(`mutation($t: ID!) { resetSessionPolicy(tenantId: $t) { policy { `+policyFields+` } warnings { field } terminatedSessions } }`, map[string]any{"t": w.TenantID}, &out)
		for _, p := range []policyView{out.ResetSessionPolicy.Policy, policyOf(t, s, w.TenantID)} {
			requireIdle(t, p, true, 2, "HOURS", 7200, "ENVIRONMENT")
			requireRelogin(t, p, &durationView{7, "DAYS", 7 * 86400}, "ENVIRONMENT")
			requireLimit(t, p, nil, "DEFAULT")
		}
		requireIdle(t, policyOf(t, s, ""), true, 2, "HOURS", 7200, "ENVIRONMENT")
	})

	t.Run("a permission holder with Security on sets its own tenant's policy", func(t *testing.T) {
		admin := s.CreateSession(w.AdminID, w.TenantID)
		member := s.CreateSession(w.MemberID, w.TenantID)
		var out struct{ UpdateSessionPolicy policyPayload }
		s.MustDo(graphtest.Request{Query: updatePolicyMutation, Variables: map[string]any{"in": limit(3)}, Token: admin.Token}, &out)
		if p := out.UpdateSessionPolicy.Policy; p.TenantID == nil || *p.TenantID != w.TenantID {
			t.Fatalf("tenantId %v, want the caller's tenant %s", derefAny(p.TenantID), w.TenantID)
		}
		requireLimit(t, policyOf(t, s, w.TenantID), ptr(3), "TENANT")
		requireLimit(t, policyOf(t, s, ""), nil, "DEFAULT")

		s.MustFail(graphtest.Request{Query: updatePolicyMutation, Variables: map[string]any{"t": other, "in": limit(1)}, Token: admin.Token}, "NOT_FOUND")
		s.MustFail(graphtest.Request{Query: updatePolicyMutation, Variables: map[string]any{"in": limit(1)}, Token: member.Token}, "FORBIDDEN")
		s.SetPortal(true, true, false)
		s.MustFail(graphtest.Request{Query: updatePolicyMutation, Variables: map[string]any{"in": limit(1)}, Token: admin.Token}, "FEATURE_DISABLED")
		s.SetPortal(true, true, true)
		requireLimit(t, policyOf(t, s, w.TenantID), ptr(3), "TENANT")
		requireLimit(t, policyOf(t, s, other), nil, "DEFAULT")
	})
}

func TestSessionPolicyWarnings(t *testing.T) {
	s := graphtest.Start(t)
	cases := []struct {
		name  string
		input map[string]any
		warn  []string // warned fields, in order
		check func(t *testing.T, p policyView)
	}{
		{"idle timeout over 24 hours is accepted with a warning", idle(25, "HOURS"), []string{"idleTimeout.duration"},
			func(t *testing.T, p policyView) { requireIdle(t, p, true, 25, "HOURS", 25*3600, "TENANT") }},
		{"forced re-login over 90 days is accepted with a warning", relogin(91, "DAYS"), []string{"forceRelogin.duration"},
			func(t *testing.T, p policyView) {
				requireRelogin(t, p, &durationView{91, "DAYS", 91 * 86400}, "TENANT")
			}},
		{"a limit over 10 is accepted with a warning", limit(11), []string{"maxConcurrentSessions.maxSessions"},
			func(t *testing.T, p policyView) { requireLimit(t, p, ptr(11), "TENANT") }},
		{"the longest idle timeout is accepted with a warning", idle(365, "DAYS"), []string{"idleTimeout.duration"},
			func(t *testing.T, p policyView) { requireIdle(t, p, true, 365, "DAYS", 365*86400, "TENANT") }},
		{"the longest re-login and the largest limit are accepted with warnings", merge(relogin(525600, "MINUTES"), limit(1000)),
			[]string{"forceRelogin.duration", "maxConcurrentSessions.maxSessions"},
			func(t *testing.T, p policyView) {
				requireRelogin(t, p, &durationView{525600, "MINUTES", 365 * 86400}, "TENANT")
				requireLimit(t, p, ptr(1000), "TENANT")
			}},
		{"an idle timeout not shorter than forced re-login is warned about", merge(idle(2, "HOURS"), relogin(1, "HOURS")), []string{"idleTimeout.duration"},
			func(t *testing.T, p policyView) { requireIdle(t, p, true, 2, "HOURS", 7200, "TENANT") }},
		{"recommended values carry no warning", merge(idle(24, "HOURS"), relogin(90, "DAYS"), limit(10)), nil,
			func(t *testing.T, p policyView) { requireLimit(t, p, ptr(10), "TENANT") }},
		{"the smallest values carry no warning", merge(idle(1, "MINUTES"), relogin(2, "MINUTES"), limit(1)), nil,
			func(t *testing.T, p policyView) { requireIdle(t, p, true, 1, "MINUTES", 60, "TENANT") }},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tenant := s.CreateTenant(fmt.Sprintf("warn-%d", i))
			var pv struct {
				PreviewSessionPolicy struct{ Warnings []warningView }
			}
			s.Admin(`query($t: ID, $in: SessionPolicyInput!) { previewSessionPolicy(tenantId: $t, input: $in) { warnings { field message } } }`,
				map[string]any{"t": tenant, "in": c.input}, &pv)
			out := setPolicy(t, s, tenant, c.input)
			for _, ws := range [][]warningView{pv.PreviewSessionPolicy.Warnings, out.Warnings} {
				var fields []string
				for _, w := range ws {
					if w.Message == "" {
						t.Fatalf("warning on %s has no message", w.Field)
					}
					fields = append(fields, w.Field)
				}
				if !reflect.DeepEqual(fields, c.warn) {
					t.Fatalf("warnings on %v, want %v (%+v)", fields, c.warn, ws)
				}
			}
			c.check(t, out.Policy)
			c.check(t, policyOf(t, s, tenant))
		})
	}
}

func TestSessionPolicyValidation(t *testing.T) {
	s := graphtest.Start(t)
	tenant := s.CreateTenant("valid")
	// Existing settings, so that "no change" is visible.
	setPolicy(t, s, tenant, merge(idle(2, "HOURS"), relogin(7, "DAYS"), limit(4)))
	setPolicy(t, s, "", idle(3, "HOURS"))

	const (
		idleValue   = "idleTimeout.duration.value"
		reloginVal  = "forceRelogin.duration.value"
		maxSessions = "maxConcurrentSessions.maxSessions"
	)
	cases := []struct {
		name  string
		input map[string]any
		field string
	}{
		{"zero idle timeout", idle(0, "MINUTES"), idleValue},
		{"negative idle timeout", idle(-5, "HOURS"), idleValue},
		{"idle timeout over 365 days", idle(366, "DAYS"), idleValue},
		{"idle timeout over 365 days in hours", idle(365*24+1, "HOURS"), idleValue},
		{"idle timeout over 365 days in minutes", idle(365*24*60+1, "MINUTES"), idleValue},
		{"idle timeout enabled without a duration", map[string]any{"idleTimeout": map[string]any{"enabled": true}}, "idleTimeout.duration"},
		{"zero forced re-login", relogin(0, "DAYS"), reloginVal},
		{"negative forced re-login", relogin(-1, "MINUTES"), reloginVal},
		{"forced re-login over 365 days", relogin(366, "DAYS"), reloginVal},
		{"forced re-login enabled without a duration", map[string]any{"forceRelogin": map[string]any{"enabled": true}}, "forceRelogin.duration"},
		{"limit of zero", limit(0), maxSessions},
		{"negative limit", limit(-3), maxSessions},
		{"limit over 1000", limit(1001), maxSessions},
		{"limit enabled without a value", map[string]any{"maxConcurrentSessions": map[string]any{"enabled": true}}, maxSessions},
		{"a valid rule is not written beside an invalid one", merge(limit(5), idle(0, "MINUTES")), idleValue},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, scope := range []string{tenant, ""} {
				beforePolicy, beforeEnv := policyOf(t, s, tenant), policyOf(t, s, "")
				beforeAudit := len(auditOf(t, s, ""))
				vars := map[string]any{"t": tenantVar(scope), "in": c.input}
				e := s.MustFail(graphtest.Request{Query: updatePolicyMutation, Variables: vars, Token: s.AdminKey}, "BAD_USER_INPUT")
				if e.Field() != c.field {
					t.Fatalf("scope %q: extensions.field = %q, want %q (%s)", scope, e.Field(), c.field, e.Message)
				}
				e = s.MustFail(graphtest.Request{Query: `query($t: ID, $in: SessionPolicyInput!) { previewSessionPolicy(tenantId: $t, input: $in) { total } }`,
					Variables: vars, Token: s.AdminKey}, "BAD_USER_INPUT")
				if e.Field() != c.field {
					t.Fatalf("scope %q: preview extensions.field = %q, want %q", scope, e.Field(), c.field)
				}
				if p := policyOf(t, s, tenant); !reflect.DeepEqual(p, beforePolicy) {
					t.Fatalf("scope %q: tenant policy changed from %+v to %+v", scope, beforePolicy, p)
				}
				if p := policyOf(t, s, ""); !reflect.DeepEqual(p, beforeEnv) {
					t.Fatalf("scope %q: environment policy changed from %+v to %+v", scope, beforeEnv, p)
				}
				if n := len(auditOf(t, s, "")); n != beforeAudit {
					t.Fatalf("scope %q: %d audit entries written for a refused change", scope, n-beforeAudit)
				}
			}
		})
	}
}

func TestStricterPolicyEndsSessions(t *testing.T) {
	t.Run("a shorter idle timeout ends sessions idle longer, and only those", func(t *testing.T) {
		s, clk := startFake(t)
		w := s.NewWorkspace("strict-idle")
		idleSes := s.CreateSession(w.MemberID, w.TenantID)
		busy := s.CreateSession(w.AdminID, w.TenantID)
		clk.Advance(40 * time.Minute)
		requireLive(t, s, busy.Token) // active just now

		out := setPolicy(t, s, w.TenantID, idle(30, "MINUTES"))
		if out.TerminatedSessions != 1 {
			t.Fatalf("terminatedSessions = %d, want 1", out.TerminatedSessions)
		}
		requireReason(t, s, w.MemberID, idleSes.ID, "IDLE_TIMEOUT")
		requireEnded(t, s, idleSes.Token, "IDLE_TIMEOUT")
		requireActive(t, s, w.AdminID, busy.ID)
		requireLive(t, s, busy.Token)
	})

	t.Run("a shorter forced re-login ends older sessions even when active", func(t *testing.T) {
		s, clk := startFake(t)
		w := s.NewWorkspace("strict-relogin")
		old := s.CreateSession(w.MemberID, w.TenantID)
		clk.Advance(50 * time.Minute)
		young := s.CreateSession(w.MemberID, w.TenantID)
		clk.Advance(20 * time.Minute)
		requireLive(t, s, old.Token)

		out := setPolicy(t, s, w.TenantID, relogin(1, "HOURS"))
		if out.TerminatedSessions != 1 {
			t.Fatalf("terminatedSessions = %d, want 1", out.TerminatedSessions)
		}
		requireReason(t, s, w.MemberID, old.ID, "FORCE_RELOGIN")
		requireEnded(t, s, old.Token, "FORCE_RELOGIN")
		if v := requireLive(t, s, young.Token); v.AbsoluteExpiresAt == nil || !v.AbsoluteExpiresAt.Equal(t0.Add(110*time.Minute)) {
			t.Fatalf("absoluteExpiresAt %v, want %v", v.AbsoluteExpiresAt, t0.Add(110*time.Minute))
		}
	})

	t.Run("a policy change moves the deadlines of the sessions it keeps at once", func(t *testing.T) {
		s, clk := startFake(t)
		w := s.NewWorkspace("strict-move")
		ses := s.CreateSession(w.MemberID, w.TenantID)
		requireLive(t, s, ses.Token)

		setPolicy(t, s, w.TenantID, idle(30, "MINUTES"))
		v := meSession(t, s, ses.Token, nil)
		if want := t0.Add(30 * time.Minute); !v.IdleExpiresAt.Equal(want) || !v.ExpiresAt.Equal(want) {
			t.Fatalf("after the change: idleExpiresAt %v expiresAt %v, want %v", v.IdleExpiresAt, v.ExpiresAt, want)
		}
		clk.Advance(31 * time.Minute)
		requireEnded(t, s, ses.Token, "IDLE_TIMEOUT")
	})

	t.Run("lowering the limit ends the oldest sessions first", func(t *testing.T) {
		s, clk := startFake(t)
		w := s.NewWorkspace("strict-limit")
		var mine []graphtest.Session
		for i := 0; i < 4; i++ {
			mine = append(mine, s.CreateSession(w.MemberID, w.TenantID))
			clk.Advance(time.Minute)
		}
		others := s.CreateSession(w.AdminID, w.TenantID)

		out := setPolicy(t, s, w.TenantID, limit(2))
		if out.TerminatedSessions != 2 {
			t.Fatalf("terminatedSessions = %d, want 2", out.TerminatedSessions)
		}
		for _, old := range mine[:2] {
			requireReason(t, s, w.MemberID, old.ID, "CONCURRENT_SESSION_LIMIT")
			requireEnded(t, s, old.Token, "CONCURRENT_SESSION_LIMIT")
		}
		for _, kept := range mine[2:] {
			requireActive(t, s, w.MemberID, kept.ID)
		}
		requireActive(t, s, w.AdminID, others.ID)
	})

	t.Run("an environment change ends sessions only where it is in force", func(t *testing.T) {
		s, clk := startFake(t)
		inherits := s.NewWorkspace("env-inherits")
		overrides := s.NewWorkspace("env-overrides")
		setPolicy(t, s, overrides.TenantID, idle(2, "HOURS"))
		a := s.CreateSession(inherits.MemberID, inherits.TenantID)
		b := s.CreateSession(overrides.MemberID, overrides.TenantID)
		clk.Advance(40 * time.Minute)

		out := setPolicy(t, s, "", idle(30, "MINUTES"))
		if out.TerminatedSessions != 1 {
			t.Fatalf("terminatedSessions = %d, want 1", out.TerminatedSessions)
		}
		requireReason(t, s, inherits.MemberID, a.ID, "IDLE_TIMEOUT")
		requireActive(t, s, overrides.MemberID, b.ID)
	})
}

func TestConcurrencyLimit(t *testing.T) {
	t.Run("a login over the limit ends the user's oldest session", func(t *testing.T) {
		s, clk := startFake(t)
		w := s.NewWorkspace("limit")
		elsewhere := s.CreateTenant("limit-elsewhere")
		s.Admin(`mutation($u: ID!, $t: ID!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: ["read-only"]) { createdAt } }`,
			map[string]any{"u": w.MemberID, "t": elsewhere}, nil)
		setPolicy(t, s, w.TenantID, limit(2))
		setPolicy(t, s, elsewhere, limit(2))
		away := s.CreateSession(w.MemberID, elsewhere)
		colleague := s.CreateSession(w.AdminID, w.TenantID)

		var logins []graphtest.Session
		for i := 0; i < 3; i++ {
			logins = append(logins, s.Login(w.MemberEmail, w.Password, w.TenantID))
			clk.Advance(time.Minute)
		}
		requireReason(t, s, w.MemberID, logins[0].ID, "CONCURRENT_SESSION_LIMIT")
		requireEnded(t, s, logins[0].Token, "CONCURRENT_SESSION_LIMIT")
		for _, kept := range logins[1:] {
			requireActive(t, s, w.MemberID, kept.ID)
			requireLive(t, s, kept.Token)
		}
		// The limit counts one user's sessions in one tenant.
		requireActive(t, s, w.MemberID, away.ID)
		requireActive(t, s, w.AdminID, colleague.ID)

		// createSession obeys it too: now logins[1] is the oldest.
		s.CreateSession(w.MemberID, w.TenantID)
		requireReason(t, s, w.MemberID, logins[1].ID, "CONCURRENT_SESSION_LIMIT")
		requireActive(t, s, w.MemberID, logins[2].ID)
	})

	t.Run("concurrent logins never leave more sessions than the limit", func(t *testing.T) {
		// 20 argon2id checks queue for a few hash slots; under -race on a
		// busy machine the last can wait past the default 30 s request
		// budget and be refused as busy, which is not what this tests.
		s := graphtest.Start(t, graphtest.WithLimits(func(l *graph.Limits) { l.RequestTimeout = 5 * time.Minute }))
		w := s.NewWorkspace("race")
		setPolicy(t, s, w.TenantID, limit(3))
		const n = 20
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := postRequest(s, graphtest.Request{Query: loginMutation, Variables: loginVars(w.MemberEmail, w.Password, "")})
				if err == nil && len(res.Errors) > 0 {
					err = fmt.Errorf("login: %s %s", res.Errors[0].Code(), res.Errors[0].Message)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var out struct {
			User struct {
				ActiveSessionCount int
				Sessions           []sessionView
			}
		}
		s.Admin(`query($id: ID!) { user(id: $id) { activeSessionCount sessions(includeEnded: true) { id active endReason } } }`, map[string]any{"id": w.MemberID}, &out)
		active, ended := 0, 0
		for _, v := range out.User.Sessions {
			switch {
			case v.Active && v.EndReason == nil:
				active++
			case v.reason() == "CONCURRENT_SESSION_LIMIT":
				ended++
			default:
				t.Fatalf("session %s: active %v endReason %q", v.ID, v.Active, v.reason())
			}
		}
		if active != 3 || ended != n-3 || out.User.ActiveSessionCount != 3 {
			t.Fatalf("%d active (count %d), %d ended by the limit; want 3 active, %d ended", active, out.User.ActiveSessionCount, ended, n-3)
		}
	})
}

func TestPreviewSessionPolicy(t *testing.T) {
	s, clk := startFake(t)
	w := s.NewWorkspace("preview")
	mA := s.CreateSession(w.MemberID, w.TenantID) // never used again: idle
	mB := s.CreateSession(w.MemberID, w.TenantID) // used, but old: forced re-login
	clk.Advance(30 * time.Minute)
	mC := s.CreateSession(w.MemberID, w.TenantID) // the older of two left: over the limit
	clk.Advance(time.Minute)
	mD := s.CreateSession(w.MemberID, w.TenantID)
	aA := s.CreateSession(w.AdminID, w.TenantID) // alone: stays
	clk.Advance(39 * time.Minute)
	for _, ses := range []graphtest.Session{mB, mC, mD, aA} {
		requireLive(t, s, ses.Token)
	}

	input := merge(idle(45, "MINUTES"), relogin(65, "MINUTES"), limit(1))
	var pv struct {
		PreviewSessionPolicy struct {
			Policy                                           policyView
			Warnings                                         []warningView
			IdleTimeout, ForceRelogin, MaxConcurrentSessions int
			Total                                            int
		}
	}
	beforePolicy := policyOf(t, s, w.TenantID)
	s.Admin(`query($t: ID, $in: SessionPolicyInput!) { previewSessionPolicy(tenantId: $t, input: $in) {
		policy { `+policyFields+` } warnings { field } idleTimeout forceRelogin maxConcurrentSessions total } }`,
		map[string]any{"t": w.TenantID, "in": input}, &pv)
	p := pv.PreviewSessionPolicy

	t.Run("preview counts per rule", func(t *testing.T) {
		if p.IdleTimeout != 1 || p.ForceRelogin != 1 || p.MaxConcurrentSessions != 1 || p.Total != 3 {
			t.Fatalf("preview idle %d relogin %d limit %d total %d, want 1 1 1 3", p.IdleTimeout, p.ForceRelogin, p.MaxConcurrentSessions, p.Total)
		}
		requireIdle(t, p.Policy, true, 45, "MINUTES", 2700, "TENANT")
		requireLimit(t, p.Policy, ptr(1), "TENANT")
	})

	t.Run("preview changes nothing", func(t *testing.T) {
		if got := policyOf(t, s, w.TenantID); !reflect.DeepEqual(got, beforePolicy) {
			t.Fatalf("policy changed from %+v to %+v", beforePolicy, got)
		}
		for _, ses := range []graphtest.Session{mA, mB, mC, mD} {
			requireActive(t, s, w.MemberID, ses.ID)
		}
		for _, e := range auditOf(t, s, w.TenantID) {
			if e.Action == "policy.updated" || e.Action == "session.ended" {
				t.Fatalf("preview recorded %s", e.Action)
			}
		}
	})

	t.Run("update ends what preview counted, each for its rule", func(t *testing.T) {
		out := setPolicy(t, s, w.TenantID, input)
		if out.TerminatedSessions != p.Total {
			t.Fatalf("terminatedSessions = %d, preview said %d", out.TerminatedSessions, p.Total)
		}
		requireReason(t, s, w.MemberID, mA.ID, "IDLE_TIMEOUT")
		requireReason(t, s, w.MemberID, mB.ID, "FORCE_RELOGIN")
		requireReason(t, s, w.MemberID, mC.ID, "CONCURRENT_SESSION_LIMIT")
		requireActive(t, s, w.MemberID, mD.ID)
		requireActive(t, s, w.AdminID, aA.ID)
	})
}
