// Package model holds sessiond's domain types: plain values shared by the
// domain packages, the store and the GraphQL layer, with no behaviour that
// needs a database or a transport.
package model

import "time"

// BuiltInRevokeSessions is the permission that lets its holders configure
// their tenant's session settings and end other users' sessions.
const BuiltInRevokeSessions = "fe.secure.delete.sessions"

// Tenant is a customer account of the environment.
type Tenant struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// User is a person who can sign in to one or more tenants.
type User struct {
	ID           string
	Email        string
	Name         string
	PasswordHash string
	CreatedAt    time.Time
}

// HasPassword reports whether the user can log in with a password.
func (u *User) HasPassword() bool { return u.PasswordHash != "" }

// Membership places a user in a tenant; roles are held per membership.
type Membership struct {
	UserID    string
	TenantID  string
	CreatedAt time.Time
}

// Role is a named set of permissions assigned to users per tenant.
type Role struct {
	ID          string
	Key         string
	Name        string
	Description string
	IsDefault   bool
	CreatedAt   time.Time
}

// Permission is a capability granted through roles.
type Permission struct {
	ID          string
	Key         string
	Name        string
	Description string
	Category    string
	BuiltIn     bool
	CreatedAt   time.Time
}

// AdminPortal holds the self-service portal switches of the environment.
type AdminPortal struct {
	PrivacyAndSecurity bool
	Users              bool
	Security           bool
	UpdatedAt          *time.Time
}

// RetentionSettings are the environment's own retention values; nil
// means "the server's flag" (-retain-ended, -retain-audit). Days; 0 keeps
// forever.
type RetentionSettings struct {
	EndedSessionsDays *int
	AuditDays         *int
	UpdatedAt         *time.Time
}

// RetentionUpdate changes the retention settings: a nil field is left as
// is; Reset first clears both back to the server's flags.
type RetentionUpdate struct {
	EndedSessionsDays *int
	AuditDays         *int
	Reset             bool
}

// RetentionPolicy is the retention in force: the environment's values
// where set, else the server's flags.
type RetentionPolicy struct {
	EndedSessionsDays    int
	AuditDays            int
	EndedSessionsDaysSet bool
	AuditDaysSet         bool
	UpdatedAt            *time.Time
}

// Purgeable counts what a purge would delete: ended sessions and finished
// webhook deliveries past the ended-session retention, audit entries past
// the audit retention.
type Purgeable struct {
	Sessions, Audit, Deliveries int
}

// ActorKind says who made a change.
type ActorKind string

// Actor kinds recorded in the audit trail.
const (
	ActorAdmin  ActorKind = "ADMIN"
	ActorUser   ActorKind = "USER"
	ActorSystem ActorKind = "SYSTEM"
)

// Actor identifies who made a change, for the audit trail.
type Actor struct {
	Kind ActorKind
	// ID is the user's id for ActorUser, empty otherwise.
	ID string
}

// AuditEntry is one recorded change.
type AuditEntry struct {
	ID         string
	TenantID   string
	Actor      Actor
	Action     string
	TargetType string
	TargetID   string
	// Before and After are JSON documents of the target's state, or empty.
	Before    string
	After     string
	CreatedAt time.Time
}

// EndReason is why a session ended. The values are the GraphQL enum's.
type EndReason string

// Session end reasons.
const (
	EndLogout                 EndReason = "LOGOUT"
	EndRevokedByUser          EndReason = "REVOKED_BY_USER"
	EndRevokedByAdmin         EndReason = "REVOKED_BY_ADMIN"
	EndIdleTimeout            EndReason = "IDLE_TIMEOUT"
	EndForceRelogin           EndReason = "FORCE_RELOGIN"
	EndConcurrentSessionLimit EndReason = "CONCURRENT_SESSION_LIMIT"
	EndUserRemoved            EndReason = "USER_REMOVED"
)

// Session is one signed-in session of a user in a tenant.
type Session struct {
	ID        string
	TokenHash string
	UserID    string
	TenantID  string
	CreatedAt time.Time
	// LastActiveAt is the last activity written to the store.
	LastActiveAt      time.Time
	IdleExpiresAt     time.Time
	AbsoluteExpiresAt *time.Time
	// ExpiresAt is the earlier of the two deadlines.
	ExpiresAt   time.Time
	IdleTimeout time.Duration
	IPAddress   string
	UserAgent   string
	Device      string
	EndedAt     *time.Time
	EndReason   EndReason
	EndedBy     *Actor
}

// Ended reports whether the session has been ended.
func (s *Session) Ended() bool { return s.EndedAt != nil }

// LiveAt is the one liveness rule: a session is live at now when it has not
// been ended and its deadline, extended by grace, is still ahead. grace is
// how long another instance's unwritten activity may keep a session alive
// past its stored deadline (zero on a single instance). Validation,
// revalidation of open connections, the scheduler's checks and the API's
// Session.active all ask this; callers count their unwritten activity in
// first (see WithActivity).
func (s Session) LiveAt(now time.Time, grace time.Duration) bool {
	return s.EndedAt == nil && s.ExpiresAt.Add(grace).After(now)
}

// WithActivity returns the session as it is once activity at t is counted:
// the idle deadline moves to t plus the idle timeout, never past the
// absolute deadline. Earlier activity changes nothing.
func (s Session) WithActivity(t time.Time) Session {
	if s.Ended() || !t.After(s.LastActiveAt) {
		return s
	}
	s.LastActiveAt = t
	s.IdleExpiresAt = t.Add(s.IdleTimeout)
	s.ExpiresAt = s.IdleExpiresAt
	if s.AbsoluteExpiresAt != nil && s.AbsoluteExpiresAt.Before(s.ExpiresAt) {
		s.ExpiresAt = *s.AbsoluteExpiresAt
	}
	return s
}
