package graph

import (
	"github.com/sessiond/sessiond/graph/gqlmodel"
	"github.com/sessiond/sessiond/internal/policy"
	"github.com/sessiond/sessiond/internal/session"
)

func durationOf(s policy.Span) *gqlmodel.Duration {
	return &gqlmodel.Duration{Value: s.Value, Unit: gqlmodel.DurationUnit(s.Unit), Seconds: int(s.Duration().Seconds())}
}

// policyOf renders an effective policy.
func policyOf(tenantID string, e policy.Effective) *gqlmodel.SessionPolicy {
	p := &gqlmodel.SessionPolicy{
		IdleTimeout:           &gqlmodel.IdleTimeoutSetting{Enabled: e.IdleEnabled, Duration: durationOf(e.IdleSpan), Source: gqlmodel.PolicySource(e.IdleSource)},
		ForceRelogin:          &gqlmodel.ForceReloginSetting{Enabled: e.ReloginEnabled, Source: gqlmodel.PolicySource(e.ReloginSource)},
		MaxConcurrentSessions: &gqlmodel.MaxConcurrentSessionsSetting{Enabled: e.MaxEnabled, Source: gqlmodel.PolicySource(e.MaxSource)},
	}
	if tenantID != "" {
		p.TenantID = &tenantID
	}
	if e.ReloginEnabled {
		p.ForceRelogin.Duration = durationOf(e.ReloginSpan)
	}
	if e.MaxEnabled {
		m := e.Max
		p.MaxConcurrentSessions.MaxSessions = &m
	}
	return p
}

func warningsOf(ws []policy.Warning) []*gqlmodel.PolicyWarning {
	out := make([]*gqlmodel.PolicyWarning, len(ws))
	for i, w := range ws {
		out[i] = &gqlmodel.PolicyWarning{Field: w.Field, Message: w.Message}
	}
	return out
}

func payloadOf(tenantID string, o session.PolicyOutcome) *gqlmodel.SessionPolicyPayload {
	return &gqlmodel.SessionPolicyPayload{Policy: policyOf(tenantID, o.Effective), Warnings: warningsOf(o.Warnings), TerminatedSessions: o.Terminated}
}

func spanOf(d *gqlmodel.DurationInput) *policy.Span {
	if d == nil {
		return nil
	}
	return &policy.Span{Value: d.Value, Unit: policy.Unit(d.Unit)}
}

// policyInput parses the GraphQL policy input.
func policyInput(in gqlmodel.SessionPolicyInput) policy.Input {
	var out policy.Input
	if in.IdleTimeout != nil {
		out.Idle = &policy.Toggle{Enabled: in.IdleTimeout.Enabled, Span: spanOf(in.IdleTimeout.Duration)}
	}
	if in.ForceRelogin != nil {
		out.Relogin = &policy.Toggle{Enabled: in.ForceRelogin.Enabled, Span: spanOf(in.ForceRelogin.Duration)}
	}
	if in.MaxConcurrentSessions != nil {
		out.MaxSessions = &policy.Limit{Enabled: in.MaxConcurrentSessions.Enabled, Max: in.MaxConcurrentSessions.MaxSessions}
	}
	return out
}

func previewOf(scope string, pv session.Preview) *gqlmodel.SessionPolicyPreview {
	return &gqlmodel.SessionPolicyPreview{
		Policy: policyOf(scope, pv.Effective), Warnings: warningsOf(pv.Warnings),
		IdleTimeout: pv.Idle, ForceRelogin: pv.Relogin, MaxConcurrentSessions: pv.Concurrent, Total: pv.Total,
	}
}
