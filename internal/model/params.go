package model

// NewUser is what CreateUser stores.
type NewUser struct {
	Email, Name, PasswordHash string
	TenantID                  string
	// RoleKeys are the roles in TenantID; nil means the default roles.
	RoleKeys []string
}

// UserUpdate holds the fields to change; nil leaves a field as is.
type UserUpdate struct {
	Email, Name, PasswordHash *string
}

// UserFilter selects a page of users.
type UserFilter struct {
	// TenantID restricts the list to the tenant's members when set.
	TenantID string
	// Search matches part of the email or name, case-insensitively.
	Search string
	// AfterID continues after this user id (ids sort by creation).
	AfterID string
	Limit   int
}

// UserPage is one page of users.
type UserPage struct {
	Users       []User
	TotalCount  int
	HasNextPage bool
}

// MembershipKey names one membership.
type MembershipKey struct{ UserID, TenantID string }

// RoleUpdate holds the fields to change; nil leaves a field as is.
type RoleUpdate struct {
	Name, Description *string
	IsDefault         *bool
}

// PermissionUpdate holds the fields to change; nil leaves a field as is.
type PermissionUpdate struct {
	Name, Description, Category *string
}

// PortalUpdate holds the switches to change; nil leaves a switch as is.
type PortalUpdate struct {
	PrivacyAndSecurity, Users, Security *bool
}

// SessionEnd names a session to end and why.
type SessionEnd struct {
	ID     string
	Reason EndReason
}

// SessionFilter selects sessions to list.
type SessionFilter struct {
	// UserIDs restricts the list to these users when not empty.
	UserIDs []string
	// TenantID restricts the list to one tenant when set.
	TenantID   string
	ActiveOnly bool
}
