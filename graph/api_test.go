package graph_test

// End-to-end tests of the GraphQL API: every request goes over HTTP to the
// production handler, backed by a real SQLite file (see graph/graphtest).
// Each test starts its own server and creates the data it needs.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph/graphtest"
)

// ---- response shapes ----

type keyed struct{ Key string }

type tenantOut struct {
	ID, Name, CreatedAt string
}

type membershipOut struct {
	Tenant      tenantOut
	User        struct{ ID string }
	Roles       []keyed
	Permissions []string
	CreatedAt   string
}

type userOut struct {
	ID, Email, Name string
	HasPassword     bool
	CreatedAt       string
	Memberships     []membershipOut
}

type roleOut struct {
	ID, Key, Name, Description string
	IsDefault                  bool
	Permissions                []keyed
	CreatedAt                  string
}

type permissionOut struct {
	ID, Key, Name, Description, Category string
	BuiltIn                              bool
	Roles                                []keyed
	CreatedAt                            string
}

type portalOut struct {
	PrivacyAndSecurity, Users, Security bool
	UpdatedAt                           *string
}

type connectionOut struct {
	Edges []struct {
		Cursor string
		Node   userOut
	}
	PageInfo struct {
		HasNextPage bool
		EndCursor   *string
	}
	TotalCount int
}

// Selection sets shared by the tests.
const (
	tenantFields     = `id name createdAt`
	membershipFields = `tenant { id name } user { id } roles { key } permissions createdAt`
	userFields       = `id email name hasPassword createdAt memberships { ` + membershipFields + ` }`
	roleFields       = `id key name description isDefault permissions { key } createdAt`
	permissionFields = `id key name description category builtIn roles { key } createdAt`
	portalFields     = `privacyAndSecurity users security updatedAt`
)

// ---- requests ----

// do sends a request and checks what every response must keep, whatever
// the request: never a 5xx, and every error carries extensions.code.
func do(t *testing.T, s *graphtest.Server, r graphtest.Request) graphtest.Response {
	t.Helper()
	res := s.Do(r)
	if res.Status >= 500 {
		t.Fatalf("want a status below 500, got %d (errors %+v)\nquery: %s", res.Status, res.Errors, r.Query)
	}
	for _, e := range res.Errors {
		if e.Code() == "" {
			t.Fatalf("want every error to carry extensions.code, got %+v\nquery: %s", e, r.Query)
		}
	}
	return res
}

// gql runs a query with the admin key, requires success and decodes data into out.
func gql(t *testing.T, s *graphtest.Server, query string, vars map[string]any, out any) {
	t.Helper()
	res := do(t, s, graphtest.Request{Query: query, Variables: vars, Token: s.AdminKey})
	if len(res.Errors) > 0 {
		t.Fatalf("want no errors, got %+v\nquery: %s", res.Errors, query)
	}
	if res.Status != 200 {
		t.Fatalf("want status 200, got %d", res.Status)
	}
	if out != nil {
		if err := json.Unmarshal(res.Data, out); err != nil {
			t.Fatalf("decode data: %v\n%s", err, res.Data)
		}
	}
}

// fail sends a request that must fail; the first error must have the code
// and, when field is not empty, extensions.field.
func fail(t *testing.T, s *graphtest.Server, r graphtest.Request, code, field string) graphtest.Error {
	t.Helper()
	res := do(t, s, r)
	if len(res.Errors) == 0 {
		t.Fatalf("want error %s, got data %s\nquery: %s", code, res.Data, r.Query)
	}
	e := res.Errors[0]
	if e.Code() != code {
		t.Fatalf("want extensions.code %s, got %s (%q)\nquery: %s", code, e.Code(), e.Message, r.Query)
	}
	if field != "" && e.Field() != field {
		t.Fatalf("want extensions.field %q, got %q (%q)\nquery: %s", field, e.Field(), e.Message, r.Query)
	}
	return e
}

// adminFail runs a query with the admin key that must fail with code (and field).
func adminFail(t *testing.T, s *graphtest.Server, query string, vars map[string]any, code, field string) graphtest.Error {
	t.Helper()
	return fail(t, s, graphtest.Request{Query: query, Variables: vars, Token: s.AdminKey}, code, field)
}

// ---- creating what a test needs ----

func createTenant(t *testing.T, s *graphtest.Server, name string) tenantOut {
	t.Helper()
	var out struct{ CreateTenant tenantOut }
	gql(t, s, `mutation($in: CreateTenantInput!) { createTenant(input: $in) { `+tenantFields+` } }`,
		map[string]any{"in": map[string]any{"name": name}}, &out)
	return out.CreateTenant
}

// createUser creates a user without a password; nil roleKeys leaves them out.
func createUser(t *testing.T, s *graphtest.Server, tenantID, email, name string, roleKeys []string) userOut {
	t.Helper()
	in := map[string]any{"email": email, "name": name, "tenantId": tenantID}
	if roleKeys != nil {
		in["roleKeys"] = roleKeys
	}
	var out struct{ CreateUser userOut }
	gql(t, s, `mutation($in: CreateUserInput!) { createUser(input: $in) { `+userFields+` } }`, map[string]any{"in": in}, &out)
	return out.CreateUser
}

func createRole(t *testing.T, s *graphtest.Server, key, name string) roleOut {
	t.Helper()
	var out struct{ CreateRole roleOut }
	gql(t, s, `mutation($in: CreateRoleInput!) { createRole(input: $in) { `+roleFields+` } }`,
		map[string]any{"in": map[string]any{"key": key, "name": name}}, &out)
	return out.CreateRole
}

func createPermission(t *testing.T, s *graphtest.Server, key, name string) permissionOut {
	t.Helper()
	var out struct{ CreatePermission permissionOut }
	gql(t, s, `mutation($in: CreatePermissionInput!) { createPermission(input: $in) { `+permissionFields+` } }`,
		map[string]any{"in": map[string]any{"key": key, "name": name}}, &out)
	return out.CreatePermission
}

func setRolePermissions(t *testing.T, s *graphtest.Server, roleKey string, permKeys ...string) roleOut {
	t.Helper()
	if permKeys == nil {
		permKeys = []string{}
	}
	var out struct{ SetRolePermissions roleOut }
	gql(t, s, `mutation($r: String!, $p: [String!]!) { setRolePermissions(roleKey: $r, permissionKeys: $p) { `+roleFields+` } }`,
		map[string]any{"r": roleKey, "p": permKeys}, &out)
	return out.SetRolePermissions
}

// ---- reading back ----

func getUser(t *testing.T, s *graphtest.Server, id string) userOut {
	t.Helper()
	var out struct{ User userOut }
	gql(t, s, `query($id: ID!) { user(id: $id) { `+userFields+` } }`, map[string]any{"id": id}, &out)
	return out.User
}

func getRole(t *testing.T, s *graphtest.Server, key string) (roleOut, bool) {
	t.Helper()
	var out struct{ Roles []roleOut }
	gql(t, s, `{ roles { `+roleFields+` } }`, nil, &out)
	for _, r := range out.Roles {
		if r.Key == key {
			return r, true
		}
	}
	return roleOut{}, false
}

func getPermission(t *testing.T, s *graphtest.Server, key string) (permissionOut, bool) {
	t.Helper()
	var out struct{ Permissions []permissionOut }
	gql(t, s, `{ permissions { `+permissionFields+` } }`, nil, &out)
	for _, p := range out.Permissions {
		if p.Key == key {
			return p, true
		}
	}
	return permissionOut{}, false
}

// membershipIn returns the user's membership of the tenant.
func membershipIn(u userOut, tenantID string) (membershipOut, bool) {
	for _, m := range u.Memberships {
		if m.Tenant.ID == tenantID {
			return m, true
		}
	}
	return membershipOut{}, false
}

// listUsers reads one page of users.
func listUsers(t *testing.T, s *graphtest.Server, args map[string]any) connectionOut {
	t.Helper()
	var out struct{ Users connectionOut }
	gql(t, s, `query($tenantId: ID, $search: String, $first: Int, $after: String) {
		users(tenantId: $tenantId, search: $search, first: $first, after: $after) {
			edges { cursor node { id email name } }
			pageInfo { hasNextPage endCursor }
			totalCount
		}
	}`, args, &out)
	return out.Users
}

// snapshot reads everything the API exposes, to prove a failed request
// wrote nothing: compare the snapshots before and after.
func snapshot(t *testing.T, s *graphtest.Server) string {
	t.Helper()
	var out json.RawMessage
	gql(t, s, `{
		tenants { `+tenantFields+` }
		users(first: 100) { totalCount edges { node { `+userFields+` } } }
		roles { `+roleFields+` }
		permissions { `+permissionFields+` }
		adminPortal { `+portalFields+` }
	}`, nil, &out)
	return string(out)
}

func requireUnchanged(t *testing.T, s *graphtest.Server, before string) {
	t.Helper()
	if after := snapshot(t, s); after != before {
		t.Fatalf("want nothing written by the failed request\nbefore: %s\nafter:  %s", before, after)
	}
}

// ---- comparing ----

func keysOf(ks []keyed) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Key
	}
	return out
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if got == nil {
		got = []string{}
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: want %q, got %q", what, want, got)
	}
}

func wantEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: want %v, got %v", what, want, got)
	}
}

func wantUTCTime(t *testing.T, what, s string) {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !strings.HasSuffix(s, "Z") {
		t.Fatalf("%s: want an RFC 3339 UTC timestamp, got %q (%v)", what, s, err)
	}
	if ts.IsZero() {
		t.Fatalf("%s: want a set timestamp, got the zero time", what)
	}
}

// ---- tenants ----

func TestTenants(t *testing.T) {
	t.Parallel()

	t.Run("createTenant returns the tenant and tenant(id) reads it back", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		created := createTenant(t, s, "  Acme  ")
		wantEqual(t, "name (trimmed)", created.Name, "Acme")
		wantUTCTime(t, "createdAt", created.CreatedAt)
		var out struct{ Tenant tenantOut }
		gql(t, s, `query($id: ID!) { tenant(id: $id) { `+tenantFields+` } }`, map[string]any{"id": created.ID}, &out)
		wantEqual(t, "tenant read back", out.Tenant, created)
	})

	t.Run("tenants lists every tenant oldest first", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		var want []string
		for _, n := range []string{"Zeta", "Alpha", "Mid"} {
			want = append(want, createTenant(t, s, n).Name)
		}
		var out struct{ Tenants []tenantOut }
		gql(t, s, `{ tenants { `+tenantFields+` } }`, nil, &out)
		var got []string
		for _, tn := range out.Tenants {
			got = append(got, tn.Name)
		}
		wantStrings(t, "tenant names", got, want)
	})

	t.Run("updateTenant renames and a left-out name changes nothing", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Old")
		var out struct{ UpdateTenant tenantOut }
		q := `mutation($id: ID!, $in: UpdateTenantInput!) { updateTenant(id: $id, input: $in) { ` + tenantFields + ` } }`
		gql(t, s, q, map[string]any{"id": tn.ID, "in": map[string]any{"name": "New"}}, &out)
		wantEqual(t, "renamed", out.UpdateTenant.Name, "New")
		gql(t, s, q, map[string]any{"id": tn.ID, "in": map[string]any{}}, &out)
		wantEqual(t, "name after empty update", out.UpdateTenant.Name, "New")
		wantEqual(t, "createdAt unchanged", out.UpdateTenant.CreatedAt, tn.CreatedAt)
	})

	t.Run("deleteTenant removes the tenant and its memberships but keeps the users", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		gone := createTenant(t, s, "Gone")
		kept := createTenant(t, s, "Kept")
		u := createUser(t, s, gone.ID, "ann@example.com", "Ann", nil)
		gql(t, s, `mutation($u: ID!, $t: ID!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: ["admin"]) { createdAt } }`,
			map[string]any{"u": u.ID, "t": kept.ID}, nil)

		var del struct{ DeleteTenant bool }
		gql(t, s, `mutation($id: ID!) { deleteTenant(id: $id) }`, map[string]any{"id": gone.ID}, &del)
		wantEqual(t, "deleteTenant result", del.DeleteTenant, true)

		adminFail(t, s, `query($id: ID!) { tenant(id: $id) { id } }`, map[string]any{"id": gone.ID}, "NOT_FOUND", "")
		after := getUser(t, s, u.ID)
		if len(after.Memberships) != 1 || after.Memberships[0].Tenant.ID != kept.ID {
			t.Fatalf("memberships after delete: want only %s, got %+v", kept.ID, after.Memberships)
		}
		wantEqual(t, "members of the deleted tenant", listUsers(t, s, map[string]any{"tenantId": gone.ID}).TotalCount, 0)
	})
}

// ---- users ----

func TestUsers(t *testing.T) {
	t.Parallel()

	t.Run("createUser with roleKeys joins the tenant with exactly those roles", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		var out struct{ CreateUser userOut }
		gql(t, s, `mutation($in: CreateUserInput!) { createUser(input: $in) { `+userFields+` } }`, map[string]any{"in": map[string]any{
			"email": "Ann@Example.com", "name": " Ann Lee ", "password": "correct horse", "tenantId": tn.ID, "roleKeys": []string{"admin"},
		}}, &out)
		u := out.CreateUser
		wantEqual(t, "email (kept as given)", u.Email, "Ann@Example.com")
		wantEqual(t, "name (trimmed)", u.Name, "Ann Lee")
		wantEqual(t, "hasPassword", u.HasPassword, true)
		wantUTCTime(t, "createdAt", u.CreatedAt)
		if len(u.Memberships) != 1 {
			t.Fatalf("memberships: want 1, got %+v", u.Memberships)
		}
		m := u.Memberships[0]
		wantEqual(t, "membership tenant", m.Tenant, tenantOut{ID: tn.ID, Name: "Acme"})
		wantEqual(t, "membership user", m.User.ID, u.ID)
		wantStrings(t, "membership roles", keysOf(m.Roles), []string{"admin"})
		wantStrings(t, "membership permissions", m.Permissions, nil)
		wantUTCTime(t, "membership createdAt", m.CreatedAt)
		wantEqual(t, "user read back", fmt.Sprint(getUser(t, s, u.ID)), fmt.Sprint(u))
	})

	t.Run("createUser without roleKeys gets the default role read-only", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		u := createUser(t, s, tn.ID, "ann@example.com", "Ann", nil)
		wantEqual(t, "hasPassword without a password", u.HasPassword, false)
		m, ok := membershipIn(u, tn.ID)
		if !ok {
			t.Fatalf("want a membership of %s, got %+v", tn.ID, u.Memberships)
		}
		wantStrings(t, "roles", keysOf(m.Roles), []string{"read-only"})
	})

	t.Run("a role marked default is given to new members too", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		gql(t, s, `mutation { createRole(input: {key: "viewer", name: "Viewer", isDefault: true}) { isDefault } }`, nil, nil)
		u := createUser(t, s, tn.ID, "ann@example.com", "Ann", nil)
		wantStrings(t, "roles", keysOf(u.Memberships[0].Roles), []string{"read-only", "viewer"})
	})

	t.Run("createUser with an empty roleKeys list joins with no roles", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		u := createUser(t, s, tn.ID, "ann@example.com", "Ann", []string{})
		if len(u.Memberships) != 1 {
			t.Fatalf("memberships: want 1, got %+v", u.Memberships)
		}
		wantStrings(t, "roles", keysOf(u.Memberships[0].Roles), nil)
	})

	t.Run("updateUser changes only the fields given", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		u := createUser(t, s, tn.ID, "ann@example.com", "Ann", nil)
		q := `mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) { ` + userFields + ` } }`
		var out struct{ UpdateUser userOut }

		gql(t, s, q, map[string]any{"id": u.ID, "in": map[string]any{"name": "Ann Lee"}}, &out)
		wantEqual(t, "name", out.UpdateUser.Name, "Ann Lee")
		wantEqual(t, "email unchanged", out.UpdateUser.Email, "ann@example.com")
		wantEqual(t, "hasPassword unchanged", out.UpdateUser.HasPassword, false)

		gql(t, s, q, map[string]any{"id": u.ID, "in": map[string]any{"email": "ANN@example.org", "password": "a new password"}}, &out)
		wantEqual(t, "email", out.UpdateUser.Email, "ANN@example.org")
		wantEqual(t, "hasPassword after setting one", out.UpdateUser.HasPassword, true)
		wantEqual(t, "name unchanged", out.UpdateUser.Name, "Ann Lee")

		// Changing only the case of one's own email is not a conflict with oneself.
		gql(t, s, q, map[string]any{"id": u.ID, "in": map[string]any{"email": "ann@example.org"}}, &out)
		wantEqual(t, "email with new case", out.UpdateUser.Email, "ann@example.org")

		got := getUser(t, s, u.ID)
		wantEqual(t, "read back", got.Email+"|"+got.Name, "ann@example.org|Ann Lee")
		wantStrings(t, "roles unchanged", keysOf(got.Memberships[0].Roles), []string{"read-only"})
	})

	t.Run("deleteUser removes the user and every membership", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		a, b := createTenant(t, s, "A"), createTenant(t, s, "B")
		u := createUser(t, s, a.ID, "ann@example.com", "Ann", nil)
		other := createUser(t, s, a.ID, "bob@example.com", "Bob", nil)
		gql(t, s, `mutation($u: ID!, $t: ID!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: []) { createdAt } }`,
			map[string]any{"u": u.ID, "t": b.ID}, nil)

		var out struct{ DeleteUser bool }
		gql(t, s, `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": u.ID}, &out)
		wantEqual(t, "deleteUser result", out.DeleteUser, true)

		adminFail(t, s, `query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": u.ID}, "NOT_FOUND", "")
		wantEqual(t, "members of A", listUsers(t, s, map[string]any{"tenantId": a.ID}).TotalCount, 1)
		wantEqual(t, "members of B", listUsers(t, s, map[string]any{"tenantId": b.ID}).TotalCount, 0)
		wantEqual(t, "other user untouched", len(getUser(t, s, other.ID).Memberships), 1)
		// The email is free again.
		createUser(t, s, a.ID, "ann@example.com", "Ann again", nil)
	})

	t.Run("user(id) lists the memberships of every tenant with their roles and permissions", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		a, b := createTenant(t, s, "A"), createTenant(t, s, "B")
		createPermission(t, s, "docs.read", "Read docs")
		createRole(t, s, "reader", "Reader")
		setRolePermissions(t, s, "reader", "docs.read")
		u := createUser(t, s, a.ID, "ann@example.com", "Ann", []string{"reader"})
		gql(t, s, `mutation($u: ID!, $t: ID!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: ["admin"]) { createdAt } }`,
			map[string]any{"u": u.ID, "t": b.ID}, nil)

		got := getUser(t, s, u.ID)
		if len(got.Memberships) != 2 {
			t.Fatalf("memberships: want 2, got %+v", got.Memberships)
		}
		ma, _ := membershipIn(got, a.ID)
		mb, _ := membershipIn(got, b.ID)
		wantStrings(t, "roles in A", keysOf(ma.Roles), []string{"reader"})
		wantStrings(t, "permissions in A", ma.Permissions, []string{"docs.read"})
		wantStrings(t, "roles in B", keysOf(mb.Roles), []string{"admin"})
		wantStrings(t, "permissions in B", mb.Permissions, nil)
		wantEqual(t, "tenant name in B", mb.Tenant.Name, "B")
	})
}

// ---- memberships ----

func TestMemberships(t *testing.T) {
	t.Parallel()
	const setRoles = `mutation($u: ID!, $t: ID!, $r: [String!]!) {
		setUserRoles(userId: $u, tenantId: $t, roleKeys: $r) { ` + membershipFields + ` }
	}`

	t.Run("setUserRoles adds the membership when missing", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		a, b := createTenant(t, s, "A"), createTenant(t, s, "B")
		u := createUser(t, s, a.ID, "ann@example.com", "Ann", nil)
		var out struct{ SetUserRoles membershipOut }
		gql(t, s, setRoles, map[string]any{"u": u.ID, "t": b.ID, "r": []string{"admin"}}, &out)
		m := out.SetUserRoles
		wantEqual(t, "tenant", m.Tenant, tenantOut{ID: b.ID, Name: "B"})
		wantEqual(t, "user", m.User.ID, u.ID)
		wantStrings(t, "roles", keysOf(m.Roles), []string{"admin"})
		wantUTCTime(t, "createdAt", m.CreatedAt)
		wantEqual(t, "members of B", listUsers(t, s, map[string]any{"tenantId": b.ID}).TotalCount, 1)
		wantEqual(t, "memberships", len(getUser(t, s, u.ID).Memberships), 2)
	})

	t.Run("setUserRoles replaces the roles in that tenant only", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		a, b := createTenant(t, s, "A"), createTenant(t, s, "B")
		createRole(t, s, "editor", "Editor")
		u := createUser(t, s, a.ID, "ann@example.com", "Ann", []string{"admin", "read-only"})
		gql(t, s, setRoles, map[string]any{"u": u.ID, "t": b.ID, "r": []string{"admin"}}, nil)

		var out struct{ SetUserRoles membershipOut }
		gql(t, s, setRoles, map[string]any{"u": u.ID, "t": a.ID, "r": []string{"editor", "editor"}}, &out)
		wantStrings(t, "returned roles", keysOf(out.SetUserRoles.Roles), []string{"editor"})
		got := getUser(t, s, u.ID)
		ma, _ := membershipIn(got, a.ID)
		mb, _ := membershipIn(got, b.ID)
		wantStrings(t, "roles in A", keysOf(ma.Roles), []string{"editor"})
		wantStrings(t, "roles in B", keysOf(mb.Roles), []string{"admin"})

		gql(t, s, setRoles, map[string]any{"u": u.ID, "t": a.ID, "r": []string{}}, &out)
		ma, ok := membershipIn(getUser(t, s, u.ID), a.ID)
		if !ok {
			t.Fatalf("want the membership kept with no roles, got none")
		}
		wantStrings(t, "roles in A after empty list", keysOf(ma.Roles), nil)
	})

	t.Run("removeUserFromTenant keeps the user in other tenants", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		a, b := createTenant(t, s, "A"), createTenant(t, s, "B")
		u := createUser(t, s, a.ID, "ann@example.com", "Ann", nil)
		gql(t, s, setRoles, map[string]any{"u": u.ID, "t": b.ID, "r": []string{"admin"}}, nil)

		var out struct{ RemoveUserFromTenant bool }
		gql(t, s, `mutation($u: ID!, $t: ID!) { removeUserFromTenant(userId: $u, tenantId: $t) }`, map[string]any{"u": u.ID, "t": a.ID}, &out)
		wantEqual(t, "result", out.RemoveUserFromTenant, true)
		got := getUser(t, s, u.ID)
		if len(got.Memberships) != 1 || got.Memberships[0].Tenant.ID != b.ID {
			t.Fatalf("memberships: want only B (%s), got %+v", b.ID, got.Memberships)
		}
		wantEqual(t, "members of A", listUsers(t, s, map[string]any{"tenantId": a.ID}).TotalCount, 0)
		// A second removal finds no membership.
		adminFail(t, s, `mutation($u: ID!, $t: ID!) { removeUserFromTenant(userId: $u, tenantId: $t) }`, map[string]any{"u": u.ID, "t": a.ID}, "NOT_FOUND", "")
	})
}

// ---- listing users ----

// walk reads every page of users with the filter, page size first, and
// checks each page's totalCount and pageInfo on the way.
func walk(t *testing.T, s *graphtest.Server, filter map[string]any, first int) []string {
	t.Helper()
	var ids []string
	var after any
	total := -1
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatalf("pagination does not end")
		}
		args := map[string]any{"first": first, "after": after}
		for k, v := range filter {
			args[k] = v
		}
		conn := listUsers(t, s, args)
		if total == -1 {
			total = conn.TotalCount
		}
		wantEqual(t, fmt.Sprintf("totalCount on page %d", page), conn.TotalCount, total)
		if len(conn.Edges) > first {
			t.Fatalf("page %d: want at most %d edges, got %d", page, first, len(conn.Edges))
		}
		for _, e := range conn.Edges {
			ids = append(ids, e.Node.ID)
			if e.Cursor == "" {
				t.Fatalf("page %d: edge %s has no cursor", page, e.Node.ID)
			}
		}
		if n := len(conn.Edges); n > 0 {
			if conn.PageInfo.EndCursor == nil || *conn.PageInfo.EndCursor != conn.Edges[n-1].Cursor {
				t.Fatalf("page %d: want endCursor = last edge's cursor %q, got %v", page, conn.Edges[n-1].Cursor, conn.PageInfo.EndCursor)
			}
		}
		if !conn.PageInfo.HasNextPage {
			break
		}
		if conn.PageInfo.EndCursor == nil {
			t.Fatalf("page %d: hasNextPage without an endCursor", page)
		}
		after = *conn.PageInfo.EndCursor
	}
	wantEqual(t, "users walked vs totalCount", len(ids), total)
	return ids
}

func TestUsersPagination(t *testing.T) {
	t.Parallel()

	t.Run("walking every page returns each user once, oldest first", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		a, b := createTenant(t, s, "A"), createTenant(t, s, "B")
		var want []string
		for i := range 11 {
			tn := a
			if i%3 == 0 {
				tn = b
			}
			want = append(want, createUser(t, s, tn.ID, fmt.Sprintf("user%02d@example.com", i), fmt.Sprintf("User %d", i), nil).ID)
		}
		for _, first := range []int{1, 3, 4, 11, 500} {
			wantStrings(t, fmt.Sprintf("ids walked with first=%d", first), walk(t, s, nil, first), want)
		}
	})

	t.Run("first defaults to 50", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "A")
		for i := range 51 {
			createUser(t, s, tn.ID, fmt.Sprintf("u%d@example.com", i), "U", []string{})
		}
		conn := listUsers(t, s, nil)
		wantEqual(t, "edges", len(conn.Edges), 50)
		wantEqual(t, "hasNextPage", conn.PageInfo.HasNextPage, true)
		wantEqual(t, "totalCount", conn.TotalCount, 51)
		rest := listUsers(t, s, map[string]any{"after": *conn.PageInfo.EndCursor})
		wantEqual(t, "edges on the second page", len(rest.Edges), 1)
		wantEqual(t, "hasNextPage on the last page", rest.PageInfo.HasNextPage, false)
	})

	t.Run("an empty result has no edges, no next page and no endCursor", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		conn := listUsers(t, s, map[string]any{"search": "nobody"})
		wantEqual(t, "edges", len(conn.Edges), 0)
		wantEqual(t, "totalCount", conn.TotalCount, 0)
		wantEqual(t, "hasNextPage", conn.PageInfo.HasNextPage, false)
		if conn.PageInfo.EndCursor != nil {
			t.Fatalf("endCursor: want null, got %q", *conn.PageInfo.EndCursor)
		}
	})

	t.Run("search matches part of the email or the name case-insensitively", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "A")
		byEmail := createUser(t, s, tn.ID, "Carol@Smithson.example", "Carol", nil).ID
		byName := createUser(t, s, tn.ID, "dave@example.com", "Dave SMITH", nil).ID
		erin := createUser(t, s, tn.ID, "erin@example.com", "Erin Jones", nil).ID
		for _, q := range []string{"smith", "SMITH", "Smi", "  sMiTh  "} {
			wantStrings(t, fmt.Sprintf("matches of %q", q), walk(t, s, map[string]any{"search": q}, 1), []string{byEmail, byName})
		}
		wantStrings(t, "matches of an email domain", walk(t, s, map[string]any{"search": "EXAMPLE.COM"}, 10), []string{byName, erin})
		wantStrings(t, "matches of nothing", walk(t, s, map[string]any{"search": "zzz"}, 10), nil)
	})

	t.Run("search treats % and _ as plain characters", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "A")
		createUser(t, s, tn.ID, "ann@example.com", "Ann", nil)
		withUnderscore := createUser(t, s, tn.ID, "bob_b@example.com", "Bob", nil).ID
		wantStrings(t, `matches of "%"`, walk(t, s, map[string]any{"search": "%"}, 5), nil)
		wantStrings(t, `matches of "_"`, walk(t, s, map[string]any{"search": "_"}, 5), []string{withUnderscore})
	})

	t.Run("tenantId restricts the list to that tenant's members", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		a, b := createTenant(t, s, "A"), createTenant(t, s, "B")
		var inA, inB, smithsInB []string
		for i := range 7 {
			name := fmt.Sprintf("Smith %d", i)
			if i%2 == 0 {
				name = fmt.Sprintf("Jones %d", i)
			}
			ua := createUser(t, s, a.ID, fmt.Sprintf("a%d@example.com", i), name, nil)
			inA = append(inA, ua.ID)
			ub := createUser(t, s, b.ID, fmt.Sprintf("b%d@example.com", i), name, nil)
			inB = append(inB, ub.ID)
			if i%2 == 1 {
				smithsInB = append(smithsInB, ub.ID)
			}
		}
		// A member of both tenants appears in both lists, once.
		both := createUser(t, s, a.ID, "both@example.com", "Both", nil).ID
		gql(t, s, `mutation($u: ID!, $t: ID!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: []) { createdAt } }`,
			map[string]any{"u": both, "t": b.ID}, nil)
		inA, inB = append(inA, both), append(inB, both)

		wantStrings(t, "members of A", walk(t, s, map[string]any{"tenantId": a.ID}, 3), inA)
		wantStrings(t, "members of B", walk(t, s, map[string]any{"tenantId": b.ID}, 2), inB)
		wantStrings(t, "Smiths in B", walk(t, s, map[string]any{"tenantId": b.ID, "search": "smith"}, 2), smithsInB)
		wantEqual(t, "all users", len(walk(t, s, nil, 500)), 15)
	})

	t.Run("an after that is not a cursor is BAD_USER_INPUT on after", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		for _, after := range []string{"nonsense", "dXNlcjo", "%%%"} {
			adminFail(t, s, `query($a: String) { users(after: $a) { totalCount } }`, map[string]any{"a": after}, "BAD_USER_INPUT", "after")
		}
	})

	t.Run("first outside 0..500 is BAD_USER_INPUT on first", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		for _, first := range []int{-1, 501} {
			adminFail(t, s, `query($f: Int) { users(first: $f) { totalCount } }`, map[string]any{"f": first}, "BAD_USER_INPUT", "first")
		}
	})
}
