package graphtest

import "fmt"

// CreateTenant creates a tenant with the admin key and returns its id.
func (s *Server) CreateTenant(name string) string {
	s.t.Helper()
	var out struct{ CreateTenant struct{ ID string } }
	s.Admin(`mutation($n: String!) { createTenant(input: {name: $n}) { id } }`, map[string]any{"n": name}, &out)
	return out.CreateTenant.ID
}

// CreateUser creates a user in a tenant with the given roles (nil: the
// default roles) and password ("" for none), and returns its id.
func (s *Server) CreateUser(tenantID, email, password string, roleKeys []string) string {
	s.t.Helper()
	vars := map[string]any{"email": email, "name": "User " + email, "tenantId": tenantID, "roleKeys": roleKeys}
	if password != "" {
		vars["password"] = password
	}
	var out struct{ CreateUser struct{ ID string } }
	s.Admin(`mutation($email: String!, $name: String!, $password: String, $tenantId: ID!, $roleKeys: [String!]) {
		createUser(input: {email: $email, name: $name, password: $password, tenantId: $tenantId, roleKeys: $roleKeys}) { id } }`, vars, &out)
	return out.CreateUser.ID
}

// GrantRevokePermission gives the built-in fe.secure.delete.sessions to a role.
func (s *Server) GrantRevokePermission(roleKey string) {
	s.t.Helper()
	s.Admin(`mutation($r: [String!]!) { assignRolesToPermission(permissionKey: "fe.secure.delete.sessions", roleKeys: $r) { key } }`, map[string]any{"r": []string{roleKey}}, nil)
}

// SetPortal sets the three portal switches.
func (s *Server) SetPortal(privacyAndSecurity, users, security bool) {
	s.t.Helper()
	s.Admin(`mutation($p: Boolean, $u: Boolean, $s: Boolean) { updateAdminPortal(input: {privacyAndSecurity: $p, users: $u, security: $s}) { users } }`,
		map[string]any{"p": privacyAndSecurity, "u": users, "s": security}, nil)
}

// Session is a logged-in session under test.
type Session struct {
	Token string
	ID    string
}

// Login logs a user in with a password; tenantID may be "".
func (s *Server) Login(email, password, tenantID string) Session {
	s.t.Helper()
	vars := map[string]any{"e": email, "p": password}
	if tenantID != "" {
		vars["t"] = tenantID
	}
	var out struct {
		Login struct {
			Token   string
			Session struct{ ID string }
		}
	}
	s.MustDo(Request{Query: `mutation($e: String!, $p: String!, $t: ID) { login(input: {email: $e, password: $p, tenantId: $t}) { token session { id } } }`, Variables: vars}, &out)
	return Session{Token: out.Login.Token, ID: out.Login.Session.ID}
}

// CreateSession opens a session for a user with the admin key.
func (s *Server) CreateSession(userID, tenantID string) Session {
	s.t.Helper()
	var out struct {
		CreateSession struct {
			Token   string
			Session struct{ ID string }
		}
	}
	s.Admin(`mutation($u: ID!, $t: ID!) { createSession(input: {userId: $u, tenantId: $t, userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"}) { token session { id } } }`,
		map[string]any{"u": userID, "t": tenantID}, &out)
	return Session{Token: out.CreateSession.Token, ID: out.CreateSession.Session.ID}
}

// Workspace is a ready tenant: an admin holding fe.secure.delete.sessions
// (role "admin") and a member (default role), with all portal switches on.
type Workspace struct {
	TenantID                string
	AdminID, MemberID       string
	AdminEmail, MemberEmail string
	Password                string
}

// NewWorkspace creates a Workspace; emails are made unique with prefix.
func (s *Server) NewWorkspace(prefix string) Workspace {
	s.t.Helper()
	w := Workspace{Password: "correct horse battery", AdminEmail: fmt.Sprintf("%s-admin@example.com", prefix), MemberEmail: fmt.Sprintf("%s-member@example.com", prefix)}
	w.TenantID = s.CreateTenant(prefix)
	w.AdminID = s.CreateUser(w.TenantID, w.AdminEmail, w.Password, []string{"admin"})
	w.MemberID = s.CreateUser(w.TenantID, w.MemberEmail, w.Password, nil)
	s.GrantRevokePermission("admin")
	s.SetPortal(true, true, true)
	return w
}
