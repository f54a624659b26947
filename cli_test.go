package main

// The command line: each subcommand's output and exit status, and the
// start-up order that cannot lose a credential.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/db"
	"github.com/sessiond/sessiond/internal/secret"
)

// runCmd runs one command line to completion.
func runCmd(t *testing.T, getenv func(string) string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e syncBuffer
	err = run(context.Background(), args, getenv, &o, &e)
	return o.String(), e.String(), err
}

func TestVersionCommand(t *testing.T) {
	out, _, err := runCmd(t, noEnv, "version")
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	for _, want := range []string{"sessiond ", "commit:", "build date:", "go:          " + runtime.Version()} {
		if !strings.Contains(out, want) {
			t.Fatalf("version output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckConfigCommand(t *testing.T) {
	t.Run("valid settings print and exit 0", func(t *testing.T) {
		out, _, err := runCmd(t, envWith(map[string]string{"SESSIOND_METRICS_TOKEN": "t0ken", "SESSIOND_RETAIN_ENDED": "7d"}), "check-config", "-log-format", "json")
		if err != nil {
			t.Fatalf("check-config: %v", err)
		}
		for _, want := range []string{"configuration OK", "retain-ended", "7d", "log-format", "json", "(set, hidden)"} {
			if !strings.Contains(out, want) {
				t.Fatalf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "t0ken") {
			t.Fatalf("check-config printed the metrics token:\n%s", out)
		}
	})
	for name, c := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"a bad -log-format":           {args: []string{"-log-format", "xml"}},
		"a bad -retain-audit":         {args: []string{"-retain-audit", "a year"}},
		"a bad SESSIOND_RETAIN_ENDED": {env: map[string]string{"SESSIOND_RETAIN_ENDED": "-1d"}},
		"a bad -metrics-addr":         {args: []string{"-metrics-addr", "nowhere"}},
	} {
		t.Run(name+" fails", func(t *testing.T) {
			if _, _, err := runCmd(t, envWith(c.env), append([]string{"check-config"}, c.args...)...); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	_, stderr, err := runCmd(t, noEnv, "frobnicate")
	if err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Fatalf("want an unknown-command error, got %v", err)
	}
	if !strings.Contains(stderr, "migrate status|up") {
		t.Fatalf("want the usage on stderr, got:\n%s", stderr)
	}
	if _, _, err := runCmd(t, noEnv, "migrate"); err == nil {
		t.Fatal("want `migrate` without status|up to fail")
	}
}

func TestMigrateCommands(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "m.db")
	out, _, err := runCmd(t, noEnv, "migrate", "status", "-db", dbPath)
	if err != nil {
		t.Fatalf("migrate status: %v", err)
	}
	if !strings.Contains(out, "pending  20261202000300_retention") || !strings.Contains(out, "0 applied") {
		t.Fatalf("on a new database every migration is pending; got:\n%s", out)
	}
	if out, _, err = runCmd(t, noEnv, "migrate", "up", "-db", dbPath); err != nil || !strings.Contains(out, "Applied ") {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	out, _, err = runCmd(t, noEnv, "migrate", "status", "-db", dbPath)
	if err != nil || !strings.Contains(out, ", 0 pending") || !strings.Contains(out, "applied  20261202000300_retention") {
		t.Fatalf("after up nothing is pending; got %v:\n%s", err, out)
	}
}

func TestAdminKeyCommands(t *testing.T) {
	out, _, err := runCmd(t, noEnv, "admin-key", "new")
	if err != nil {
		t.Fatal(err)
	}
	onlyKey(t, out)
	dbPath := filepath.Join(t.TempDir(), "k.db")
	out, _, err = runCmd(t, noEnv, "admin-key", "rotate", "-db", dbPath)
	if err != nil || !strings.Contains(out, "New admin key") {
		t.Fatalf("admin-key rotate: %v\n%s", err, out)
	}
	onlyKey(t, out)
}

func TestPurgeCommand(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "p.db")
	out, _, err := runCmd(t, noEnv, "purge", "--dry-run", "-db", dbPath)
	if err != nil || !strings.Contains(out, "Dry run: nothing was deleted.") || !strings.Contains(out, "ended sessions: would delete 0") ||
		!strings.Contains(out, "finished webhook deliveries: would delete 0") {
		t.Fatalf("purge --dry-run: %v\n%s", err, out)
	}
	out, _, err = runCmd(t, noEnv, "purge", "-db", dbPath, "-retain-audit", "0")
	if err != nil || !strings.Contains(out, "ended sessions: deleted 0") || !strings.Contains(out, "finished webhook deliveries: deleted 0") ||
		!strings.Contains(out, "audit entries: kept forever") {
		t.Fatalf("purge: %v\n%s", err, out)
	}
}

func TestNoArgumentsServes(t *testing.T) {
	addr := freeAddr(t)
	in := startServerArgs(t, addr, nil, envWith(map[string]string{
		"SESSIOND_ADDR": addr, "SESSIOND_DATABASE": filepath.Join(t.TempDir(), "default.db"),
	}))
	in.mustStop(t)
}

func TestStartupBindsBeforeCredentials(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dbPath := filepath.Join(t.TempDir(), "taken.db")
	out, _, err := runCmd(t, noEnv, "-addr", l.Addr().String(), "-db", dbPath, "-demo")
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("want an 'address already in use' error, got %v", err)
	}
	requireNoKey(t, out)
	if strings.Contains(out, "Demo data") {
		t.Fatalf("demo passwords printed although the server never listened:\n%s", out)
	}
	if _, err := os.Stat(dbPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("want no database created before the listener is bound, stat: %v", err)
	}

	t.Run("the next start prints the key", func(t *testing.T) {
		in := startServer(t, dbPath, noEnv)
		onlyKey(t, in.stdout.String())
		if i, j := strings.Index(in.stderr.String(), "sessiond listening"), len(in.stdout.String()); i < 0 || j == 0 {
			t.Fatalf("want the key printed and then 'listening' logged; stdout %d bytes, stderr:\n%s", j, in.stderr.String())
		}
		in.mustStop(t)
	})
}

func TestSecondInstanceOnOneSQLiteFileIsRefused(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "one.db")
	first := startServer(t, dbPath, noEnv)
	out, _, err := runCmd(t, noEnv, "-addr", freeAddr(t), "-db", dbPath)
	if !errors.Is(err, db.ErrInstanceRunning) {
		t.Fatalf("want ErrInstanceRunning, got %v", err)
	}
	if !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("want the message to point at PostgreSQL, got %q", err)
	}
	requireNoKey(t, out)
	first.mustStop(t)
	// Once the first has stopped, the file is free again.
	startServer(t, dbPath, noEnv).mustStop(t)
}

func TestDemoListensOnLoopback(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"-demo alone", []string{"-demo"}, nil, "127.0.0.1:8080"},
		{"-demo with -addr", []string{"-demo", "-addr", ":9000"}, nil, ":9000"},
		{"-demo with SESSIOND_ADDR", []string{"-demo"}, map[string]string{"SESSIOND_ADDR": ":9001"}, ":9001"},
		{"no -demo", nil, nil, ":8080"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseConfig(c.args, envWith(c.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.addr != c.want {
				t.Fatalf("addr %q, want %q", cfg.addr, c.want)
			}
		})
	}
}

func TestLogFormatJSON(t *testing.T) {
	addr := freeAddr(t)
	in := startServerArgs(t, addr, []string{"-addr", addr, "-db", filepath.Join(t.TempDir(), "j.db"), "-log-format", "json"}, noEnv)
	in.mustStop(t)
	sc := bufio.NewScanner(strings.NewReader(in.stderr.String()))
	lines := 0
	for sc.Scan() {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("a log line is not JSON: %v\n%s", err, sc.Text())
		}
		lines++
	}
	if lines == 0 {
		t.Fatal("want JSON log lines")
	}
}

func TestShutdownKeepsAcknowledgedActivity(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "act.db")
	key := secret.NewToken(secret.AdminKeyPrefix)
	env := envWith(map[string]string{"SESSIOND_ADMIN_KEY": key})
	addr := freeAddr(t)
	// Activity waits in memory for up to an hour: only the drain writes it.
	in := startServerArgs(t, addr, []string{"-addr", addr, "-db", dbPath, "-activity-flush", "1h"}, env)
	var tenant struct{ CreateTenant struct{ ID string } }
	in.admin(t, key, `mutation { createTenant(input: {name: "Act"}) { id } }`, nil, &tenant)
	var user struct{ CreateUser struct{ ID string } }
	in.admin(t, key, `mutation($t: ID!) { createUser(input: {email: "a@example.com", name: "A", password: "correct horse battery", tenantId: $t}) { id } }`,
		map[string]any{"t": tenant.CreateTenant.ID}, &user)
	var grant struct {
		CreateSession struct {
			Token   string
			Session struct{ ID string }
		}
	}
	in.admin(t, key, `mutation($u: ID!, $t: ID!) { createSession(input: {userId: $u, tenantId: $t}) { token session { id } } }`,
		map[string]any{"u": user.CreateUser.ID, "t": tenant.CreateTenant.ID}, &grant)
	time.Sleep(20 * time.Millisecond) // so the activity is later than the creation, in milliseconds
	var me struct {
		Me struct {
			Session struct{ LastActiveAt time.Time }
		}
	}
	in.admin(t, grant.CreateSession.Token, `{ me { session { lastActiveAt } } }`, nil, &me)
	acked := me.Me.Session.LastActiveAt
	in.mustStop(t)

	again := startServerArgs(t, addr, []string{"-addr", addr, "-db", dbPath}, env)
	var out struct {
		User struct {
			Sessions []struct {
				ID           string
				LastActiveAt time.Time
			}
		}
	}
	again.admin(t, key, `query($u: ID!) { user(id: $u) { sessions { id lastActiveAt } } }`, map[string]any{"u": user.CreateUser.ID}, &out)
	if len(out.User.Sessions) != 1 || out.User.Sessions[0].LastActiveAt.Before(acked.Truncate(time.Millisecond)) {
		t.Fatalf("after a restart lastActiveAt is %+v, want the acknowledged %v", out.User.Sessions, acked)
	}
	again.mustStop(t)
}
