package graph_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/graph/graphtest"
)

func TestInputStrings(t *testing.T) {
	s, _ := startFake(t)
	w := s.NewWorkspace("inputs")
	nul := "bad\x00value"

	// Every string input of the schema, each given a NUL byte through a
	// variable: refused with BAD_USER_INPUT naming the field, never INTERNAL.
	cases := []struct {
		name, query, field string
		vars               map[string]any
	}{
		{"createTenant name", `mutation($v: String!) { createTenant(input: {name: $v}) { id } }`, "name", nil},
		{"updateTenant name", `mutation($id: ID!, $v: String) { updateTenant(id: $id, input: {name: $v}) { id } }`, "name", map[string]any{"id": w.TenantID}},
		{"createUser email", `mutation($t: ID!, $v: String!) { createUser(input: {email: $v, name: "N", tenantId: $t}) { id } }`, "email", map[string]any{"t": w.TenantID}},
		{"createUser name", `mutation($t: ID!, $v: String!) { createUser(input: {email: "n@example.com", name: $v, tenantId: $t}) { id } }`, "name", map[string]any{"t": w.TenantID}},
		{"createUser password", `mutation($t: ID!, $v: String) { createUser(input: {email: "p@example.com", name: "N", password: $v, tenantId: $t}) { id } }`, "password", map[string]any{"t": w.TenantID}},
		{"createUser roleKeys", `mutation($t: ID!, $v: String!) { createUser(input: {email: "r@example.com", name: "N", tenantId: $t, roleKeys: [$v]}) { id } }`, "roleKeys", map[string]any{"t": w.TenantID}},
		{"updateUser name", `mutation($id: ID!, $v: String) { updateUser(id: $id, input: {name: $v}) { id } }`, "name", map[string]any{"id": w.MemberID}},
		{"createRole description", `mutation($v: String) { createRole(input: {key: "k", name: "N", description: $v}) { key } }`, "description", nil},
		{"updateRole key", `mutation($v: String!) { updateRole(key: $v, input: {name: "N"}) { key } }`, "key", nil},
		{"createPermission category", `mutation($v: String) { createPermission(input: {key: "k.p", name: "N", category: $v}) { key } }`, "category", nil},
		{"setRolePermissions permissionKeys", `mutation($v: String!) { setRolePermissions(roleKey: "admin", permissionKeys: [$v]) { key } }`, "permissionKeys", nil},
		{"createSession userAgent", `mutation($u: ID!, $t: ID!, $v: String) { createSession(input: {userId: $u, tenantId: $t, userAgent: $v}) { token } }`, "userAgent", map[string]any{"u": w.MemberID, "t": w.TenantID}},
		{"createSession ipAddress", `mutation($u: ID!, $t: ID!, $v: String) { createSession(input: {userId: $u, tenantId: $t, ipAddress: $v}) { token } }`, "ipAddress", map[string]any{"u": w.MemberID, "t": w.TenantID}},
		{"users search", `query($v: String) { users(search: $v) { totalCount } }`, "search", nil},
		{"auditLog after", `query($v: String) { auditLog(after: $v) { edges { cursor } } }`, "after", nil},
		{"tenant id", `query($v: ID!) { tenant(id: $v) { id } }`, "id", nil},
	}
	for _, c := range cases {
		t.Run(c.name+" with a NUL byte is BAD_USER_INPUT", func(t *testing.T) {
			vars := map[string]any{"v": nul}
			for k, v := range c.vars {
				vars[k] = v
			}
			res := s.Do(graphtest.Request{Query: c.query, Variables: vars, Token: s.AdminKey})
			if len(res.Errors) == 0 || res.Errors[0].Code() != "BAD_USER_INPUT" || res.Errors[0].Field() != c.field || res.Status != http.StatusBadRequest {
				t.Fatalf("status %d errors %+v, want 400 BAD_USER_INPUT with field %q", res.Status, res.Errors, c.field)
			}
		})
	}

	t.Run("a NUL byte in a literal argument is BAD_USER_INPUT", func(t *testing.T) {
		e := s.MustFail(graphtest.Request{Query: `mutation { createTenant(input: {name: "a\u0000b"}) { id } }`, Token: s.AdminKey}, "BAD_USER_INPUT")
		if e.Field() != "name" {
			t.Fatalf("field %q, want name", e.Field())
		}
	})

	t.Run("invalid UTF-8 in a GET query literal is BAD_USER_INPUT", func(t *testing.T) {
		q := url.Values{"query": {"{ users(search: \"\xff\xfe\") { totalCount } }"}}
		req, _ := http.NewRequest(http.MethodGet, s.URL+"?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+s.AdminKey)
		res, err := s.HTTP.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var out graphtest.Response
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		if len(out.Errors) == 0 || out.Errors[0].Code() != "BAD_USER_INPUT" || out.Errors[0].Field() != "search" {
			t.Fatalf("status %d answer %s, want BAD_USER_INPUT with field search", res.StatusCode, raw)
		}
	})

	t.Run("over-long strings are refused with the field", func(t *testing.T) {
		for _, c := range []struct {
			query, field string
			v            string
		}{
			{`mutation($v: String!) { createTenant(input: {name: $v}) { id } }`, "name", strings.Repeat("n", 201)},
			{`mutation($v: String) { createRole(input: {key: "long.desc", name: "N", description: $v}) { key } }`, "description", strings.Repeat("d", 2001)},
			{`mutation($t: ID!, $v: String!) { createUser(input: {email: $v, name: "N", tenantId: $t}) { id } }`, "email", strings.Repeat("e", 250) + "@example.com"},
			{`query($v: ID!) { tenant(id: $v) { id } }`, "id", strings.Repeat("i", 129)},
			{`query($v: String) { users(search: $v) { totalCount } }`, "search", strings.Repeat("s", 8<<10+1)},
			{`mutation($t: ID!, $v: String) { createSession(input: {userId: "x", tenantId: $t, userAgent: $v}) { token } }`, "userAgent", strings.Repeat("u", 1<<20-1000)},
		} {
			e := s.MustFail(graphtest.Request{Query: c.query, Variables: map[string]any{"v": c.v, "t": w.TenantID}, Token: s.AdminKey}, "BAD_USER_INPUT")
			if e.Field() != c.field {
				t.Fatalf("%s: field %q, want %q", c.query, e.Field(), c.field)
			}
		}
	})

	t.Run("createSession stores at most 512 bytes of user agent and 64 of address", func(t *testing.T) {
		var out struct {
			CreateSession struct {
				Session struct{ UserAgent, IPAddress string }
			}
		}
		ua := "Mozilla/5.0 " + strings.Repeat("é", 2000)
		s.Admin(`mutation($u: ID!, $t: ID!, $ua: String, $ip: String) { createSession(input: {userId: $u, tenantId: $t, userAgent: $ua, ipAddress: $ip}) { session { userAgent ipAddress } } }`,
			map[string]any{"u": w.MemberID, "t": w.TenantID, "ua": ua, "ip": strings.Repeat("1", 500)}, &out)
		got := out.CreateSession.Session
		if len(got.UserAgent) > 512 || !strings.HasPrefix(ua, got.UserAgent) || len(got.UserAgent) < 500 {
			t.Fatalf("stored user agent of %d bytes, want its first ≤512 bytes on a character boundary", len(got.UserAgent))
		}
		if len(got.IPAddress) != 64 {
			t.Fatalf("stored address of %d bytes, want 64", len(got.IPAddress))
		}
		for _, v := range sessionsOf(t, s, w.MemberID) {
			if len(v.UserAgent) > 512 {
				t.Fatalf("session %s holds a user agent of %d bytes", v.ID, len(v.UserAgent))
			}
		}
	})
}

func TestMalformedLoginCountsAgainstTheBudget(t *testing.T) {
	s, _ := startFake(t)
	w := s.NewWorkspace("nul-login")
	// (JSON cannot carry invalid UTF-8: decoding turns it into U+FFFD.)
	for i, v := range []map[string]any{
		// A malformed email counts for the client (its own email key
		// matches no account).
		loginVars(w.MemberEmail+"\x00", "not the password", ""),
		loginVars(w.MemberEmail, "x\x00y", ""),
		loginVars(w.MemberEmail, "not the password", "t\x00"),
		loginVars(w.MemberEmail, "\x00", ""),
	} {
		e := s.MustFail(graphtest.Request{Query: loginMutation, Variables: v}, "BAD_USER_INPUT")
		if want := []string{"email", "password", "tenantId", "password"}[i]; e.Field() != want {
			t.Fatalf("malformed login %d: field %q, want %q", i, e.Field(), want)
		}
	}
	// The three malformed attempts spent the client's free attempts for
	// the email: the fourth waits, even with the right password.
	e := s.MustFail(graphtest.Request{Query: loginMutation, Variables: loginVars(w.MemberEmail, w.Password, "")}, "RATE_LIMITED")
	if retryAfter(t, e) <= 0 {
		t.Fatalf("retryAfter %v, want > 0", e.Extensions["retryAfter"])
	}
}
