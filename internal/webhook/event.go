// Package webhook pushes session events to back ends over HTTP, signed as
// Standard Webhooks 1.0 (https://www.standardwebhooks.com): the event
// payloads, the endpoints admins register, the signing secrets and their
// sealing at rest, the network rules an endpoint must pass, and the
// dispatcher that delivers what the store's outbox holds.
//
// The outbox rows themselves are written by the store inside the
// transaction that makes the change (a session's creation or end, a policy
// change, a sign-out), from the events built here, so a crash between the
// commit and the send loses nothing.
package webhook

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/sessiond/sessiond/internal/model"
)

// Event types an endpoint can subscribe to.
const (
	SessionCreated       = "session.created"
	SessionEnded         = "session.ended"
	SessionExpiringSoon  = "session.expiring_soon"
	SessionPolicyUpdated = "session_policy.updated"
	UserSignedOut        = "user.signed_out"
	// Test is what sendTestWebhook sends; every endpoint accepts it,
	// whatever its filter.
	Test = "webhook.test"
)

// EventTypes lists the types an endpoint may filter on.
var EventTypes = []string{SessionCreated, SessionEnded, SessionExpiringSoon, SessionPolicyUpdated, UserSignedOut}

// KnownType reports whether t is an event type an endpoint may filter on.
func KnownType(t string) bool { return slices.Contains(EventTypes, t) }

// Event is one fact to report. TenantID is "" for facts of the whole
// environment (an environment policy change, a sign-out from every
// tenant), which only endpoints without a tenant filter receive.
type Event struct {
	ID       string
	Type     string
	TenantID string
	At       time.Time
	Data     any
}

// Payload is the body of every webhook request.
type Payload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// Body is the JSON the receiver gets for e. It is fixed when the delivery is
// written, so every attempt sends the same bytes.
func (e Event) Body() (string, error) {
	b, err := json.Marshal(Payload{Type: e.Type, Timestamp: e.At.UTC(), Data: e.Data})
	return string(b), err
}

// Actor is who made a change, as a payload shows it.
type Actor struct {
	Kind   string  `json:"kind"`
	UserID *string `json:"userId"`
}

func actorOf(a model.Actor) Actor {
	out := Actor{Kind: string(a.Kind)}
	if a.ID != "" {
		id := a.ID
		out.UserID = &id
	}
	return out
}

// Session is a session as payloads show it: never its token or the
// token's hash.
type Session struct {
	ID        string     `json:"id"`
	UserID    string     `json:"userId"`
	TenantID  string     `json:"tenantId"`
	Device    string     `json:"device"`
	IPAddress string     `json:"ipAddress"`
	UserAgent string     `json:"userAgent"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt time.Time  `json:"expiresAt"`
	EndedAt   *time.Time `json:"endedAt"`
	// Reason is the end reason (LOGOUT, REVOKED_BY_USER, REVOKED_BY_ADMIN,
	// IDLE_TIMEOUT, FORCE_RELOGIN, CONCURRENT_SESSION_LIMIT, USER_REMOVED).
	Reason  *string `json:"reason"`
	EndedBy *Actor  `json:"endedBy"`
}

// SessionData is the data of the session.* events.
type SessionData struct {
	Session Session `json:"session"`
}

// SessionEvent reports something that happened to a session at at.
func SessionEvent(typ string, s model.Session, at time.Time) Event {
	v := Session{
		ID: s.ID, UserID: s.UserID, TenantID: s.TenantID, Device: s.Device, IPAddress: s.IPAddress, UserAgent: s.UserAgent,
		CreatedAt: s.CreatedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(), EndedAt: s.EndedAt,
	}
	if s.EndReason != "" {
		r := string(s.EndReason)
		v.Reason = &r
	}
	if s.EndedBy != nil {
		a := actorOf(*s.EndedBy)
		v.EndedBy = &a
	}
	return Event{Type: typ, TenantID: s.TenantID, At: at, Data: SessionData{Session: v}}
}

// PolicyData is the data of session_policy.updated: the settings stored at
// the scope before and after the change (null settings are inherited).
type PolicyData struct {
	// Scope is ENVIRONMENT or TENANT.
	Scope    string  `json:"scope"`
	TenantID *string `json:"tenantId"`
	Before   any     `json:"before"`
	After    any     `json:"after"`
	// EndedSessions is how many active sessions the change ended; each
	// also has its own session.ended.
	EndedSessions int   `json:"endedSessions"`
	Actor         Actor `json:"actor"`
}

// PolicyEvent reports a policy change of a tenant, or of the environment
// when tenantID is "".
func PolicyEvent(tenantID string, before, after any, ended int, actor model.Actor, at time.Time) Event {
	d := PolicyData{Scope: "ENVIRONMENT", Before: before, After: after, EndedSessions: ended, Actor: actorOf(actor)}
	if tenantID != "" {
		d.Scope, d.TenantID = "TENANT", &tenantID
	}
	return Event{Type: SessionPolicyUpdated, TenantID: tenantID, At: at, Data: d}
}

// SignedOutData is the data of user.signed_out.
type SignedOutData struct {
	UserID string `json:"userId"`
	// TenantID is null when the user was signed out of every tenant.
	TenantID *string `json:"tenantId"`
	// Count is how many sessions the sign-out ended.
	Count int   `json:"count"`
	Actor Actor `json:"actor"`
}

// SignedOutEvent reports an admin's sign-out of a user (in one tenant, or
// all when tenantID is "").
func SignedOutEvent(userID, tenantID string, count int, actor model.Actor, at time.Time) Event {
	d := SignedOutData{UserID: userID, Count: count, Actor: actorOf(actor)}
	if tenantID != "" {
		d.TenantID = &tenantID
	}
	return Event{Type: UserSignedOut, TenantID: tenantID, At: at, Data: d}
}

// TestData is the data of webhook.test.
type TestData struct {
	EndpointID string `json:"endpointId"`
}

// Wants reports whether the endpoint receives e: an enabled endpoint
// receives events of its tenant (all tenants' and the environment's
// without a tenant filter) whose type it lists (every type when it lists
// none).
func (ep *Endpoint) Wants(e Event) bool {
	if ep.DisabledAt != nil {
		return false
	}
	if ep.TenantID != nil && *ep.TenantID != e.TenantID {
		return false
	}
	return len(ep.EventTypes) == 0 || slices.Contains(ep.EventTypes, e.Type)
}
