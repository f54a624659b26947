package graph_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/secret"
)

const builtInPermission = "fe.secure.delete.sessions"

func TestBuiltIns(t *testing.T) {
	t.Parallel()

	t.Run("fe.secure.delete.sessions ships as Revoke User Sessions in Security", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		p, ok := getPermission(t, s, builtInPermission)
		if !ok {
			t.Fatalf("want permission %s to exist, got none", builtInPermission)
		}
		wantEqual(t, "name", p.Name, "Revoke User Sessions")
		wantEqual(t, "category", p.Category, "Security")
		wantEqual(t, "builtIn", p.BuiltIn, true)
		wantStrings(t, "roles holding it", keysOf(p.Roles), nil)
	})

	t.Run("deleting the built-in permission is BAD_USER_INPUT and it stays", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		gql(t, s, `mutation { assignRolesToPermission(permissionKey: "`+builtInPermission+`", roleKeys: ["admin"]) { key } }`, nil, nil)
		before := snapshot(t, s)
		adminFail(t, s, `mutation { deletePermission(key: "`+builtInPermission+`") }`, nil, "BAD_USER_INPUT", "key")
		requireUnchanged(t, s, before)
		p, ok := getPermission(t, s, builtInPermission)
		if !ok || !p.BuiltIn {
			t.Fatalf("want the built-in permission still there, got %+v (found %v)", p, ok)
		}
		wantStrings(t, "roles still holding it", keysOf(p.Roles), []string{"admin"})
	})

	t.Run("roles admin and read-only ship without permissions, read-only as the default", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		for _, want := range []struct {
			key, name string
			isDefault bool
		}{{"admin", "Admin", false}, {"read-only", "Read Only", true}} {
			r, ok := getRole(t, s, want.key)
			if !ok {
				t.Fatalf("want role %s to exist, got none", want.key)
			}
			wantEqual(t, want.key+" name", r.Name, want.name)
			wantEqual(t, want.key+" isDefault", r.IsDefault, want.isDefault)
			wantStrings(t, want.key+" permissions", keysOf(r.Permissions), nil)
		}
	})

	t.Run("a built-in permission can be renamed but keeps its key and builtIn", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		var out struct{ UpdatePermission permissionOut }
		gql(t, s, `mutation { updatePermission(key: "`+builtInPermission+`", input: {name: "End sessions"}) { `+permissionFields+` } }`, nil, &out)
		wantEqual(t, "name", out.UpdatePermission.Name, "End sessions")
		wantEqual(t, "key", out.UpdatePermission.Key, builtInPermission)
		wantEqual(t, "builtIn", out.UpdatePermission.BuiltIn, true)
	})
}

func TestRoles(t *testing.T) {
	t.Parallel()

	t.Run("createRole returns the role and roles lists it", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		var out struct{ CreateRole roleOut }
		gql(t, s, `mutation { createRole(input: {key: "support.agent", name: " Support ", description: "Answers tickets"}) { `+roleFields+` } }`, nil, &out)
		r := out.CreateRole
		wantEqual(t, "key", r.Key, "support.agent")
		wantEqual(t, "name (trimmed)", r.Name, "Support")
		wantEqual(t, "description", r.Description, "Answers tickets")
		wantEqual(t, "isDefault when left out", r.IsDefault, false)
		wantStrings(t, "permissions", keysOf(r.Permissions), nil)
		wantUTCTime(t, "createdAt", r.CreatedAt)
		listed, ok := getRole(t, s, "support.agent")
		if !ok {
			t.Fatalf("want roles to list support.agent, got none")
		}
		wantEqual(t, "listed role", fmt.Sprint(listed), fmt.Sprint(r))
	})

	t.Run("updateRole changes only the fields given", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		createRole(t, s, "editor", "Editor")
		q := `mutation($in: UpdateRoleInput!) { updateRole(key: "editor", input: $in) { ` + roleFields + ` } }`
		var out struct{ UpdateRole roleOut }
		gql(t, s, q, map[string]any{"in": map[string]any{"description": "Edits", "isDefault": true}}, &out)
		wantEqual(t, "description", out.UpdateRole.Description, "Edits")
		wantEqual(t, "isDefault", out.UpdateRole.IsDefault, true)
		wantEqual(t, "name unchanged", out.UpdateRole.Name, "Editor")
		gql(t, s, q, map[string]any{"in": map[string]any{"name": "Writer"}}, &out)
		r, _ := getRole(t, s, "editor")
		wantEqual(t, "read back", r.Name+"|"+r.Description, "Writer|Edits")
		wantEqual(t, "isDefault unchanged", r.IsDefault, true)
	})

	t.Run("deleteRole removes the role and members lose it", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		createPermission(t, s, "docs.write", "Write docs")
		createRole(t, s, "editor", "Editor")
		setRolePermissions(t, s, "editor", "docs.write")
		u := createUser(t, s, tn.ID, "ann@example.com", "Ann", []string{"editor", "read-only"})

		var out struct{ DeleteRole bool }
		gql(t, s, `mutation { deleteRole(key: "editor") }`, nil, &out)
		wantEqual(t, "deleteRole result", out.DeleteRole, true)
		if _, ok := getRole(t, s, "editor"); ok {
			t.Fatalf("want role editor gone from roles, still listed")
		}
		m := getUser(t, s, u.ID).Memberships[0]
		wantStrings(t, "member's roles", keysOf(m.Roles), []string{"read-only"})
		wantStrings(t, "member's permissions", m.Permissions, nil)
		p, _ := getPermission(t, s, "docs.write")
		wantStrings(t, "roles holding docs.write", keysOf(p.Roles), nil)
	})

	t.Run("setRolePermissions replaces the permissions the role holds", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		for _, k := range []string{"a.read", "b.read", "c.read"} {
			createPermission(t, s, k, k)
		}
		createRole(t, s, "editor", "Editor")
		wantStrings(t, "after setting a, b", keysOf(setRolePermissions(t, s, "editor", "b.read", "a.read").Permissions), []string{"a.read", "b.read"})
		wantStrings(t, "after setting b, c", keysOf(setRolePermissions(t, s, "editor", "c.read", "b.read", "c.read").Permissions), []string{"b.read", "c.read"})
		a, _ := getPermission(t, s, "a.read")
		c, _ := getPermission(t, s, "c.read")
		wantStrings(t, "roles of a.read", keysOf(a.Roles), nil)
		wantStrings(t, "roles of c.read", keysOf(c.Roles), []string{"editor"})
		wantStrings(t, "after setting none", keysOf(setRolePermissions(t, s, "editor").Permissions), nil)
		r, _ := getRole(t, s, "editor")
		wantStrings(t, "read back", keysOf(r.Permissions), nil)
	})
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	const assign = `mutation($p: String!, $r: [String!]!) { assignRolesToPermission(permissionKey: $p, roleKeys: $r) { ` + permissionFields + ` } }`
	const remove = `mutation($p: String!, $r: [String!]!) { removeRolesFromPermission(permissionKey: $p, roleKeys: $r) { ` + permissionFields + ` } }`

	t.Run("createPermission returns the permission, not built in, and permissions lists it", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		var out struct{ CreatePermission permissionOut }
		gql(t, s, `mutation { createPermission(input: {key: "billing.read", name: "Read billing", description: "See invoices", category: "Billing"}) { `+permissionFields+` } }`, nil, &out)
		p := out.CreatePermission
		wantEqual(t, "key", p.Key, "billing.read")
		wantEqual(t, "name", p.Name, "Read billing")
		wantEqual(t, "description", p.Description, "See invoices")
		wantEqual(t, "category", p.Category, "Billing")
		wantEqual(t, "builtIn", p.BuiltIn, false)
		wantUTCTime(t, "createdAt", p.CreatedAt)
		listed, ok := getPermission(t, s, "billing.read")
		if !ok {
			t.Fatalf("want permissions to list billing.read, got none")
		}
		wantEqual(t, "listed permission", fmt.Sprint(listed), fmt.Sprint(p))
		// The built-in one is listed too.
		if _, ok := getPermission(t, s, builtInPermission); !ok {
			t.Fatalf("want permissions to list %s as well", builtInPermission)
		}
	})

	t.Run("updatePermission changes only the fields given", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		createPermission(t, s, "billing.read", "Read billing")
		q := `mutation($in: UpdatePermissionInput!) { updatePermission(key: "billing.read", input: $in) { ` + permissionFields + ` } }`
		var out struct{ UpdatePermission permissionOut }
		gql(t, s, q, map[string]any{"in": map[string]any{"category": "Billing", "description": "See invoices"}}, &out)
		wantEqual(t, "category", out.UpdatePermission.Category, "Billing")
		wantEqual(t, "name unchanged", out.UpdatePermission.Name, "Read billing")
		gql(t, s, q, map[string]any{"in": map[string]any{"name": "View billing"}}, &out)
		p, _ := getPermission(t, s, "billing.read")
		wantEqual(t, "read back", p.Name+"|"+p.Description+"|"+p.Category, "View billing|See invoices|Billing")
	})

	t.Run("deletePermission removes it and roles holding it lose it", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		createPermission(t, s, "billing.read", "Read billing")
		createPermission(t, s, "billing.write", "Write billing")
		createRole(t, s, "accountant", "Accountant")
		setRolePermissions(t, s, "accountant", "billing.read", "billing.write")
		u := createUser(t, s, tn.ID, "ann@example.com", "Ann", []string{"accountant"})

		var out struct{ DeletePermission bool }
		gql(t, s, `mutation { deletePermission(key: "billing.write") }`, nil, &out)
		wantEqual(t, "deletePermission result", out.DeletePermission, true)
		if _, ok := getPermission(t, s, "billing.write"); ok {
			t.Fatalf("want billing.write gone from permissions, still listed")
		}
		r, _ := getRole(t, s, "accountant")
		wantStrings(t, "role's permissions", keysOf(r.Permissions), []string{"billing.read"})
		wantStrings(t, "member's permissions", getUser(t, s, u.ID).Memberships[0].Permissions, []string{"billing.read"})
	})

	t.Run("assignRolesToPermission grants it and leaves current holders as they are", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		createRole(t, s, "support", "Support")
		u := createUser(t, s, tn.ID, "ann@example.com", "Ann", []string{"support"})

		var out struct{ AssignRolesToPermission permissionOut }
		gql(t, s, assign, map[string]any{"p": builtInPermission, "r": []string{"admin"}}, &out)
		wantStrings(t, "roles after assigning admin", keysOf(out.AssignRolesToPermission.Roles), []string{"admin"})
		gql(t, s, assign, map[string]any{"p": builtInPermission, "r": []string{"support", "admin", "support"}}, &out)
		wantStrings(t, "roles after assigning support and admin again", keysOf(out.AssignRolesToPermission.Roles), []string{"admin", "support"})

		p, _ := getPermission(t, s, builtInPermission)
		wantStrings(t, "Permission.roles read back", keysOf(p.Roles), []string{"admin", "support"})
		for _, key := range []string{"admin", "support"} {
			r, _ := getRole(t, s, key)
			wantStrings(t, "Role.permissions of "+key, keysOf(r.Permissions), []string{builtInPermission})
		}
		wantStrings(t, "Membership.permissions", getUser(t, s, u.ID).Memberships[0].Permissions, []string{builtInPermission})
	})

	t.Run("removeRolesFromPermission takes it from those roles only", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		createRole(t, s, "support", "Support")
		createPermission(t, s, "tickets.read", "Read tickets")
		setRolePermissions(t, s, "support", "tickets.read")
		gql(t, s, assign, map[string]any{"p": builtInPermission, "r": []string{"admin", "support"}}, nil)
		u := createUser(t, s, tn.ID, "ann@example.com", "Ann", []string{"support"})

		var out struct{ RemoveRolesFromPermission permissionOut }
		gql(t, s, remove, map[string]any{"p": builtInPermission, "r": []string{"support"}}, &out)
		wantStrings(t, "roles left holding it", keysOf(out.RemoveRolesFromPermission.Roles), []string{"admin"})
		// Removing from a role that does not hold it changes nothing.
		gql(t, s, remove, map[string]any{"p": builtInPermission, "r": []string{"support"}}, &out)
		wantStrings(t, "roles after removing again", keysOf(out.RemoveRolesFromPermission.Roles), []string{"admin"})

		r, _ := getRole(t, s, "support")
		wantStrings(t, "support's permissions", keysOf(r.Permissions), []string{"tickets.read"})
		admin, _ := getRole(t, s, "admin")
		wantStrings(t, "admin's permissions", keysOf(admin.Permissions), []string{builtInPermission})
		wantStrings(t, "Membership.permissions", getUser(t, s, u.ID).Memberships[0].Permissions, []string{"tickets.read"})
	})
}

func TestMembershipPermissions(t *testing.T) {
	t.Parallel()

	t.Run("a role holding fe.secure.* lists the wildcard as granted", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		createPermission(t, s, "fe.secure.*", "All security")
		createRole(t, s, "security-admin", "Security admin")
		setRolePermissions(t, s, "security-admin", "fe.secure.*")
		u := createUser(t, s, tn.ID, "ann@example.com", "Ann", []string{"security-admin"})
		wantStrings(t, "Membership.permissions", getUser(t, s, u.ID).Memberships[0].Permissions, []string{"fe.secure.*"})
	})

	t.Run("permissions from several roles are listed once each, sorted", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		tn := createTenant(t, s, "Acme")
		for _, k := range []string{"fe.secure.*", "a.read", "z.write"} {
			createPermission(t, s, k, k)
		}
		createRole(t, s, "one", "One")
		createRole(t, s, "two", "Two")
		setRolePermissions(t, s, "one", "z.write", "fe.secure.*")
		setRolePermissions(t, s, "two", "fe.secure.*", builtInPermission, "a.read")
		u := createUser(t, s, tn.ID, "ann@example.com", "Ann", []string{"one", "two"})
		wantStrings(t, "Membership.permissions", getUser(t, s, u.ID).Memberships[0].Permissions,
			[]string{"a.read", "fe.secure.*", builtInPermission, "z.write"})
	})
}

func TestAdminPortal(t *testing.T) {
	t.Parallel()
	const update = `mutation($in: UpdateAdminPortalInput!) { updateAdminPortal(input: $in) { ` + portalFields + ` } }`

	t.Run("every switch is off by default and updatedAt is null", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		var out struct{ AdminPortal portalOut }
		gql(t, s, `{ adminPortal { `+portalFields+` } }`, nil, &out)
		wantEqual(t, "switches", fmt.Sprint(out.AdminPortal.PrivacyAndSecurity, out.AdminPortal.Users, out.AdminPortal.Security), "false false false")
		if out.AdminPortal.UpdatedAt != nil {
			t.Fatalf("updatedAt: want null, got %q", *out.AdminPortal.UpdatedAt)
		}
	})

	t.Run("updateAdminPortal changes only the switches given", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		var out struct{ UpdateAdminPortal portalOut }
		gql(t, s, update, map[string]any{"in": map[string]any{"users": true, "security": true}}, &out)
		p := out.UpdateAdminPortal
		wantEqual(t, "switches after users+security on", fmt.Sprint(p.PrivacyAndSecurity, p.Users, p.Security), "false true true")
		if p.UpdatedAt == nil {
			t.Fatalf("updatedAt: want a time after an update, got null")
		}
		wantUTCTime(t, "updatedAt", *p.UpdatedAt)

		gql(t, s, update, map[string]any{"in": map[string]any{"privacyAndSecurity": true, "users": false}}, &out)
		var read struct{ AdminPortal portalOut }
		gql(t, s, `{ adminPortal { `+portalFields+` } }`, nil, &read)
		p = read.AdminPortal
		wantEqual(t, "switches read back", fmt.Sprint(p.PrivacyAndSecurity, p.Users, p.Security), "true false true")
		wantEqual(t, "updatedAt read back", *p.UpdatedAt, *out.UpdateAdminPortal.UpdatedAt)
	})
}

func TestRotateAdminKeyWithConfiguredKey(t *testing.T) {
	t.Parallel()

	t.Run("rotateAdminKey is BAD_USER_INPUT and the configured key keeps working", func(t *testing.T) {
		t.Parallel()
		s := graphtest.Start(t)
		e := adminFail(t, s, `mutation { rotateAdminKey { key createdAt } }`, nil, "BAD_USER_INPUT", "")
		if strings.Contains(e.Message, secret.AdminKeyPrefix) {
			t.Fatalf("want no key in the error, got %q", e.Message)
		}
		gql(t, s, `{ tenants { id } }`, nil, nil)
	})
}
