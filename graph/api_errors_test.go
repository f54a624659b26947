package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/secret"
)

// world is what the error tests start from: two tenants, Ann and Bob in
// Acme (Ann not in Other), a role editor holding the permission docs.read.
type world struct {
	acme, other tenantOut
	ann, bob    userOut
}

func newWorld(t *testing.T, s *graphtest.Server) world {
	t.Helper()
	w := world{acme: createTenant(t, s, "Acme"), other: createTenant(t, s, "Other")}
	w.ann = createUser(t, s, w.acme.ID, "ann@example.com", "Ann", nil)
	w.bob = createUser(t, s, w.acme.ID, "bob@example.com", "Bob", nil)
	createPermission(t, s, "docs.read", "Read docs")
	createRole(t, s, "editor", "Editor")
	setRolePermissions(t, s, "editor", "docs.read")
	return w
}

const unknownID = "01a21c7c-0000-7000-8000-000000000000"

// Mutations as the error cases send them, with all arguments as variables.
const (
	mCreateTenant     = `mutation($in: CreateTenantInput!) { createTenant(input: $in) { id } }`
	mUpdateTenant     = `mutation($id: ID!, $in: UpdateTenantInput!) { updateTenant(id: $id, input: $in) { id } }`
	mDeleteTenant     = `mutation($id: ID!) { deleteTenant(id: $id) }`
	mCreateUser       = `mutation($in: CreateUserInput!) { createUser(input: $in) { id } }`
	mUpdateUser       = `mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) { id } }`
	mDeleteUser       = `mutation($id: ID!) { deleteUser(id: $id) }`
	mSetUserRoles     = `mutation($u: ID!, $t: ID!, $r: [String!]!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: $r) { createdAt } }`
	mRemoveFromTenant = `mutation($u: ID!, $t: ID!) { removeUserFromTenant(userId: $u, tenantId: $t) }`
	mCreateRole       = `mutation($in: CreateRoleInput!) { createRole(input: $in) { id } }`
	mUpdateRole       = `mutation($key: String!, $in: UpdateRoleInput!) { updateRole(key: $key, input: $in) { id } }`
	mDeleteRole       = `mutation($key: String!) { deleteRole(key: $key) }`
	mSetRolePerms     = `mutation($r: String!, $p: [String!]!) { setRolePermissions(roleKey: $r, permissionKeys: $p) { id } }`
	mCreatePermission = `mutation($in: CreatePermissionInput!) { createPermission(input: $in) { id } }`
	mUpdatePermission = `mutation($key: String!, $in: UpdatePermissionInput!) { updatePermission(key: $key, input: $in) { id } }`
	mDeletePermission = `mutation($key: String!) { deletePermission(key: $key) }`
	mAssignRoles      = `mutation($p: String!, $r: [String!]!) { assignRolesToPermission(permissionKey: $p, roleKeys: $r) { id } }`
	mRemoveRoles      = `mutation($p: String!, $r: [String!]!) { removeRolesFromPermission(permissionKey: $p, roleKeys: $r) { id } }`
)

type vars = map[string]any

func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 101)
	userIn := func(w world, over vars) vars {
		in := vars{"email": "new@example.com", "name": "New", "tenantId": w.acme.ID}
		for k, v := range over {
			in[k] = v
		}
		return vars{"in": in}
	}
	cases := []struct {
		name        string
		query       string
		vars        func(w world) vars
		code, field string
	}{
		// Conflicts.
		{"createUser with an email taken in another case is CONFLICT on email", mCreateUser,
			func(w world) vars { return userIn(w, vars{"email": "ANN@Example.COM"}) }, "CONFLICT", "email"},
		{"updateUser to an email taken in another case is CONFLICT on email", mUpdateUser,
			func(w world) vars {
				return vars{"id": w.bob.ID, "in": vars{"email": "Ann@EXAMPLE.com", "name": "Renamed"}}
			}, "CONFLICT", "email"},
		{"createRole with a taken key is CONFLICT on key", mCreateRole,
			func(world) vars { return vars{"in": vars{"key": "editor", "name": "Other editor"}} }, "CONFLICT", "key"},
		{"createRole with a built-in role's key is CONFLICT on key", mCreateRole,
			func(world) vars { return vars{"in": vars{"key": "read-only", "name": "Mine"}} }, "CONFLICT", "key"},
		{"createPermission with a taken key is CONFLICT on key", mCreatePermission,
			func(world) vars { return vars{"in": vars{"key": "docs.read", "name": "Again"}} }, "CONFLICT", "key"},
		{"createPermission with the built-in key is CONFLICT on key", mCreatePermission,
			func(world) vars { return vars{"in": vars{"key": builtInPermission, "name": "Mine"}} }, "CONFLICT", "key"},

		// Unknown tenants.
		{"tenant(id) of an unknown id is NOT_FOUND", `query($id: ID!) { tenant(id: $id) { id } }`,
			func(world) vars { return vars{"id": unknownID} }, "NOT_FOUND", ""},
		{"updateTenant of an unknown id is NOT_FOUND", mUpdateTenant,
			func(world) vars { return vars{"id": unknownID, "in": vars{"name": "X"}} }, "NOT_FOUND", ""},
		{"deleteTenant of an unknown id is NOT_FOUND", mDeleteTenant,
			func(world) vars { return vars{"id": unknownID} }, "NOT_FOUND", ""},
		{"createUser in an unknown tenant is NOT_FOUND on tenantId", mCreateUser,
			func(w world) vars { return userIn(w, vars{"tenantId": unknownID}) }, "NOT_FOUND", "tenantId"},
		{"setUserRoles in an unknown tenant is NOT_FOUND", mSetUserRoles,
			func(w world) vars { return vars{"u": w.ann.ID, "t": unknownID, "r": []string{"editor"}} }, "NOT_FOUND", ""},

		// Unknown users.
		{"user(id) of an unknown id is NOT_FOUND", `query($id: ID!) { user(id: $id) { id } }`,
			func(world) vars { return vars{"id": unknownID} }, "NOT_FOUND", ""},
		{"updateUser of an unknown id is NOT_FOUND", mUpdateUser,
			func(world) vars { return vars{"id": unknownID, "in": vars{"name": "X"}} }, "NOT_FOUND", ""},
		{"deleteUser of an unknown id is NOT_FOUND", mDeleteUser,
			func(world) vars { return vars{"id": unknownID} }, "NOT_FOUND", ""},
		{"setUserRoles of an unknown user is NOT_FOUND", mSetUserRoles,
			func(w world) vars { return vars{"u": unknownID, "t": w.acme.ID, "r": []string{"editor"}} }, "NOT_FOUND", ""},

		// Unknown roles.
		{"updateRole of an unknown key is NOT_FOUND", mUpdateRole,
			func(world) vars { return vars{"key": "nope", "in": vars{"name": "X"}} }, "NOT_FOUND", ""},
		{"deleteRole of an unknown key is NOT_FOUND", mDeleteRole,
			func(world) vars { return vars{"key": "nope"} }, "NOT_FOUND", ""},
		{"setRolePermissions of an unknown role is NOT_FOUND", mSetRolePerms,
			func(world) vars { return vars{"r": "nope", "p": []string{"docs.read"}} }, "NOT_FOUND", ""},
		{"createUser with an unknown roleKey is NOT_FOUND", mCreateUser,
			func(w world) vars { return userIn(w, vars{"roleKeys": []string{"editor", "nope"}}) }, "NOT_FOUND", ""},
		{"setUserRoles with an unknown roleKey is NOT_FOUND", mSetUserRoles,
			func(w world) vars { return vars{"u": w.ann.ID, "t": w.acme.ID, "r": []string{"editor", "nope"}} }, "NOT_FOUND", ""},
		{"setUserRoles adding a membership with an unknown roleKey is NOT_FOUND", mSetUserRoles,
			func(w world) vars { return vars{"u": w.ann.ID, "t": w.other.ID, "r": []string{"nope"}} }, "NOT_FOUND", ""},
		{"assignRolesToPermission with an unknown role is NOT_FOUND", mAssignRoles,
			func(world) vars { return vars{"p": "docs.read", "r": []string{"admin", "nope"}} }, "NOT_FOUND", ""},
		{"removeRolesFromPermission with an unknown role is NOT_FOUND", mRemoveRoles,
			func(world) vars { return vars{"p": "docs.read", "r": []string{"editor", "nope"}} }, "NOT_FOUND", ""},

		// Unknown permissions.
		{"updatePermission of an unknown key is NOT_FOUND", mUpdatePermission,
			func(world) vars { return vars{"key": "nope", "in": vars{"name": "X"}} }, "NOT_FOUND", ""},
		{"deletePermission of an unknown key is NOT_FOUND", mDeletePermission,
			func(world) vars { return vars{"key": "nope"} }, "NOT_FOUND", ""},
		{"setRolePermissions with an unknown permission is NOT_FOUND", mSetRolePerms,
			func(world) vars { return vars{"r": "editor", "p": []string{"docs.read", "nope"}} }, "NOT_FOUND", ""},
		{"assignRolesToPermission of an unknown permission is NOT_FOUND", mAssignRoles,
			func(world) vars { return vars{"p": "nope", "r": []string{"admin"}} }, "NOT_FOUND", ""},
		{"removeRolesFromPermission of an unknown permission is NOT_FOUND", mRemoveRoles,
			func(world) vars { return vars{"p": "nope", "r": []string{"editor"}} }, "NOT_FOUND", ""},

		// Memberships that do not exist.
		{"removeUserFromTenant of a non-member is NOT_FOUND", mRemoveFromTenant,
			func(w world) vars { return vars{"u": w.ann.ID, "t": w.other.ID} }, "NOT_FOUND", ""},
		{"removeUserFromTenant of an unknown user is NOT_FOUND", mRemoveFromTenant,
			func(w world) vars { return vars{"u": unknownID, "t": w.acme.ID} }, "NOT_FOUND", ""},
		{"removeUserFromTenant of an unknown tenant is NOT_FOUND", mRemoveFromTenant,
			func(w world) vars { return vars{"u": w.ann.ID, "t": unknownID} }, "NOT_FOUND", ""},

		// Malformed emails.
		{"createUser with an email without @ is BAD_USER_INPUT on email", mCreateUser,
			func(w world) vars { return userIn(w, vars{"email": "not-an-email"}) }, "BAD_USER_INPUT", "email"},
		{"createUser with an email without a dot in the domain is BAD_USER_INPUT on email", mCreateUser,
			func(w world) vars { return userIn(w, vars{"email": "new@localhost"}) }, "BAD_USER_INPUT", "email"},
		{"createUser with a display-name email is BAD_USER_INPUT on email", mCreateUser,
			func(w world) vars { return userIn(w, vars{"email": "New <new@example.com>"}) }, "BAD_USER_INPUT", "email"},
		{"createUser with a blank email is BAD_USER_INPUT on email", mCreateUser,
			func(w world) vars { return userIn(w, vars{"email": "  "}) }, "BAD_USER_INPUT", "email"},
		{"updateUser with a malformed email is BAD_USER_INPUT on email", mUpdateUser,
			func(w world) vars { return vars{"id": w.ann.ID, "in": vars{"email": "ann@", "name": "Renamed"}} }, "BAD_USER_INPUT", "email"},

		// Empty and whitespace names.
		{"createTenant with an empty name is BAD_USER_INPUT on name", mCreateTenant,
			func(world) vars { return vars{"in": vars{"name": ""}} }, "BAD_USER_INPUT", "name"},
		{"createTenant with a whitespace name is BAD_USER_INPUT on name", mCreateTenant,
			func(world) vars { return vars{"in": vars{"name": " \t\n "}} }, "BAD_USER_INPUT", "name"},
		{"createTenant with a name over 200 characters is BAD_USER_INPUT on name", mCreateTenant,
			func(world) vars { return vars{"in": vars{"name": strings.Repeat("é", 201)}} }, "BAD_USER_INPUT", "name"},
		{"updateTenant with a whitespace name is BAD_USER_INPUT on name", mUpdateTenant,
			func(w world) vars { return vars{"id": w.acme.ID, "in": vars{"name": "   "}} }, "BAD_USER_INPUT", "name"},
		{"createUser with a whitespace name is BAD_USER_INPUT on name", mCreateUser,
			func(w world) vars { return userIn(w, vars{"name": "   "}) }, "BAD_USER_INPUT", "name"},
		{"updateUser with an empty name is BAD_USER_INPUT on name", mUpdateUser,
			func(w world) vars { return vars{"id": w.ann.ID, "in": vars{"name": ""}} }, "BAD_USER_INPUT", "name"},
		{"createRole with a whitespace name is BAD_USER_INPUT on name", mCreateRole,
			func(world) vars { return vars{"in": vars{"key": "fresh", "name": "  "}} }, "BAD_USER_INPUT", "name"},
		{"updateRole with an empty name is BAD_USER_INPUT on name", mUpdateRole,
			func(world) vars { return vars{"key": "editor", "in": vars{"name": "", "description": "changed"}} }, "BAD_USER_INPUT", "name"},
		{"createPermission with an empty name is BAD_USER_INPUT on name", mCreatePermission,
			func(world) vars { return vars{"in": vars{"key": "fresh", "name": ""}} }, "BAD_USER_INPUT", "name"},
		{"updatePermission with a whitespace name is BAD_USER_INPUT on name", mUpdatePermission,
			func(world) vars { return vars{"key": "docs.read", "in": vars{"name": "\t", "category": "changed"}} }, "BAD_USER_INPUT", "name"},

		// Bad keys.
		{`createRole with key "Bad Key" is BAD_USER_INPUT on key`, mCreateRole,
			func(world) vars { return vars{"in": vars{"key": "Bad Key", "name": "X"}} }, "BAD_USER_INPUT", "key"},
		{`createRole with key "-x" is BAD_USER_INPUT on key`, mCreateRole,
			func(world) vars { return vars{"in": vars{"key": "-x", "name": "X"}} }, "BAD_USER_INPUT", "key"},
		{"createRole with a 101-character key is BAD_USER_INPUT on key", mCreateRole,
			func(world) vars { return vars{"in": vars{"key": long, "name": "X"}} }, "BAD_USER_INPUT", "key"},
		{"createRole with an empty key is BAD_USER_INPUT on key", mCreateRole,
			func(world) vars { return vars{"in": vars{"key": "", "name": "X"}} }, "BAD_USER_INPUT", "key"},
		{`createPermission with key "Bad Key" is BAD_USER_INPUT on key`, mCreatePermission,
			func(world) vars { return vars{"in": vars{"key": "Bad Key", "name": "X"}} }, "BAD_USER_INPUT", "key"},
		{`createPermission with key "-x" is BAD_USER_INPUT on key`, mCreatePermission,
			func(world) vars { return vars{"in": vars{"key": "-x", "name": "X"}} }, "BAD_USER_INPUT", "key"},
		{"createPermission with a 101-character key is BAD_USER_INPUT on key", mCreatePermission,
			func(world) vars { return vars{"in": vars{"key": long, "name": "X"}} }, "BAD_USER_INPUT", "key"},
		{"createUser with a malformed roleKey is BAD_USER_INPUT on roleKeys", mCreateUser,
			func(w world) vars { return userIn(w, vars{"roleKeys": []string{"Bad Key"}}) }, "BAD_USER_INPUT", "roleKeys"},
		{"setUserRoles with a malformed roleKey is BAD_USER_INPUT on roleKeys", mSetUserRoles,
			func(w world) vars { return vars{"u": w.ann.ID, "t": w.acme.ID, "r": []string{"editor", "Bad Key"}} }, "BAD_USER_INPUT", "roleKeys"},
		{"setRolePermissions with a malformed key is BAD_USER_INPUT on permissionKeys", mSetRolePerms,
			func(world) vars { return vars{"r": "editor", "p": []string{"-x"}} }, "BAD_USER_INPUT", "permissionKeys"},
		{"assignRolesToPermission with a malformed role key is BAD_USER_INPUT on roleKeys", mAssignRoles,
			func(world) vars { return vars{"p": "docs.read", "r": []string{"Admin"}} }, "BAD_USER_INPUT", "roleKeys"},

		// Short passwords.
		{"createUser with a 7-character password is BAD_USER_INPUT on password", mCreateUser,
			func(w world) vars { return userIn(w, vars{"password": "1234567"}) }, "BAD_USER_INPUT", "password"},
		{"updateUser with a short password is BAD_USER_INPUT on password", mUpdateUser,
			func(w world) vars { return vars{"id": w.ann.ID, "in": vars{"password": "short", "name": "Renamed"}} }, "BAD_USER_INPUT", "password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := graphtest.Start(t)
			w := newWorld(t, s)
			before := snapshot(t, s)
			e := adminFail(t, s, c.query, c.vars(w), c.code, c.field)
			if e.Message == "" {
				t.Fatalf("want an error message, got none")
			}
			requireUnchanged(t, s, before)
		})
	}
}

func TestCreateUserIsAtomic(t *testing.T) {
	t.Parallel()

	t.Run("an unknown roleKey creates no user and leaves the email free", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		in := vars{"email": "new@example.com", "name": "New", "password": "long enough", "tenantId": tn.ID, "roleKeys": []string{"admin", "nope"}}
		adminFail(t, s, mCreateUser, vars{"in": in}, "NOT_FOUND", "")
		wantEqual(t, "users matching the email", listUsers(t, s, vars{"search": "new@example.com"}).TotalCount, 0)
		wantEqual(t, "members of the tenant", listUsers(t, s, vars{"tenantId": tn.ID}).TotalCount, 0)
		u := createUser(t, s, tn.ID, "new@example.com", "New", []string{"admin"})
		wantStrings(t, "roles of the user created afterwards", keysOf(u.Memberships[0].Roles), []string{"admin"})
	})
}

func TestInputLimitsAcceptTheBoundary(t *testing.T) {
	t.Parallel()

	t.Run("a 100-character key and an 8-character password are accepted", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		key := "a" + strings.Repeat("b.c_d-*", 14) + "e"
		wantEqual(t, "key length", len(key), 100)
		createRole(t, s, key, "Long")
		createPermission(t, s, key, "Long")
		tn := createTenant(t, s, "Acme")
		var out struct{ CreateUser userOut }
		gql(t, s, `mutation($in: CreateUserInput!) { createUser(input: $in) { `+userFields+` } }`,
			vars{"in": vars{"email": "ann@example.com", "name": "Ann", "password": "12345678", "tenantId": tn.ID}}, &out)
		wantEqual(t, "hasPassword", out.CreateUser.HasPassword, true)
	})
}

// ---- authentication ----

func TestAuthentication(t *testing.T) {
	t.Parallel()

	t.Run("no key and a wrong key get UNAUTHENTICATED with the same message", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		const q = `{ tenants { id } }`
		none := fail(t, s, graphtest.Request{Query: q}, "UNAUTHENTICATED", "")
		for name, r := range map[string]graphtest.Request{
			"a well-formed key that is not the admin key": {Query: q, Token: secret.NewToken(secret.AdminKeyPrefix)},
			"the admin key with one character changed":    {Query: q, Token: s.AdminKey[:len(s.AdminKey)-1] + flip(s.AdminKey[len(s.AdminKey)-1])},
			"a token of another kind":                     {Query: q, Token: "sds_not-a-session"},
			"garbage":                                     {Query: q, Token: "garbage"},
			"a key in another scheme":                     {Query: q, Headers: map[string]string{"Authorization": "Basic " + s.AdminKey}},
		} {
			e := fail(t, s, r, "UNAUTHENTICATED", "")
			if e.Message != none.Message {
				t.Fatalf("%s: want the no-key message %q, got %q", name, none.Message, e.Message)
			}
		}
	})

	t.Run("the admin key is accepted whatever the case of Bearer", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		res := do(t, s, graphtest.Request{Query: `{ tenants { id } }`, Headers: map[string]string{"Authorization": "bearer " + s.AdminKey}})
		if len(res.Errors) > 0 {
			t.Fatalf("want no errors, got %+v", res.Errors)
		}
	})
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestEveryOperationNeedsTheAdminKey sends every query and mutation of the
// schema without a key and with a wrong one, aimed at existing data so that
// a missing check would show as a change.
func TestEveryOperationNeedsTheAdminKey(t *testing.T) {
	t.Parallel()
	s := graphtest.Start(t)
	w := newWorld(t, s)
	ops := map[string]struct {
		query string
		vars  vars
	}{
		"tenants":     {`{ tenants { id } }`, nil},
		"tenant":      {`query($id: ID!) { tenant(id: $id) { id } }`, vars{"id": w.acme.ID}},
		"users":       {`{ users { totalCount } }`, nil},
		"user":        {`query($id: ID!) { user(id: $id) { id } }`, vars{"id": w.ann.ID}},
		"roles":       {`{ roles { key } }`, nil},
		"permissions": {`{ permissions { key } }`, nil},
		"adminPortal": {`{ adminPortal { users } }`, nil},

		"createTenant":              {mCreateTenant, vars{"in": vars{"name": "Intruder"}}},
		"updateTenant":              {mUpdateTenant, vars{"id": w.acme.ID, "in": vars{"name": "Hacked"}}},
		"deleteTenant":              {mDeleteTenant, vars{"id": w.acme.ID}},
		"createUser":                {mCreateUser, vars{"in": vars{"email": "eve@example.com", "name": "Eve", "tenantId": w.acme.ID, "roleKeys": []string{"admin"}}}},
		"updateUser":                {mUpdateUser, vars{"id": w.ann.ID, "in": vars{"email": "eve@example.com"}}},
		"deleteUser":                {mDeleteUser, vars{"id": w.ann.ID}},
		"setUserRoles":              {mSetUserRoles, vars{"u": w.ann.ID, "t": w.acme.ID, "r": []string{"admin"}}},
		"removeUserFromTenant":      {mRemoveFromTenant, vars{"u": w.ann.ID, "t": w.acme.ID}},
		"createRole":                {mCreateRole, vars{"in": vars{"key": "intruder", "name": "Intruder"}}},
		"updateRole":                {mUpdateRole, vars{"key": "editor", "in": vars{"isDefault": true}}},
		"deleteRole":                {mDeleteRole, vars{"key": "editor"}},
		"setRolePermissions":        {mSetRolePerms, vars{"r": "read-only", "p": []string{builtInPermission}}},
		"createPermission":          {mCreatePermission, vars{"in": vars{"key": "intruder", "name": "Intruder"}}},
		"updatePermission":          {mUpdatePermission, vars{"key": builtInPermission, "in": vars{"name": "Hacked"}}},
		"deletePermission":          {mDeletePermission, vars{"key": "docs.read"}},
		"assignRolesToPermission":   {mAssignRoles, vars{"p": builtInPermission, "r": []string{"read-only"}}},
		"removeRolesFromPermission": {mRemoveRoles, vars{"p": "docs.read", "r": []string{"editor"}}},
		"updateAdminPortal":         {`mutation { updateAdminPortal(input: {users: true}) { users } }`, nil},
		"rotateAdminKey":            {`mutation { rotateAdminKey { key } }`, nil},
	}

	// Completeness over the whole schema is guarded by the authorization
	// matrix (authz_test.go), which also covers the session operations.

	tokens := map[string]string{"no key": "", "wrong key": secret.NewToken(secret.AdminKeyPrefix)}
	for name, op := range ops {
		for how, token := range tokens {
			t.Run(name+" with "+how+" is UNAUTHENTICATED and changes nothing", func(t *testing.T) {
				before := snapshot(t, s)
				res := do(t, s, graphtest.Request{Query: op.query, Variables: op.vars, Token: token})
				if len(res.Errors) == 0 || res.Errors[0].Code() != "UNAUTHENTICATED" {
					t.Fatalf("want UNAUTHENTICATED, got errors %+v data %s", res.Errors, res.Data)
				}
				if !strings.Contains(string(res.Data), `"`+name+`":null`) && string(res.Data) != "null" {
					t.Fatalf("want no data for %s, got %s", name, res.Data)
				}
				requireUnchanged(t, s, before)
			})
		}
	}
}

// ---- transport errors and limits ----

// post sends a raw body to /graphql with the admin key and returns the
// status and body; the body must be a GraphQL response whose every error
// carries extensions.code.
func post(t *testing.T, s *graphtest.Server, body io.Reader) (int, []byte, []graphtest.Error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.AdminKey)
	res, err := s.HTTP.Client().Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 {
		t.Fatalf("want a status below 500, got %d: %s", res.StatusCode, raw)
	}
	var out struct{ Errors []graphtest.Error }
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("want a GraphQL JSON response, got status %d: %s", res.StatusCode, raw)
	}
	for _, e := range out.Errors {
		if e.Code() == "" {
			t.Fatalf("want every error to carry extensions.code, got %s", raw)
		}
	}
	return res.StatusCode, raw, out.Errors
}

func TestMalformedRequests(t *testing.T) {
	t.Parallel()

	t.Run("malformed JSON is HTTP 400 with a GraphQL error that does not echo the body", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		const secretText = "hunter2-Tr0ub4dor"
		for _, body := range []string{
			`{"query": "mutation { updateUser(id: \"x\", input: {password: \"` + secretText + `\"}) { id } }"`,
			`{"query": "{ tenants { id } }", "password": ` + secretText + `}`,
			`{"query": "{ tenants { id } }", "variables": "` + secretText + `"}`,
			`["` + secretText + `"]`,
			secretText,
		} {
			status, raw, errs := post(t, s, strings.NewReader(body))
			if status != http.StatusBadRequest {
				t.Fatalf("body %q: want status 400, got %d: %s", body, status, raw)
			}
			if len(errs) == 0 {
				t.Fatalf("body %q: want a GraphQL error, got %s", body, raw)
			}
			if bytes.Contains(raw, []byte("hunter2")) {
				t.Fatalf("body %q: want the response not to echo the body, got %s", body, raw)
			}
		}
	})

	t.Run("unparsable or invalid GraphQL is HTTP 400", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		for _, q := range []string{`{ tenants { id }`, `query {`, `{ noSuchField }`, `mutation { createTenant { id } }`} {
			body, _ := json.Marshal(vars{"query": q})
			status, raw, errs := post(t, s, bytes.NewReader(body))
			if status != http.StatusBadRequest || len(errs) == 0 {
				t.Fatalf("query %q: want status 400 with an error, got %d: %s", q, status, raw)
			}
		}
	})

	t.Run("a body over 1 MiB is HTTP 413 and does not run", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		body := paddedBody(t, `mutation { createTenant(input: {name: "Big"}) { id } }`, 1<<20+1)
		status, raw, errs := post(t, s, bytes.NewReader(body))
		if status != http.StatusRequestEntityTooLarge || len(errs) == 0 {
			t.Fatalf("with Content-Length: want status 413 with an error, got %d: %.300s", status, raw)
		}
		// Without a Content-Length (chunked), the size is found by reading.
		status, raw, errs = post(t, s, io.MultiReader(bytes.NewReader(body)))
		if status != http.StatusRequestEntityTooLarge || len(errs) == 0 {
			t.Fatalf("chunked: want status 413 with an error, got %d: %.300s", status, raw)
		}
		var out struct{ Tenants []tenantOut }
		gql(t, s, `{ tenants { id } }`, nil, &out)
		wantEqual(t, "tenants created", len(out.Tenants), 0)
	})

	t.Run("a body of exactly 1 MiB runs", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		body := paddedBody(t, `mutation { createTenant(input: {name: "Big"}) { id } }`, 1<<20)
		status, raw, errs := post(t, s, bytes.NewReader(body))
		if status != http.StatusOK || len(errs) > 0 {
			t.Fatalf("want status 200 without errors, got %d: %.300s", status, raw)
		}
	})
}

// paddedBody returns a JSON request for query, padded with spaces inside
// the query to exactly size bytes.
func paddedBody(t *testing.T, query string, size int) []byte {
	t.Helper()
	body, _ := json.Marshal(vars{"query": query})
	pad := size - len(body)
	if pad < 0 {
		t.Fatalf("query longer than %d bytes", size)
	}
	body, _ = json.Marshal(vars{"query": query + strings.Repeat(" ", pad)})
	wantEqual(t, "body size", len(body), size)
	return body
}

// nested returns a selection on User that is depth levels deep, alternating
// memberships and user.
func nested(depth int, onUser bool) string {
	switch {
	case depth == 1 && onUser:
		return "id"
	case depth == 1:
		return "createdAt"
	case onUser:
		return "memberships { " + nested(depth-1, false) + " }"
	default:
		return "user { " + nested(depth-1, true) + " }"
	}
}

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	createUserNested := func(email string, depth int) string {
		return `mutation($t: ID!) { createUser(input: {email: "` + email + `", name: "N", tenantId: $t}) { ` + nested(depth-1, true) + ` } }`
	}

	t.Run("an operation nested 12 levels deep runs", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		var out json.RawMessage
		gql(t, s, createUserNested("deep@example.com", 12), vars{"t": tn.ID}, &out)
		wantEqual(t, "users created", listUsers(t, s, nil).TotalCount, 1)
	})

	t.Run("an operation nested 13 levels deep is refused before it runs", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		res := s.Do(graphtest.Request{Query: createUserNested("deep@example.com", 13), Variables: vars{"t": tn.ID}, Token: s.AdminKey})
		if res.Status != 400 || len(res.Errors) == 0 || res.Errors[0].Code() != "BAD_USER_INPUT" || !strings.Contains(res.Errors[0].Message, "12") {
			t.Fatalf("want HTTP 400 with BAD_USER_INPUT naming the limit 12, got %d %+v", res.Status, res.Errors)
		}
		wantEqual(t, "users created", listUsers(t, s, nil).TotalCount, 0)
	})

	t.Run("fragments count toward the depth", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		q := `mutation($t: ID!) { createUser(input: {email: "deep@example.com", name: "N", tenantId: $t}) { ...Deep } }
			fragment Deep on User { ` + nested(12, true) + ` }`
		adminFail(t, s, q, vars{"t": tn.ID}, "BAD_USER_INPUT", "")
		wantEqual(t, "users created", listUsers(t, s, nil).TotalCount, 0)
	})
}

// introspectionQuery is the query GraphiQL and the playground send.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

func TestIntrospection(t *testing.T) {
	t.Parallel()
	type schemaOut struct {
		Schema struct {
			QueryType struct{ Name string }
			Types     []struct {
				Name   string
				Fields []struct{ Name string }
			}
		} `json:"__schema"`
	}
	typeNames := func(out schemaOut) string {
		var names []string
		for _, ty := range out.Schema.Types {
			names = append(names, ty.Name)
		}
		return strings.Join(names, " ")
	}

	t.Run("the playground's introspection query works without a key", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		res := do(t, s, graphtest.Request{Query: introspectionQuery})
		if len(res.Errors) > 0 {
			t.Fatalf("want no errors, got %+v", res.Errors)
		}
		var out schemaOut
		if err := json.Unmarshal(res.Data, &out); err != nil {
			t.Fatalf("decode: %v", err)
		}
		wantEqual(t, "queryType", out.Schema.QueryType.Name, "Query")
		for _, want := range []string{"Tenant", "User", "Membership", "Role", "Permission", "AdminPortal", "UserConnection"} {
			if !strings.Contains(" "+typeNames(out)+" ", " "+want+" ") {
				t.Fatalf("want type %s in the schema, got %s", want, typeNames(out))
			}
		}
	})

	t.Run("a nested schema query works with the admin key", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		var out schemaOut
		gql(t, s, `{ __schema { types { name fields { name type { name ofType { name ofType { name ofType { name } } } } } } } }`, nil, &out)
		if !strings.Contains(typeNames(out), "Membership") {
			t.Fatalf("want type Membership in the schema, got %s", typeNames(out))
		}
	})
}
