package graph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/clock"
)

// t0 is when fake-clock tests start; whole seconds, so the database's
// millisecond timestamps give it back exactly.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// chromeOnMac is the user agent graphtest's CreateSession sends.
const chromeOnMac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"

// waitTimeout bounds every wait for background work (the expiry scheduler,
// the activity flusher), in real time.
const waitTimeout = 5 * time.Second

// startFake starts a server on a fake clock showing t0.
func startFake(t *testing.T, opts ...graphtest.Option) (*graphtest.Server, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(t0)
	return graphtest.Start(t, append([]graphtest.Option{graphtest.WithClock(clk)}, opts...)...), clk
}

const sessionFields = `id user { id email } tenant { id } createdAt lastActiveAt idleExpiresAt absoluteExpiresAt expiresAt
	ipAddress userAgent device current active endedAt endReason`

// sessionView is a Session as the API shows it.
type sessionView struct {
	ID                string
	User              struct{ ID, Email string }
	Tenant            struct{ ID string }
	CreatedAt         time.Time
	LastActiveAt      time.Time
	IdleExpiresAt     time.Time
	AbsoluteExpiresAt *time.Time
	ExpiresAt         time.Time
	IPAddress         string
	UserAgent         string
	Device            string
	Current           bool
	Active            bool
	EndedAt           *time.Time
	EndReason         *string
}

func (v sessionView) reason() string {
	if v.EndReason == nil {
		return ""
	}
	return *v.EndReason
}

// meSession returns the caller's session through `me`; headers may be nil.
func meSession(t *testing.T, s *graphtest.Server, token string, headers map[string]string) sessionView {
	t.Helper()
	var out struct{ Me struct{ Session sessionView } }
	s.MustDo(graphtest.Request{Query: `{ me { session { ` + sessionFields + ` } } }`, Token: token, Headers: headers}, &out)
	return out.Me.Session
}

// requireEnded requires that a request with the token is refused with
// UNAUTHENTICATED and extensions.reason set to the end reason.
func requireEnded(t *testing.T, s *graphtest.Server, token, reason string) {
	t.Helper()
	e := s.MustFail(graphtest.Request{Query: `{ me { session { id } } }`, Token: token}, "UNAUTHENTICATED")
	if got, _ := e.Extensions["reason"].(string); got != reason {
		t.Fatalf("extensions.reason = %q, want %q (message %q)", got, reason, e.Message)
	}
}

// requireLive requires that a request with the token is served, and
// returns the session; it counts as activity.
func requireLive(t *testing.T, s *graphtest.Server, token string) sessionView {
	t.Helper()
	res := s.Do(graphtest.Request{Query: `{ me { session { ` + sessionFields + ` } } }`, Token: token})
	if len(res.Errors) > 0 {
		t.Fatalf("want the session to be live, got %s %q (reason %v)", res.Errors[0].Code(), res.Errors[0].Message, res.Errors[0].Extensions["reason"])
	}
	var out struct{ Me struct{ Session sessionView } }
	if err := json.Unmarshal(res.Data, &out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return out.Me.Session
}

// sessionsOf returns a user's sessions, ended ones included, newest first,
// as the admin key sees them. It never touches the sessions themselves.
func sessionsOf(t *testing.T, s *graphtest.Server, userID string) []sessionView {
	t.Helper()
	var out struct {
		User struct{ Sessions []sessionView }
	}
	s.Admin(`query($id: ID!) { user(id: $id) { sessions(includeEnded: true) { `+sessionFields+` } } }`, map[string]any{"id": userID}, &out)
	return out.User.Sessions
}

// sessionOf returns one session of a user as the admin key sees it.
func sessionOf(t *testing.T, s *graphtest.Server, userID, sessionID string) sessionView {
	t.Helper()
	for _, v := range sessionsOf(t, s, userID) {
		if v.ID == sessionID {
			return v
		}
	}
	t.Fatalf("session %s of user %s not listed", sessionID, userID)
	return sessionView{}
}

// eventually polls cond every 10 ms until it holds or waitTimeout passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", waitTimeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitForEnd waits until the background scheduler has ended the session
// and returns it; it never uses the session's token.
func waitForEnd(t *testing.T, s *graphtest.Server, userID, sessionID string) sessionView {
	t.Helper()
	var v sessionView
	eventually(t, "session "+sessionID+" to end", func() bool {
		v = sessionOf(t, s, userID, sessionID)
		return v.EndReason != nil
	})
	return v
}

// requireReason requires that the admin view shows the session ended with reason.
func requireReason(t *testing.T, s *graphtest.Server, userID, sessionID, reason string) sessionView {
	t.Helper()
	v := sessionOf(t, s, userID, sessionID)
	if v.reason() != reason || v.Active || v.EndedAt == nil {
		t.Fatalf("session %s: endReason %q active %v endedAt %v, want ended with %s", sessionID, v.reason(), v.Active, v.EndedAt, reason)
	}
	return v
}

// requireActive requires that the admin view shows the session active.
func requireActive(t *testing.T, s *graphtest.Server, userID, sessionID string) sessionView {
	t.Helper()
	v := sessionOf(t, s, userID, sessionID)
	if !v.Active || v.EndReason != nil || v.EndedAt != nil {
		t.Fatalf("session %s: active %v endReason %q endedAt %v, want active", sessionID, v.Active, v.reason(), v.EndedAt)
	}
	return v
}

// ---- policies ----

const policyFields = `tenantId
	idleTimeout { enabled duration { value unit seconds } source }
	forceRelogin { enabled duration { value unit seconds } source }
	maxConcurrentSessions { enabled maxSessions source }`

type durationView struct {
	Value   int
	Unit    string
	Seconds int
}

type policyView struct {
	TenantID    *string
	IdleTimeout struct {
		Enabled  bool
		Duration durationView
		Source   string
	}
	ForceRelogin struct {
		Enabled  bool
		Duration *durationView
		Source   string
	}
	MaxConcurrentSessions struct {
		Enabled     bool
		MaxSessions *int
		Source      string
	}
}

type warningView struct{ Field, Message string }

type policyPayload struct {
	Policy             policyView
	Warnings           []warningView
	TerminatedSessions int
}

// idle, relogin and limit build SessionPolicyInput parts.
func idle(value int, unit string) map[string]any {
	return map[string]any{"idleTimeout": map[string]any{"enabled": true, "duration": map[string]any{"value": value, "unit": unit}}}
}

func relogin(value int, unit string) map[string]any {
	return map[string]any{"forceRelogin": map[string]any{"enabled": true, "duration": map[string]any{"value": value, "unit": unit}}}
}

func limit(n int) map[string]any {
	return map[string]any{"maxConcurrentSessions": map[string]any{"enabled": true, "maxSessions": n}}
}

// merge combines input parts into one SessionPolicyInput.
func merge(parts ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, p := range parts {
		for k, v := range p {
			out[k] = v
		}
	}
	return out
}

// tenantVar is a tenantId variable: nil (the environment) for "".
func tenantVar(tenantID string) any {
	if tenantID == "" {
		return nil
	}
	return tenantID
}

const updatePolicyMutation = `mutation($t: ID, $in: SessionPolicyInput!) { updateSessionPolicy(tenantId: $t, input: $in) {
	policy { ` + policyFields + ` } warnings { field message } terminatedSessions } }`

// setPolicy updates a tenant's policy (the environment's for "") with the admin key.
func setPolicy(t *testing.T, s *graphtest.Server, tenantID string, input map[string]any) policyPayload {
	t.Helper()
	var out struct{ UpdateSessionPolicy policyPayload }
	s.Admin(updatePolicyMutation, map[string]any{"t": tenantVar(tenantID), "in": input}, &out)
	return out.UpdateSessionPolicy
}

// policyOf reads a tenant's effective policy (the environment's for "").
func policyOf(t *testing.T, s *graphtest.Server, tenantID string) policyView {
	t.Helper()
	var out struct{ SessionPolicy policyView }
	s.Admin(`query($t: ID) { sessionPolicy(tenantId: $t) { `+policyFields+` } }`, map[string]any{"t": tenantVar(tenantID)}, &out)
	return out.SessionPolicy
}

// ---- audit log ----

type auditView struct {
	ID       string
	TenantID *string
	Actor    struct {
		Kind   string
		UserID *string
	}
	Action     string
	TargetType string
	TargetID   string
	Before     *string
	After      *string
	CreatedAt  time.Time
}

const auditFields = `id tenantId actor { kind userId } action targetType targetId before after createdAt`

// auditOf returns a tenant's audit entries, newest first, as the admin key sees them.
func auditOf(t *testing.T, s *graphtest.Server, tenantID string) []auditView {
	t.Helper()
	var out struct {
		AuditLog struct{ Edges []struct{ Node auditView } }
	}
	s.Admin(`query($t: ID) { auditLog(tenantId: $t, first: 500) { edges { node { `+auditFields+` } } } }`, map[string]any{"t": tenantVar(tenantID)}, &out)
	entries := make([]auditView, len(out.AuditLog.Edges))
	for i, e := range out.AuditLog.Edges {
		entries[i] = e.Node
	}
	return entries
}

// auditJSON decodes an audit entry's before or after document.
func auditJSON(t *testing.T, doc *string) map[string]any {
	t.Helper()
	if doc == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(*doc), &m); err != nil {
		t.Fatalf("audit document %q: %v", *doc, err)
	}
	return m
}

// ---- raw requests ----

// postRequest sends a GraphQL request without failing the test, so goroutines
// other than the test's may use it.
func postRequest(s *graphtest.Server, r graphtest.Request) (graphtest.Response, error) {
	body, err := json.Marshal(map[string]any{"query": r.Query, "variables": r.Variables})
	if err != nil {
		return graphtest.Response{}, err
	}
	req, err := http.NewRequest(http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return graphtest.Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	res, err := s.HTTP.Client().Do(req)
	if err != nil {
		return graphtest.Response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return graphtest.Response{}, err
	}
	out := graphtest.Response{Status: res.StatusCode}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, fmt.Errorf("decode response (status %d): %w: %s", res.StatusCode, err, raw)
	}
	return out, nil
}

const loginMutation = `mutation($e: String!, $p: String!, $t: ID) { login(input: {email: $e, password: $p, tenantId: $t}) { token session { id } } }`

// loginVars builds login variables; tenantID may be "".
func loginVars(email, password, tenantID string) map[string]any {
	return map[string]any{"e": email, "p": password, "t": tenantVar(tenantID)}
}
