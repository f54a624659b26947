// Package testreport makes skipped suites visible in a plain `go test
// ./...`, which hides a passing package's output (t.Skip messages
// included) unless -v is given. A package's TestMain runs its tests with
// Main; tests that skip a whole suite (end-to-end without Node packages,
// PostgreSQL without its URL) call Skip. Once the tests ran, Main prints
// one line per skipped suite, with why, where `go test` shows it.
package testreport

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Report collects the skipped suites of one test binary.
type Report struct {
	pkg string
	mu  sync.Mutex
	why map[string]string // suite → reason
	n   map[string]int    // suite → tests skipped
}

// New returns the report of package pkg (its short name in the output).
func New(pkg string) *Report {
	return &Report{pkg: pkg, why: map[string]string{}, n: map[string]int{}}
}

// Skip records that t skips suite for reason, and skips t.
func (r *Report) Skip(t testing.TB, suite, reason string) {
	t.Helper()
	r.Note(suite, reason)
	r.mu.Lock()
	r.n[suite]++
	r.mu.Unlock()
	t.Skipf("%s skipped: %s", suite, reason)
}

// Note records a skipped suite without a test (e.g. a database dialect
// that a table of tests leaves out).
func (r *Report) Note(suite, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.why[suite] = reason
}

// Runner runs tests and returns the exit status (*testing.M is one).
type Runner interface{ Run() int }

// Main runs the tests, prints the skipped suites and exits with the
// tests' status.
func (r *Report) Main(m Runner) {
	code := m.Run()
	r.print()
	os.Exit(code)
}

func (r *Report) print() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.why) == 0 {
		return
	}
	suites := make([]string, 0, len(r.why))
	for s := range r.why {
		suites = append(suites, s)
	}
	sort.Strings(suites)
	var b strings.Builder
	for _, s := range suites {
		count := ""
		if n := r.n[s]; n > 0 {
			count = fmt.Sprintf(" (%d tests)", n)
		}
		fmt.Fprintf(&b, "%s: SKIPPED %s%s: %s\n", r.pkg, s, count, r.why[s])
	}
	w, closeW := visibleOutput()
	defer closeW()
	_, _ = io.WriteString(w, b.String())
}

// visibleOutput is where `go test` shows text even for a passing package
// without -v: the standard error of the go command that started this
// binary (its parent), which does not capture it. Elsewhere (another
// parent, another system) it is this binary's own standard error.
func visibleOutput() (io.Writer, func()) {
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/2", os.Getppid()), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return os.Stderr, func() {}
	}
	return f, func() { _ = f.Close() }
}
