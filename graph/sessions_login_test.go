package graph_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph/graphtest"
)

func TestLogin(t *testing.T) {
	// Each subtest has its own server: failed logins from the test client's
	// address count against that address.
	t.Run("password login opens a session of the user in its tenant", func(t *testing.T) {
		s, _ := startFake(t)
		w := s.NewWorkspace("login")
		var out struct {
			Login struct {
				Token   string
				Session sessionView
			}
		}
		s.MustDo(graphtest.Request{Query: `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token session { ` + sessionFields + ` } } }`,
			Variables: map[string]any{"e": w.MemberEmail, "p": w.Password}}, &out)
		g := out.Login
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(g.Token, "sds_"))
		if !strings.HasPrefix(g.Token, "sds_") || err != nil || len(raw) != 32 {
			t.Fatalf("token %q: want prefix sds_ and 256 bits of base64url (decode err %v, %d bytes)", g.Token, err, len(raw))
		}
		if g.Session.User.ID != w.MemberID || g.Session.Tenant.ID != w.TenantID {
			t.Fatalf("session of user %s in tenant %s, want user %s in tenant %s", g.Session.User.ID, g.Session.Tenant.ID, w.MemberID, w.TenantID)
		}
		if g.Session.IPAddress != "127.0.0.1" || !g.Session.Active || !g.Session.CreatedAt.Equal(t0) {
			t.Fatalf("session ip %q active %v createdAt %v, want 127.0.0.1, active, %v", g.Session.IPAddress, g.Session.Active, g.Session.CreatedAt, t0)
		}
		if me := requireLive(t, s, g.Token); me.ID != g.Session.ID {
			t.Fatalf("the token authenticates session %s, want %s", me.ID, g.Session.ID)
		}
		// Only the token's hash is stored: the token appears nowhere in the
		// database files.
		s.Admin(`{ tenants { id } }`, nil, nil)
		for _, f := range []string{s.DBPath, s.DBPath + "-wal"} {
			b, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(g.Token)) {
				t.Fatalf("the session token is stored in the clear in %s", f)
			}
		}
	})

	t.Run("email is matched case-insensitively", func(t *testing.T) {
		s, _ := startFake(t)
		w := s.NewWorkspace("case")
		ses := s.Login(strings.ToUpper(w.MemberEmail), w.Password, "")
		if me := requireLive(t, s, ses.Token); me.User.ID != w.MemberID {
			t.Fatalf("logged in as %s, want %s", me.User.ID, w.MemberID)
		}
	})

	t.Run("unknown email and wrong password get the same answer", func(t *testing.T) {
		s, _ := startFake(t)
		w := s.NewWorkspace("same")
		unknown := s.MustFail(graphtest.Request{Query: loginMutation, Variables: loginVars("nobody@example.com", w.Password, "")}, "UNAUTHENTICATED")
		wrong := s.MustFail(graphtest.Request{Query: loginMutation, Variables: loginVars(w.MemberEmail, "not the password", "")}, "UNAUTHENTICATED")
		if unknown.Message != wrong.Message || !reflect.DeepEqual(unknown.Extensions, wrong.Extensions) {
			t.Fatalf("unknown email answered %q %v, wrong password %q %v; want the same", unknown.Message, unknown.Extensions, wrong.Message, wrong.Extensions)
		}
	})

	t.Run("user without a password cannot log in", func(t *testing.T) {
		s, _ := startFake(t)
		w := s.NewWorkspace("nopw")
		s.CreateUser(w.TenantID, "sso@example.com", "", nil)
		wrong := s.MustFail(graphtest.Request{Query: loginMutation, Variables: loginVars(w.MemberEmail, "not the password", "")}, "UNAUTHENTICATED")
		for _, pw := range []string{"", "correct horse battery"} {
			e := s.MustFail(graphtest.Request{Query: loginMutation, Variables: loginVars("sso@example.com", pw, "")}, "UNAUTHENTICATED")
			if e.Message != wrong.Message {
				t.Fatalf("password %q: answered %q, want the wrong-password answer %q", pw, e.Message, wrong.Message)
			}
		}
	})

	t.Run("a user of several tenants must name one", func(t *testing.T) {
		s, _ := startFake(t)
		w := s.NewWorkspace("multi")
		other := s.CreateTenant("multi-other")
		s.Admin(`mutation($u: ID!, $t: ID!) { setUserRoles(userId: $u, tenantId: $t, roleKeys: ["read-only"]) { createdAt } }`,
			map[string]any{"u": w.MemberID, "t": other}, nil)

		e := s.MustFail(graphtest.Request{Query: loginMutation, Variables: loginVars(w.MemberEmail, w.Password, "")}, "BAD_USER_INPUT")
		if e.Field() != "tenantId" {
			t.Fatalf("extensions.field = %q, want tenantId", e.Field())
		}
		for _, tenant := range []string{other, w.TenantID} {
			ses := s.Login(w.MemberEmail, w.Password, tenant)
			if me := requireLive(t, s, ses.Token); me.Tenant.ID != tenant || me.User.ID != w.MemberID {
				t.Fatalf("session in tenant %s for user %s, want tenant %s for %s", me.Tenant.ID, me.User.ID, tenant, w.MemberID)
			}
		}
	})

	t.Run("a tenant the user is not a member of answers like a wrong password", func(t *testing.T) {
		s, _ := startFake(t)
		w := s.NewWorkspace("member")
		foreign := s.CreateTenant("foreign")
		wrong := s.MustFail(graphtest.Request{Query: loginMutation, Variables: loginVars(w.MemberEmail, "not the password", "")}, "UNAUTHENTICATED")
		e := s.MustFail(graphtest.Request{Query: loginMutation, Variables: loginVars(w.MemberEmail, w.Password, foreign)}, "UNAUTHENTICATED")
		if e.Message != wrong.Message {
			t.Fatalf("answered %q, want the wrong-password answer %q", e.Message, wrong.Message)
		}
	})

	t.Run("repeated failures for one email are refused with RATE_LIMITED", func(t *testing.T) {
		s, clk := startFake(t)
		w := s.NewWorkspace("limit")
		wrong := graphtest.Request{Query: loginMutation, Variables: loginVars(w.MemberEmail, "not the password", "")}
		right := graphtest.Request{Query: loginMutation, Variables: loginVars(w.MemberEmail, w.Password, "")}
		// The default policy lets 3 failures pass, then makes the caller wait.
		for i := 1; i <= 3; i++ {
			s.MustFail(wrong, "UNAUTHENTICATED")
		}
		retry4 := retryAfter(t, s.MustFail(wrong, "RATE_LIMITED"))
		// While the key is held back, even the right password is refused.
		retry5 := retryAfter(t, s.MustFail(right, "RATE_LIMITED"))
		if retry4 <= 0 || retry5 <= 0 {
			t.Fatalf("retryAfter = %v, %v; want > 0", retry4, retry5)
		}
		// Once the wait is over, the right password works again.
		clk.Advance(time.Duration(retry5) * time.Second)
		if me := requireLive(t, s, s.Login(w.MemberEmail, w.Password, "").Token); me.User.ID != w.MemberID {
			t.Fatalf("logged in as %s, want %s", me.User.ID, w.MemberID)
		}
	})

	t.Run("repeated failures from one address are refused with RATE_LIMITED", func(t *testing.T) {
		s, _ := startFake(t)
		w := s.NewWorkspace("ip")
		// The default budget lets one client fail 10 times over all emails.
		for i := range 10 {
			s.MustFail(graphtest.Request{Query: loginMutation, Variables: loginVars(fmt.Sprintf("u%d@example.com", i), "whatever-password", "")}, "UNAUTHENTICATED")
		}
		// An email without failures of its own is held back by its address.
		e := s.MustFail(graphtest.Request{Query: loginMutation, Variables: loginVars(w.MemberEmail, w.Password, "")}, "RATE_LIMITED")
		if retryAfter(t, e) <= 0 {
			t.Fatalf("retryAfter = %v, want > 0", e.Extensions["retryAfter"])
		}
	})
}

// retryAfter returns extensions.retryAfter in seconds.
func retryAfter(t *testing.T, e graphtest.Error) float64 {
	t.Helper()
	v, ok := e.Extensions["retryAfter"].(float64)
	if !ok {
		t.Fatalf("extensions.retryAfter missing: %v", e.Extensions)
	}
	return v
}

func TestMe(t *testing.T) {
	s, _ := startFake(t)
	w := s.NewWorkspace("me")
	mine := s.CreateSession(w.MemberID, w.TenantID)

	t.Run("me answers the token's user, tenant, session, roles and permissions", func(t *testing.T) {
		var out struct {
			Me struct {
				User        struct{ ID, Email string }
				Tenant      struct{ ID string }
				Session     sessionView
				Roles       []struct{ Key string }
				Permissions []string
			}
		}
		admin := s.CreateSession(w.AdminID, w.TenantID)
		s.MustDo(graphtest.Request{Query: `{ me { user { id email } tenant { id } session { ` + sessionFields + ` } roles { key } permissions } }`, Token: admin.Token}, &out)
		m := out.Me
		if m.User.ID != w.AdminID || m.User.Email != w.AdminEmail || m.Tenant.ID != w.TenantID || m.Session.ID != admin.ID {
			t.Fatalf("me = user %s %s tenant %s session %s, want %s %s %s %s", m.User.ID, m.User.Email, m.Tenant.ID, m.Session.ID, w.AdminID, w.AdminEmail, w.TenantID, admin.ID)
		}
		if len(m.Roles) != 1 || m.Roles[0].Key != "admin" || !slices.Contains(m.Permissions, "fe.secure.delete.sessions") {
			t.Fatalf("roles %v permissions %v, want role admin granting fe.secure.delete.sessions", m.Roles, m.Permissions)
		}
		s.MustDo(graphtest.Request{Query: `{ me { user { id } roles { key } permissions } }`, Token: mine.Token}, &out)
		if len(out.Me.Roles) != 1 || out.Me.Roles[0].Key != "read-only" || slices.Contains(out.Me.Permissions, "fe.secure.delete.sessions") {
			t.Fatalf("member roles %v permissions %v, want read-only without fe.secure.delete.sessions", out.Me.Roles, out.Me.Permissions)
		}
	})

	t.Run("session fields under the default policy", func(t *testing.T) {
		v := meSession(t, s, mine.Token, nil)
		if v.ID != mine.ID || v.User.ID != w.MemberID || v.Tenant.ID != w.TenantID {
			t.Fatalf("session %s of %s in %s, want %s of %s in %s", v.ID, v.User.ID, v.Tenant.ID, mine.ID, w.MemberID, w.TenantID)
		}
		if !v.CreatedAt.Equal(t0) || !v.LastActiveAt.Equal(t0) {
			t.Fatalf("createdAt %v lastActiveAt %v, want both %v", v.CreatedAt, v.LastActiveAt, t0)
		}
		// Idle timeout off: 24 hours from the last activity; forced re-login off: no absolute deadline.
		if want := v.LastActiveAt.Add(24 * time.Hour); !v.IdleExpiresAt.Equal(want) || !v.ExpiresAt.Equal(want) {
			t.Fatalf("idleExpiresAt %v expiresAt %v, want both %v", v.IdleExpiresAt, v.ExpiresAt, want)
		}
		if v.AbsoluteExpiresAt != nil {
			t.Fatalf("absoluteExpiresAt = %v, want null", v.AbsoluteExpiresAt)
		}
		if v.Device != "Chrome on macOS" || v.UserAgent != chromeOnMac || v.IPAddress != "" {
			t.Fatalf("device %q userAgent %q ipAddress %q, want Chrome on macOS, the fixture's agent, empty", v.Device, v.UserAgent, v.IPAddress)
		}
		if !v.Current || !v.Active || v.EndedAt != nil || v.EndReason != nil {
			t.Fatalf("current %v active %v endedAt %v endReason %q, want current, active, not ended", v.Current, v.Active, v.EndedAt, v.reason())
		}
	})

	t.Run("current is true only for the caller's session", func(t *testing.T) {
		other := s.CreateSession(w.MemberID, w.TenantID)
		var out struct{ MySessions []sessionView }
		s.MustDo(graphtest.Request{Query: `{ mySessions { id current } }`, Token: mine.Token}, &out)
		got := map[string]bool{}
		for _, v := range out.MySessions {
			got[v.ID] = v.Current
		}
		if len(got) < 2 || !got[mine.ID] || got[other.ID] {
			t.Fatalf("mySessions current flags %v, want %s only", got, mine.ID)
		}
		for _, v := range sessionsOf(t, s, w.MemberID) {
			if v.Current {
				t.Fatalf("admin key sees session %s as current; it has no session", v.ID)
			}
		}
	})

	t.Run("me needs a session token", func(t *testing.T) {
		s.MustFail(graphtest.Request{Query: `{ me { user { id } } }`, Token: s.AdminKey}, "FORBIDDEN")
		s.MustFail(graphtest.Request{Query: `{ me { user { id } } }`}, "UNAUTHENTICATED")
		e := s.MustFail(graphtest.Request{Query: `{ me { user { id } } }`, Token: "sds_" + strings.Repeat("A", 43)}, "UNAUTHENTICATED")
		if _, ok := e.Extensions["reason"]; ok {
			t.Fatalf("an unknown token got reason %v; only ended sessions have one", e.Extensions["reason"])
		}
	})
}

func TestLogout(t *testing.T) {
	s, clk := startFake(t)
	w := s.NewWorkspace("logout")
	ses := s.Login(w.MemberEmail, w.Password, "")
	keep := s.CreateSession(w.MemberID, w.TenantID)
	clk.Advance(5 * time.Minute)

	var out struct{ Logout sessionView }
	s.MustDo(graphtest.Request{Query: `mutation { logout { ` + sessionFields + ` } }`, Token: ses.Token}, &out)
	v := out.Logout
	if v.ID != ses.ID || v.Active || v.reason() != "LOGOUT" || v.EndedAt == nil || !v.EndedAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("logout returned %s active %v endReason %q endedAt %v, want %s ended LOGOUT at %v", v.ID, v.Active, v.reason(), v.EndedAt, ses.ID, t0.Add(5*time.Minute))
	}
	t.Run("the token is refused with reason LOGOUT", func(t *testing.T) {
		requireEnded(t, s, ses.Token, "LOGOUT")
		s.MustFail(graphtest.Request{Query: `mutation { logout { id } }`, Token: ses.Token}, "UNAUTHENTICATED")
	})
	t.Run("the user's other sessions stay", func(t *testing.T) {
		requireLive(t, s, keep.Token)
		requireActive(t, s, w.MemberID, keep.ID)
	})
}

func TestActivity(t *testing.T) {
	t.Run("a request moves lastActiveAt and idleExpiresAt", func(t *testing.T) {
		s, clk := startFake(t)
		w := s.NewWorkspace("act")
		ses := s.CreateSession(w.MemberID, w.TenantID)
		clk.Advance(10 * time.Minute)
		at := t0.Add(10 * time.Minute)
		v := meSession(t, s, ses.Token, nil)
		if !v.LastActiveAt.Equal(at) || !v.IdleExpiresAt.Equal(at.Add(24*time.Hour)) || !v.ExpiresAt.Equal(at.Add(24*time.Hour)) {
			t.Fatalf("lastActiveAt %v idleExpiresAt %v expiresAt %v, want %v and 24 h later", v.LastActiveAt, v.IdleExpiresAt, v.ExpiresAt, at)
		}
		// The activity is written to the database (in a batch, soon).
		eventually(t, "the activity to be stored", func() bool {
			return sessionOf(t, s, w.MemberID, ses.ID).LastActiveAt.Equal(at)
		})
		if got := sessionOf(t, s, w.MemberID, ses.ID); !got.IdleExpiresAt.Equal(at.Add(24 * time.Hour)) {
			t.Fatalf("stored idleExpiresAt %v, want %v", got.IdleExpiresAt, at.Add(24*time.Hour))
		}
	})

	t.Run("recordActivity returns the new deadlines", func(t *testing.T) {
		s, clk := startFake(t)
		w := s.NewWorkspace("rec")
		ses := s.CreateSession(w.MemberID, w.TenantID)
		clk.Advance(10 * time.Minute)
		var out struct{ RecordActivity sessionView }
		s.MustDo(graphtest.Request{Query: `mutation { recordActivity { ` + sessionFields + ` } }`, Token: ses.Token}, &out)
		at := t0.Add(10 * time.Minute)
		if v := out.RecordActivity; v.ID != ses.ID || !v.LastActiveAt.Equal(at) || !v.IdleExpiresAt.Equal(at.Add(24*time.Hour)) {
			t.Fatalf("recordActivity = %s lastActiveAt %v idleExpiresAt %v, want %s %v %v", v.ID, v.LastActiveAt, v.IdleExpiresAt, ses.ID, at, at.Add(24*time.Hour))
		}
	})

	t.Run("a passive request does not count", func(t *testing.T) {
		s, clk := startFake(t)
		w := s.NewWorkspace("passive")
		ses := s.CreateSession(w.MemberID, w.TenantID)
		clk.Advance(10 * time.Minute)
		passive := map[string]string{"X-Session-Activity": "passive"}
		for i := 0; i < 2; i++ {
			// Twice: had the first counted, the second would show it.
			if v := meSession(t, s, ses.Token, passive); !v.LastActiveAt.Equal(t0) || !v.IdleExpiresAt.Equal(t0.Add(24*time.Hour)) {
				t.Fatalf("passive request %d: lastActiveAt %v idleExpiresAt %v, want %v unchanged", i+1, v.LastActiveAt, v.IdleExpiresAt, t0)
			}
		}
	})

	t.Run("passive requests do not keep a session from idling out", func(t *testing.T) {
		s, clk := startFake(t)
		w := s.NewWorkspace("idlepassive")
		setPolicy(t, s, w.TenantID, idle(30, "MINUTES"))
		passive := s.CreateSession(w.MemberID, w.TenantID)
		active := s.CreateSession(w.MemberID, w.TenantID)
		clk.Advance(20 * time.Minute)
		meSession(t, s, passive.Token, map[string]string{"X-Session-Activity": "passive"})
		meSession(t, s, active.Token, nil)
		clk.Advance(11 * time.Minute)
		requireEnded(t, s, passive.Token, "IDLE_TIMEOUT")
		requireLive(t, s, active.Token)
	})
}
