package main

import (
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/secret"
)

// TestLogsHoldNoSecrets runs the real server at debug level through
// logins (right, wrong and malformed), validation, createSession, revokes,
// subscriptions, a pushed logout and a key rotation, and requires that
// nothing it printed holds a session token, an admin key, a password or a
// password hash.
func TestLogsHoldNoSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a real server; skipped with -short")
	}
	dsn := filepath.Join(t.TempDir(), "sessiond.db")
	// No SESSIOND_ADMIN_KEY: the server generates the key and prints it
	// once on stdout (its purpose); the log (stderr) must not hold it.
	c := startChild(t, dsn, "", "-log-level", "debug")
	key := adminKeyPattern.FindString(c.stdout.String())
	if key == "" {
		t.Fatalf("no generated admin key printed:\n%s", c.stdout.String())
	}
	const password, wrong = "correct horse battery", "Tr0ub4dor&3-wrong"

	var tn struct{ CreateTenant struct{ ID string } }
	c.must(t, key, `mutation { createTenant(input: {name: "Logs"}) { id } }`, nil, &tn)
	var u struct{ CreateUser struct{ ID string } }
	c.must(t, key, `mutation($t: ID!, $p: String) { createUser(input: {email: "ann@example.com", name: "Ann", password: $p, tenantId: $t, roleKeys: ["admin"]}) { id } }`,
		map[string]any{"t": tn.CreateTenant.ID, "p": password}, &u)
	c.must(t, key, `mutation { updateAdminPortal(input: {privacyAndSecurity: true, users: true, security: true}) { users } }`, nil, nil)

	var secrets []string
	login := func() string {
		var out struct{ Login struct{ Token string } }
		c.must(t, "", `mutation($p: String!) { login(input: {email: "ann@example.com", password: $p}) { token } }`, map[string]any{"p": password}, &out)
		secrets = append(secrets, out.Login.Token)
		return out.Login.Token
	}
	first, second := login(), login()
	if r, _ := c.do("", `mutation($p: String!) { login(input: {email: "ann@example.com", password: $p}) { token } }`, map[string]any{"p": wrong}); r.code() != "UNAUTHENTICATED" {
		t.Fatalf("wrong password answered %q", r.code())
	}
	if r, _ := c.do("", `mutation($p: String!) { login(input: {email: "ann@example.com", password: $p}) { token } }`, map[string]any{"p": wrong + "\x00"}); r.code() != "BAD_USER_INPUT" {
		t.Fatalf("malformed password answered %q", r.code())
	}
	// A body that is not JSON, holding a password.
	res, err := http.Post(c.url+"/graphql", "application/json", strings.NewReader(`{"query": "mutation { login(input: {email: \"ann@example.com\", password: \"`+wrong+`\"}) { token } }", `))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	var cs struct{ CreateSession struct{ Token string } }
	c.must(t, key, `mutation($u: ID!, $t: ID!) { createSession(input: {userId: $u, tenantId: $t}) { token } }`, map[string]any{"u": u.CreateUser.ID, "t": tn.CreateTenant.ID}, &cs)
	secrets = append(secrets, cs.CreateSession.Token)

	// Validation, an invalid token, subscriptions and a pushed end.
	var me struct {
		Me struct{ Session struct{ ID string } }
	}
	c.must(t, first, `{ me { session { id } } }`, nil, &me)
	if r, _ := c.do("sds_"+strings.Repeat("x", 43), `{ me { session { id } } }`, nil); r.code() != "UNAUTHENTICATED" {
		t.Fatalf("an unknown token answered %q", r.code())
	}
	ended := c.subscribe(t, second, `subscription { sessionTerminated { id endReason } }`)
	watch := c.subscribe(t, first, `subscription { sessionEvents { kind session { id } } }`)
	c.must(t, first, `mutation { revokeMySessions }`, nil, nil)
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("no sessionTerminated after revokeMySessions")
	}
	select {
	case <-watch:
	case <-time.After(10 * time.Second):
		t.Fatal("no sessionEvents event after revokeMySessions")
	}
	var third struct {
		CreateSession struct {
			Token   string
			Session struct{ ID string }
		}
	}
	c.must(t, key, `mutation($u: ID!, $t: ID!) { createSession(input: {userId: $u, tenantId: $t}) { token session { id } } }`, map[string]any{"u": u.CreateUser.ID, "t": tn.CreateTenant.ID}, &third)
	secrets = append(secrets, third.CreateSession.Token)
	c.must(t, key, `mutation($id: ID!) { revokeSession(id: $id) { id } }`, map[string]any{"id": third.CreateSession.Session.ID}, nil)
	c.must(t, first, `mutation { logout { id } }`, nil, nil)

	var rot struct{ RotateAdminKey struct{ Key string } }
	c.must(t, key, `mutation { rotateAdminKey { key } }`, nil, &rot)
	secrets = append(secrets, key, rot.RotateAdminKey.Key, password, wrong)

	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var hash string
	if err := db.QueryRow(`SELECT password_hash FROM users WHERE email_lower = 'ann@example.com'`).Scan(&hash); err != nil || hash == "" {
		t.Fatalf("read the password hash: %q %v", hash, err)
	}
	parts := strings.Split(hash, "$")
	secrets = append(secrets, hash, parts[len(parts)-1], parts[len(parts)-2])
	for _, tok := range secrets[:len(secrets)-4] {
		// A token's hash is as good as nothing to an attacker, but it is
		// what the database holds: keep it out of logs too.
		secrets = append(secrets, secret.HashToken(tok))
	}

	c.kill()
	out := c.stderr.String()
	if strings.Count(c.stdout.String(), key) != 1 || strings.Contains(c.stdout.String(), rot.RotateAdminKey.Key) {
		t.Fatalf("stdout should show the generated key once and nothing else secret:\n%s", c.stdout.String())
	}
	if !strings.Contains(out, "level=DEBUG") && !strings.Contains(out, "level=INFO") {
		t.Fatalf("the server logged nothing; is the log level applied?\n%s", out)
	}
	if n := strings.Count(out, "msg=request"); n < 10 {
		t.Fatalf("only %d request lines logged; the test did not exercise the log:\n%s", n, out)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Fatalf("the log contains a secret %.12s…:\n%s", s, out)
		}
	}
}
