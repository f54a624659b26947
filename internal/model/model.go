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

// ActorKind says who made a change.
type ActorKind string

// Actor kinds recorded in the audit trail.
const (
	ActorAdmin  ActorKind = "admin"
	ActorUser   ActorKind = "user"
	ActorSystem ActorKind = "system"
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
