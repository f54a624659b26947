package main

// docs/configuration.md's table of settings is generated from the flags
// the server registers (flagSet, including every register…Flags it
// calls): this test fails when the table and the code disagree, and
// rewrites the table with -update-docs:
//
//	go test -run TestConfigurationTable . -update-docs

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated table in docs/configuration.md")

const (
	configDoc   = "docs/configuration.md"
	tableBegin  = "<!-- BEGIN GENERATED: go test -run TestConfigurationTable . -update-docs -->"
	tableEnd    = "<!-- END GENERATED -->"
	noEnvSuffix = "—"
)

var envInUsage = regexp.MustCompile(`\s*\((SESSIOND_[A-Z0-9_]+)\)$`)

// flagsWithoutEnv are the flags that are actions or test switches, not
// settings: they have no environment variable on purpose.
var flagsWithoutEnv = map[string]bool{
	"rotate-admin-key": true, "new-admin-key": true, "demo": true, "time-scale": true, "time-origin": true,
}

// configurationTable renders every setting: the flags of flagSet with
// their variables and defaults (with an empty environment), then the
// variables without a flag, then the subcommands' own flags.
func configurationTable(t *testing.T) string {
	var c config
	fs, _ := flagSet("sessiond", &c, func(string) string { return "" })
	var b strings.Builder
	b.WriteString("| Flag | Variable | Default | Meaning |\n|---|---|---|---|\n")
	fs.VisitAll(func(f *flag.Flag) {
		usage, env := f.Usage, noEnvSuffix
		if m := envInUsage.FindStringSubmatch(usage); m != nil {
			env, usage = "`"+m[1]+"`", strings.TrimSuffix(usage, m[0])
		} else if !flagsWithoutEnv[f.Name] {
			t.Errorf("flag -%s has no SESSIOND_* variable: end its usage with \"(SESSIOND_…)\" and read it from getenv", f.Name)
		}
		def := f.DefValue
		if def == "" {
			def = noEnvSuffix
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `-%s` | %s | %s | %s |\n", f.Name, env, def, cell(usage))
	})
	for _, e := range envOnly {
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", noEnvSuffix, e.name, noEnvSuffix, cell(e.usage))
	}
	var o cmdOptions
	for _, cmd := range commands(&o) {
		if cmd.flags == nil {
			continue
		}
		sub := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		cmd.flags(sub, &o)
		sub.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(&b, "| `%s --%s` | %s | `%s` | %s |\n", cmd.name, f.Name, noEnvSuffix, f.DefValue, cell(f.Usage))
		})
	}
	return b.String()
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func TestConfigurationTable(t *testing.T) {
	raw, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers %q … %q", configDoc, tableBegin, tableEnd)
	}
	want := configurationTable(t)
	got := doc[i+len(tableBegin)+1 : j]
	if got == want {
		return
	}
	if *updateDocs {
		doc = doc[:i+len(tableBegin)+1] + want + doc[j:]
		if err := os.WriteFile(configDoc, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s's table of settings is out of date with the flags: run\n\n\tgo test -run TestConfigurationTable . -update-docs\n\nand commit the result. Generated:\n%s", configDoc, want)
}
