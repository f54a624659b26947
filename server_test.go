package main

// Tests of the command: run() is started as main starts it, on a free port
// and a SQLite file in t.TempDir(), and spoken to over real HTTP.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/secret"
)

// syncBuffer is a bytes.Buffer that run's goroutine may write while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// adminKeyPattern finds admin keys in what run prints.
var adminKeyPattern = regexp.MustCompile(regexp.QuoteMeta(secret.AdminKeyPrefix) + `[A-Za-z0-9_-]+`)

func noEnv(string) string { return "" }

func envWith(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// instance is one run() of the server.
type instance struct {
	base           string // http://127.0.0.1:port
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan struct{} // closed when run returns
	err            error         // run's result, set before done closes
	stopped        bool
}

// waitTimeout bounds how long a test waits for the server to come up or go
// down; both take milliseconds, so it is only reached when something hangs.
const waitTimeout = 20 * time.Second

// startServer runs the server on the database file and returns once
// /healthz answers 200. The server stops at cleanup if the test did not
// stop it.
func startServer(t *testing.T, dbPath string, getenv func(string) string) *instance {
	t.Helper()
	addr := freeAddr(t)
	return startServerArgs(t, addr, []string{"-addr", addr, "-db", dbPath}, getenv)
}

// startServerArgs runs the command line args, which must serve on addr.
func startServerArgs(t *testing.T, addr string, args []string, getenv func(string) string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{base: "http://" + addr, stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(in.done)
		in.err = run(ctx, args, getenv, in.stdout, in.stderr)
	}()
	t.Cleanup(func() {
		if err := in.stop(); err != nil {
			t.Errorf("stop at cleanup: %v", err)
		}
	})

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(waitTimeout)
	for {
		select {
		case <-in.done:
			t.Fatalf("run returned before serving: %v\nstderr:\n%s", in.err, in.stderr)
		default:
		}
		if res, err := client.Get(in.base + "/healthz"); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return in
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("want /healthz to answer 200 within %v, it did not\nstderr:\n%s", waitTimeout, in.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop cancels run's context and returns what run returned.
func (in *instance) stop() error {
	if in.stopped {
		return nil
	}
	in.stopped = true
	in.cancel()
	select {
	case <-in.done:
		return in.err
	case <-time.After(waitTimeout):
		return context.DeadlineExceeded
	}
}

// mustStop stops the server and requires run to return nil (graceful shutdown).
func (in *instance) mustStop(t *testing.T) {
	t.Helper()
	if err := in.stop(); err != nil {
		t.Fatalf("want run to return nil once its context is cancelled, got %v", err)
	}
}

type gqlResponse struct {
	Data   json.RawMessage
	Errors []struct {
		Message    string
		Extensions map[string]any
	}
}

func (r gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// graphql posts a query to /graphql with the key as bearer token.
func (in *instance) graphql(t *testing.T, key, query string, vars map[string]any) gqlResponse {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, in.base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 {
		t.Fatalf("want a status below 500, got %d: %s", res.StatusCode, raw)
	}
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decode (status %d): %v\n%s", res.StatusCode, err, raw)
	}
	return out
}

// admin runs a query with the key and requires success.
func (in *instance) admin(t *testing.T, key, query string, vars map[string]any, out any) {
	t.Helper()
	res := in.graphql(t, key, query, vars)
	if len(res.Errors) > 0 {
		t.Fatalf("want no errors, got %+v\nquery: %s", res.Errors, query)
	}
	if out != nil {
		if err := json.Unmarshal(res.Data, out); err != nil {
			t.Fatalf("decode data: %v\n%s", err, res.Data)
		}
	}
}

// requireKeyWorks checks that the key is accepted as the admin key.
func (in *instance) requireKeyWorks(t *testing.T, key string) {
	t.Helper()
	in.admin(t, key, `{ tenants { id } }`, nil, nil)
}

// requireKeyRefused checks that the key gets UNAUTHENTICATED.
func (in *instance) requireKeyRefused(t *testing.T, key string) {
	t.Helper()
	if res := in.graphql(t, key, `{ tenants { id } }`, nil); res.code() != "UNAUTHENTICATED" {
		t.Fatalf("want UNAUTHENTICATED for the key, got errors %+v data %s", res.Errors, res.Data)
	}
}

// onlyKey returns the one admin key in out, failing unless there is exactly one.
func onlyKey(t *testing.T, out string) string {
	t.Helper()
	keys := adminKeyPattern.FindAllString(out, -1)
	if len(keys) != 1 {
		t.Fatalf("want exactly one admin key printed, got %d in:\n%s", len(keys), out)
	}
	if min := len(secret.AdminKeyPrefix) + 43; len(keys[0]) < min {
		t.Fatalf("want a key of at least %d characters, got %q", min, keys[0])
	}
	return keys[0]
}

func requireNoKey(t *testing.T, out string) {
	t.Helper()
	if keys := adminKeyPattern.FindAllString(out, -1); len(keys) > 0 {
		t.Fatalf("want no admin key printed, got %q in:\n%s", keys, out)
	}
}

func TestGeneratedAdminKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sessiond.db")
	var key string

	if !t.Run("first start prints a generated key once and it works", func(t *testing.T) {
		in := startServer(t, db, noEnv)
		key = onlyKey(t, in.stdout.String())
		in.requireKeyWorks(t, key)
		in.requireKeyRefused(t, secret.NewToken(secret.AdminKeyPrefix))
		in.mustStop(t)
	}) {
		t.FailNow()
	}

	t.Run("second start on the same database prints no key and the first key still works", func(t *testing.T) {
		in := startServer(t, db, noEnv)
		requireNoKey(t, in.stdout.String())
		in.requireKeyWorks(t, key)
		in.mustStop(t)
	})
}

func TestRotateAdminKey(t *testing.T) {
	t.Run("-rotate-admin-key prints a new key; the old one stops working", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "sessiond.db")
		first := startServer(t, db, noEnv)
		oldKey := onlyKey(t, first.stdout.String())
		first.mustStop(t)

		var stdout, stderr syncBuffer
		if err := run(context.Background(), []string{"-db", db, "-rotate-admin-key"}, noEnv, &stdout, &stderr); err != nil {
			t.Fatalf("want -rotate-admin-key to return nil, got %v\nstderr:\n%s", err, stderr.String())
		}
		newKey := onlyKey(t, stdout.String())
		if newKey == oldKey {
			t.Fatalf("want a new key, got the old one again")
		}

		in := startServer(t, db, noEnv)
		requireNoKey(t, in.stdout.String())
		in.requireKeyRefused(t, oldKey)
		in.requireKeyWorks(t, newKey)
		in.mustStop(t)
	})

	t.Run("rotateAdminKey returns a new key; the old one stops at once, also after a restart", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "sessiond.db")
		in := startServer(t, db, noEnv)
		oldKey := onlyKey(t, in.stdout.String())
		var out struct {
			RotateAdminKey struct{ Key, CreatedAt string }
		}
		in.admin(t, oldKey, `mutation { rotateAdminKey { key createdAt } }`, nil, &out)
		newKey := out.RotateAdminKey.Key
		if !strings.HasPrefix(newKey, secret.AdminKeyPrefix) || newKey == oldKey {
			t.Fatalf("want a new key with prefix %s, got %q", secret.AdminKeyPrefix, newKey)
		}
		if _, err := time.Parse(time.RFC3339, out.RotateAdminKey.CreatedAt); err != nil {
			t.Fatalf("createdAt: want an RFC 3339 time, got %q", out.RotateAdminKey.CreatedAt)
		}
		in.requireKeyRefused(t, oldKey)
		in.requireKeyWorks(t, newKey)
		requireNoKey(t, in.stderr.String()) // the key is never logged
		in.mustStop(t)

		again := startServer(t, db, noEnv)
		requireNoKey(t, again.stdout.String())
		again.requireKeyRefused(t, oldKey)
		again.requireKeyWorks(t, newKey)
		again.mustStop(t)
	})
}

// everything reads all the API exposes, to compare before and after a restart.
const everything = `{
	tenants { id name createdAt }
	users(first: 50) { totalCount edges { node { id email name hasPassword createdAt
		memberships { tenant { id name } roles { key } permissions createdAt } } } }
	roles { id key name description isDefault permissions { key } createdAt }
	permissions { id key name description category builtIn roles { key } createdAt }
	adminPortal { privacyAndSecurity users security updatedAt }
}`

func TestRestartKeepsData(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sessiond.db")
	var key, before string
	var userID string

	if !t.Run("first start applies the migration and takes changes", func(t *testing.T) {
		in := startServer(t, db, noEnv)
		files, _ := filepath.Glob("migrations/sqlite/*.up.sql")
		if n := strings.Count(in.stderr.String(), "migration applied"); n != len(files) || n == 0 {
			t.Fatalf("want one \"migration applied\" line per migration (%d) on the first start, got %d in:\n%s", len(files), n, in.stderr)
		}
		key = onlyKey(t, in.stdout.String())

		var tn struct{ CreateTenant struct{ ID string } }
		in.admin(t, key, `mutation { createTenant(input: {name: "Acme"}) { id } }`, nil, &tn)
		in.admin(t, key, `mutation { createPermission(input: {key: "docs.read", name: "Read docs", category: "Docs"}) { id } }`, nil, nil)
		in.admin(t, key, `mutation { createRole(input: {key: "editor", name: "Editor", description: "Edits"}) { id } }`, nil, nil)
		in.admin(t, key, `mutation { setRolePermissions(roleKey: "editor", permissionKeys: ["docs.read"]) { id } }`, nil, nil)
		in.admin(t, key, `mutation { assignRolesToPermission(permissionKey: "fe.secure.delete.sessions", roleKeys: ["editor"]) { id } }`, nil, nil)
		var u struct{ CreateUser struct{ ID string } }
		in.admin(t, key, `mutation($t: ID!) { createUser(input: {email: "ann@example.com", name: "Ann", password: "long enough", tenantId: $t, roleKeys: ["editor"]}) { id } }`,
			map[string]any{"t": tn.CreateTenant.ID}, &u)
		userID = u.CreateUser.ID
		in.admin(t, key, `mutation { updateAdminPortal(input: {users: true, security: true}) { users } }`, nil, nil)

		var snap json.RawMessage
		in.admin(t, key, everything, nil, &snap)
		before = string(snap)
		in.mustStop(t)
	}) {
		t.FailNow()
	}

	t.Run("second start applies no migration and serves the same data", func(t *testing.T) {
		in := startServer(t, db, noEnv)
		if strings.Contains(in.stderr.String(), "migration applied") {
			t.Fatalf("want no \"migration applied\" line on a restart, got:\n%s", in.stderr)
		}
		var snap json.RawMessage
		in.admin(t, key, everything, nil, &snap)
		if string(snap) != before {
			t.Fatalf("want the same data after a restart\nbefore: %s\nafter:  %s", before, snap)
		}

		var out struct {
			User struct {
				HasPassword bool
				Memberships []struct {
					Tenant      struct{ Name string }
					Roles       []struct{ Key string }
					Permissions []string
				}
			}
			AdminPortal struct{ PrivacyAndSecurity, Users, Security bool }
		}
		in.admin(t, key, `query($id: ID!) {
			user(id: $id) { hasPassword memberships { tenant { name } roles { key } permissions } }
			adminPortal { privacyAndSecurity users security }
		}`, map[string]any{"id": userID}, &out)
		got, _ := json.Marshal(out)
		const want = `{"User":{"HasPassword":true,"Memberships":[{"Tenant":{"Name":"Acme"},"Roles":[{"Key":"editor"}],"Permissions":["docs.read","fe.secure.delete.sessions"]}]},"AdminPortal":{"PrivacyAndSecurity":false,"Users":true,"Security":true}}`
		if string(got) != want {
			t.Fatalf("after restart\nwant %s\ngot  %s", want, got)
		}
		in.mustStop(t)
	})
}

func TestHealthEndpoints(t *testing.T) {
	in := startServer(t, filepath.Join(t.TempDir(), "sessiond.db"), noEnv)
	for path, status := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		t.Run(path+" answers 200", func(t *testing.T) {
			res, err := http.Get(in.base + path)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			defer res.Body.Close()
			var body struct{ Status string }
			_ = json.NewDecoder(res.Body).Decode(&body)
			if res.StatusCode != http.StatusOK || body.Status != status {
				t.Fatalf("want 200 with status %q, got %d with %q", status, res.StatusCode, body.Status)
			}
		})
	}
	in.mustStop(t)
}

func TestConfiguredAdminKey(t *testing.T) {
	t.Run("a configured key works and no key is printed", func(t *testing.T) {
		key := secret.NewToken(secret.AdminKeyPrefix)
		in := startServer(t, filepath.Join(t.TempDir(), "sessiond.db"), envWith(map[string]string{"SESSIOND_ADMIN_KEY": key}))
		requireNoKey(t, in.stdout.String())
		in.requireKeyWorks(t, key)
		in.requireKeyRefused(t, secret.NewToken(secret.AdminKeyPrefix))
		in.mustStop(t)
	})

	t.Run("-rotate-admin-key is refused when the key is configured", func(t *testing.T) {
		key := secret.NewToken(secret.AdminKeyPrefix)
		var stdout, stderr syncBuffer
		err := run(context.Background(), []string{"-db", filepath.Join(t.TempDir(), "sessiond.db"), "-rotate-admin-key"},
			envWith(map[string]string{"SESSIOND_ADMIN_KEY": key}), &stdout, &stderr)
		if err == nil {
			t.Fatalf("want an error, got nil; stdout:\n%s", stdout.String())
		}
		requireNoKey(t, stdout.String())
	})

	for name, bad := range map[string]string{
		"too short":           secret.AdminKeyPrefix + "short",
		"one character short": secret.AdminKeyPrefix + strings.Repeat("a", 42),
		"without the prefix":  strings.Repeat("a", 80),
	} {
		t.Run("a key "+name+" makes run return an error", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stdout, stderr syncBuffer
			args := []string{"-addr", freeAddr(t), "-db", filepath.Join(t.TempDir(), "sessiond.db")}
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, args,
					envWith(map[string]string{"SESSIOND_ADMIN_KEY": bad}), &stdout, &stderr)
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "SESSIOND_ADMIN_KEY") {
					t.Fatalf("want an error naming SESSIOND_ADMIN_KEY, got %v", err)
				}
				if strings.Contains(err.Error(), bad) {
					t.Fatalf("want the error not to echo the key, got %v", err)
				}
			case <-time.After(waitTimeout):
				t.Fatalf("want run to return an error, it kept running")
			}
			requireNoKey(t, stdout.String())
		})
	}
}

func TestNewAdminKeyFlag(t *testing.T) {
	t.Run("-new-admin-key prints a fresh key and exits", func(t *testing.T) {
		var stdout, stderr syncBuffer
		if err := run(context.Background(), []string{"-new-admin-key", "-db", filepath.Join(t.TempDir(), "sessiond.db")}, noEnv, &stdout, &stderr); err != nil {
			t.Fatalf("want nil, got %v", err)
		}
		onlyKey(t, stdout.String())
	})
}

func TestKeepAliveIsConfigurable(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want time.Duration
	}{
		{"default", nil, nil, 15 * time.Second},
		{"environment", nil, map[string]string{"SESSIOND_WS_KEEPALIVE": "5s"}, 5 * time.Second},
		{"flag wins", []string{"-ws-keepalive", "3s"}, map[string]string{"SESSIOND_WS_KEEPALIVE": "5s"}, 3 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseConfig(c.args, func(k string) string { return c.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.wsKeepAlive != c.want {
				t.Fatalf("keep-alive = %v, want %v", cfg.wsKeepAlive, c.want)
			}
		})
	}
}

func TestFrameAncestorsIsConfigurable(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", nil, nil, "'none'"},
		{"environment", nil, map[string]string{"SESSIOND_FRAME_ANCESTORS": "'self'"}, "'self'"},
		{"flag wins", []string{"-frame-ancestors", "https://app.example.com"}, map[string]string{"SESSIOND_FRAME_ANCESTORS": "'self'"}, "https://app.example.com"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseConfig(c.args, func(k string) string { return c.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.frameAncestors != c.want {
				t.Fatalf("frame-ancestors = %q, want %q", cfg.frameAncestors, c.want)
			}
		})
	}
	t.Run("a value that would add a CSP directive is refused", func(t *testing.T) {
		if _, err := parseConfig([]string{"-frame-ancestors", "'self'; script-src *"}, noEnv); err == nil {
			t.Fatal("want an error for a value with ';'")
		}
	})
}

func TestGeneratedKeyHintNamesTheDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hint.db")
	in := startServer(t, db, noEnv)
	defer in.mustStop(t)
	if want := "admin-key rotate -db " + db; !strings.Contains(in.stdout.String(), want) {
		t.Fatalf("the first start's output lacks %q:\n%s", want, in.stdout.String())
	}
}
