package graph_test

// The time budget of a request and a client's departure stop its work:
// parsing and validation refuse to start, and execution stops between
// fields, so a client that leaves (or runs out of time) costs no more
// than what already ran and leaves no half-done batch behind.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/events"
)

// requestLog is a slog handler that reports each access-log line.
type requestLog struct {
	mu    sync.Mutex
	lines []map[string]string
	seen  chan struct{}
}

func newRequestLog() *requestLog { return &requestLog{seen: make(chan struct{}, 64)} }

func (l *requestLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *requestLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *requestLog) WithGroup(string) slog.Handler            { return l }
func (l *requestLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "request" {
		return nil
	}
	line := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { line[a.Key] = a.Value.String(); return true })
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	select {
	case l.seen <- struct{}{}:
	default:
	}
	return nil
}

// waitOperation blocks until the handler has logged the end of a request
// running operation name.
func (l *requestLog) waitOperation(t *testing.T, name string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if line["operation"] == name {
				l.mu.Unlock()
				return
			}
		}
		l.mu.Unlock()
		select {
		case <-l.seen:
		case <-deadline:
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("the server never finished operation %s; logged %v", name, l.lines)
		}
	}
}

func TestClientDisconnectStopsExecution(t *testing.T) {
	reqLog := newRequestLog()
	s := graphtest.Start(t, func(cfg *app.Config) { cfg.Logger = slog.New(reqLog) })
	w := s.NewWorkspace("leave")

	// One mutation of 20 createSession fields: gqlgen runs them one after
	// another, each in its own transaction.
	const fields = 20
	var doc strings.Builder
	doc.WriteString("mutation Burst($u: ID!, $t: ID!) {")
	for i := range fields {
		fmt.Fprintf(&doc, " s%d: createSession(input: {userId: $u, tenantId: $t}) { token }", i)
	}
	doc.WriteString(" }")
	body := fmt.Sprintf(`{"operationName":"Burst","query":%q,"variables":{"u":%q,"t":%q}}`, doc.String(), w.MemberID, w.TenantID)

	// The client leaves as soon as the first session is committed.
	first := make(chan struct{}, 1)
	stop, err := s.App.Bus.Watch(context.Background(), events.Filter{UserID: w.MemberID}, func(e events.Event) {
		if e.Kind == events.Created {
			select {
			case first <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	conn, err := net.Dial("tcp", s.HTTP.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.AdminKey)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first:
	case <-time.After(30 * time.Second):
		t.Fatal("no session was created")
	}
	_ = conn.Close()
	reqLog.waitOperation(t, "Burst")

	var out struct {
		User struct{ ActiveSessionCount int }
	}
	s.Admin(`query($u: ID!) { user(id: $u) { activeSessionCount } }`, map[string]any{"u": w.MemberID}, &out)
	if n := out.User.ActiveSessionCount; n < 1 || n >= fields {
		t.Fatalf("the client left after the first of %d sessions; want execution to stop, got %d created", fields, n)
	}
	t.Logf("%d of %d sessions created before the departure stopped the mutation", out.User.ActiveSessionCount, fields)

	t.Run("a client that stays gets every field", func(t *testing.T) {
		w2 := s.NewWorkspace("stay")
		var res map[string]struct{ Token string }
		s.Admin(doc.String(), map[string]any{"u": w2.MemberID, "t": w2.TenantID}, &res)
		if len(res) != fields {
			t.Fatalf("want %d sessions, got %d", fields, len(res))
		}
	})
}
