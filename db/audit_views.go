package db

// audit views: what the trail records of each target (never secrets).
type tenantAudit struct {
	Name string `json:"name"`
}
type userAudit struct {
	Email       string `json:"email"`
	Name        string `json:"name"`
	HasPassword bool   `json:"hasPassword"`
}
type membershipAudit struct {
	UserID   string   `json:"userId"`
	TenantID string   `json:"tenantId"`
	Roles    []string `json:"roles"`
}
type roleAudit struct {
	Key         string   `json:"key"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	IsDefault   bool     `json:"isDefault"`
	Permissions []string `json:"permissions,omitempty"`
}
type portalAudit struct {
	PrivacyAndSecurity bool `json:"privacyAndSecurity"`
	Users              bool `json:"users"`
	Security           bool `json:"security"`
}
type permissionAudit struct {
	Key         string   `json:"key"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Category    string   `json:"category"`
	Roles       []string `json:"roles,omitempty"`
}
