package main

// The command line: subcommands on the standard flag package. Every
// subcommand takes the server's flags (so -db and friends work
// everywhere) plus its own; `sessiond` with no subcommand, or with flags
// only, serves.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sessiond/sessiond/db"
	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/retention"
)

// command is one subcommand.
type command struct {
	name, summary string
	// sub lists the words the command takes after its name (migrate
	// status|up); empty for none.
	sub []string
	run func(ctx context.Context, cfg config, sub string, stdout, stderr io.Writer) error
	// flags registers the command's own flags.
	flags func(fs *flag.FlagSet, o *cmdOptions)
}

// cmdOptions are the subcommands' own flags.
type cmdOptions struct {
	dryRun bool
}

func commands(o *cmdOptions) []command {
	return []command{
		{name: "serve", summary: "serve the API (the default when no command is given)",
			run: func(ctx context.Context, cfg config, _ string, stdout, stderr io.Writer) error {
				return serve(ctx, cfg, stdout, stderr)
			}},
		{name: "migrate", summary: "status: list migrations and whether they are applied; up: apply the pending ones", sub: []string{"status", "up"},
			run: migrateCmd},
		{name: "admin-key", summary: "new: print a fresh key for SESSIOND_ADMIN_KEY; rotate: replace the stored key and print the new one", sub: []string{"new", "rotate"},
			run: adminKeyCmd},
		{name: "purge", summary: "delete now what retention no longer keeps; --dry-run only counts it",
			flags: func(fs *flag.FlagSet, o *cmdOptions) {
				fs.BoolVar(&o.dryRun, "dry-run", false, "print what would be deleted, delete nothing")
			},
			run: func(ctx context.Context, cfg config, _ string, stdout, stderr io.Writer) error {
				return purgeCmd(ctx, cfg, o.dryRun, stdout, stderr)
			}},
		{name: "version", summary: "print the module version, commit, Go version and build date",
			run: func(_ context.Context, _ config, _ string, stdout, _ io.Writer) error { return versionCmd(stdout) }},
		{name: "check-config", summary: "check the flags and environment, print the effective settings (secrets hidden) and exit",
			run: checkConfigCmd},
	}
}

// run parses the command line and runs the subcommand it names.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var o cmdOptions
	cmds := commands(&o)
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		usage(stdout, cmds)
		return nil
	}
	var cmd *command
	for i := range cmds {
		if cmds[i].name == name {
			cmd = &cmds[i]
		}
	}
	if cmd == nil {
		usage(stderr, cmds)
		return fmt.Errorf("unknown command %q", name)
	}
	sub := ""
	if len(cmd.sub) > 0 {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return fmt.Errorf("%s needs one of: %s", name, strings.Join(cmd.sub, ", "))
		}
		sub, args = args[0], args[1:]
		if !contains(cmd.sub, sub) {
			return fmt.Errorf("%s %s: unknown; want one of: %s", name, sub, strings.Join(cmd.sub, ", "))
		}
	}
	cfg, err := parseConfigNamed("sessiond "+name, args, getenv, func(fs *flag.FlagSet) {
		fs.SetOutput(stderr)
		if cmd.flags != nil {
			cmd.flags(fs, &o)
		}
	})
	if err != nil {
		return err
	}
	// The old flag spellings of the admin-key commands.
	if name == "serve" && cfg.newKey {
		return newAdminKey(stdout)
	}
	if name == "serve" && cfg.rotateKey {
		return rotateAdminKey(ctx, cfg, stdout, stderr)
	}
	return cmd.run(ctx, cfg, sub, stdout, stderr)
}

func usage(w io.Writer, cmds []command) {
	fmt.Fprintln(w, "Usage: sessiond [command] [flags]")
	fmt.Fprintln(w, "\nCommands:")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, c := range cmds {
		name := c.name
		if len(c.sub) > 0 {
			name += " " + strings.Join(c.sub, "|")
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, c.summary)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nEvery command takes the server's flags (-db, …); `sessiond serve -h` lists them, docs/configuration.md too.")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func migrateCmd(ctx context.Context, cfg config, sub string, stdout, stderr io.Writer) error {
	store, err := db.Open(ctx, db.Config{DSN: cfg.database, Logger: newLogger(cfg, stderr), SQLiteSynchronous: cfg.sqliteSync, NoMigrate: true})
	if err != nil {
		return err
	}
	defer store.Close()
	if sub == "up" {
		n, err := store.Migrate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Applied %d migration(s); the database is up to date.\n", n)
		return nil
	}
	ms, err := store.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	pending := 0
	for _, m := range ms {
		state := "applied"
		if !m.Applied {
			state, pending = "pending", pending+1
		}
		fmt.Fprintf(stdout, "%-8s %s\n", state, m.Name)
	}
	fmt.Fprintf(stdout, "%d applied, %d pending\n", len(ms)-pending, pending)
	return nil
}

func adminKeyCmd(ctx context.Context, cfg config, sub string, stdout, stderr io.Writer) error {
	if sub == "new" {
		return newAdminKey(stdout)
	}
	return rotateAdminKey(ctx, cfg, stdout, stderr)
}

// rotateAdminKey replaces the stored admin key and prints the new one.
func rotateAdminKey(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	acfg, err := appConfig(cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, acfg)
	if err != nil {
		return err
	}
	defer a.Close()
	key, _, err := a.AdminKeys.Rotate(ctx, model.Actor{Kind: model.ActorSystem})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "New admin key (the old one no longer works):\n\n    %s\n\n", key)
	return nil
}

func purgeCmd(ctx context.Context, cfg config, dryRun bool, stdout, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	acfg, err := appConfig(cfg, log)
	if err != nil {
		return err
	}
	store, err := db.Open(ctx, db.Config{DSN: cfg.database, Logger: log, SQLiteSynchronous: cfg.sqliteSync, Clock: acfg.Clock})
	if err != nil {
		return err
	}
	defer store.Close()
	svc := retention.New(store, clockOf(acfg), log, retention.Config{RetainEnded: acfg.RetainEnded, RetainAudit: acfg.RetainAudit})
	if dryRun {
		r, err := svc.DryRun(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Dry run: nothing was deleted.\n%s", describe(r, "would delete"))
		return nil
	}
	r, err := svc.Purge(ctx)
	if err != nil {
		return err
	}
	if r.Skipped {
		return errors.New("another instance is purging right now; try again when it is done")
	}
	fmt.Fprint(stdout, describe(r, "deleted"))
	return nil
}

func describe(r retention.Report, verb string) string {
	line := func(what string, n int, before time.Time) string {
		if before.IsZero() {
			return fmt.Sprintf("  %s: kept forever (retention 0)\n", what)
		}
		return fmt.Sprintf("  %s: %s %d (older than %s)\n", what, verb, n, before.UTC().Format(time.RFC3339))
	}
	return line("ended sessions", r.Sessions, r.EndedBefore) + line("finished webhook deliveries", r.Deliveries, r.EndedBefore) + line("audit entries", r.Audit, r.AuditBefore)
}

// buildDate is set at link time (-ldflags "-X main.buildDate=…"); the
// module's build information carries no build date of its own.
var buildDate = ""

func versionCmd(stdout io.Writer) error {
	version, commit, when, goVersion, dirty := "(devel)", "unknown", "unknown", "unknown", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		version, goVersion = bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if dirty {
		commit += " (modified)"
	}
	built := buildDate
	if built == "" {
		built = "unknown (set with -ldflags \"-X main.buildDate=$(date -u +%FT%TZ)\")"
	}
	fmt.Fprintf(stdout, "sessiond %s\ncommit:      %s\ncommit date: %s\nbuild date:  %s\ngo:          %s\n", version, commit, when, built, goVersion)
	return nil
}

// checkConfigCmd prints the effective settings; parsing already refused
// invalid ones (exit status 1).
func checkConfigCmd(_ context.Context, cfg config, _ string, stdout, _ io.Writer) error {
	rows := map[string]string{
		"addr": cfg.addr, "db": redactDSN(cfg.database), "log-format": cfg.logFormat, "log-level": cfg.logLevel.String(),
		"metrics-addr": orDash(cfg.metricsAddr, "(the main listener)"), "retain-ended": cfg.retainEnded.String(),
		"retain-audit": cfg.retainAudit.String(), "purge-every": cfg.purgeEvery.String(), "shutdown-timeout": cfg.shutdownTimeout.String(),
		"SESSIOND_ADMIN_KEY":     secretState(cfg.adminKey),
		"SESSIOND_METRICS_TOKEN": secretState(cfg.metricsToken),
	}
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\n", k, rows[k])
	}
	_ = tw.Flush()
	fmt.Fprintln(stdout, "configuration OK")
	return nil
}

// clockOf is the app configuration's clock, the wall clock by default.
func clockOf(c app.Config) clock.Clock {
	if c.Clock != nil {
		return c.Clock
	}
	return clock.Real{}
}

func orDash(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func secretState(s string) string {
	if s == "" {
		return "(not set)"
	}
	return "(set, hidden)"
}
