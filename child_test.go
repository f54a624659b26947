package main

// A real sessiond process for tests that must crash it or read what it
// prints: the binary is built once per test run into a temporary
// directory and started as a child on a free loopback port.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/testreport"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

// report lists the suites this package skipped, visible without -v.
var report = testreport.New("sessiond")

func TestMain(m *testing.M) {
	if os.Getenv(graphtest.PostgresEnv) == "" {
		report.Note("the PostgreSQL case of the crash test", "set "+graphtest.PostgresEnv+" to a PostgreSQL URL to run it")
	}
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	report.Main(exitWith(code))
}

// exitWith is a testing.M stand-in whose Run returns code: the tests have
// run already, and the report prints after the cleanup above.
type exitCode int

func exitWith(code int) exitCode { return exitCode(code) }
func (c exitCode) Run() int      { return int(c) }

// sessiondBinary builds the server once and returns its path.
func sessiondBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "sessiond-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "sessiond")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// child is a running sessiond process.
type child struct {
	cmd    *exec.Cmd
	url    string // http://127.0.0.1:port
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
}

// startChild runs the binary on dsn with the admin key (SESSIOND_ADMIN_KEY;
// "" to let it generate and print one) and extra flags, and waits until
// /readyz answers.
func startChild(t *testing.T, dsn, adminKey string, args ...string) *child {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(sessiondBinary(t), append([]string{"-addr", addr, "-db", dsn}, args...)...)
	cmd.Env = append(os.Environ(), "SESSIOND_ADMIN_KEY="+adminKey)
	c := &child{cmd: cmd, url: "http://" + addr, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.stdout, c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sessiond: %v", err)
	}
	go func() { _ = cmd.Wait(); close(c.done) }()
	t.Cleanup(c.kill)
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(c.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return c
			}
		}
		select {
		case <-c.done:
			t.Fatalf("sessiond exited before it was ready:\n%s", c.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessiond not ready after 60 s:\n%s", c.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL, as a crash would, and waits for it.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// gqlResult is a decoded GraphQL answer.
type gqlResult struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (r gqlResult) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	s, _ := r.Errors[0].Extensions["code"].(string)
	return s
}

// do posts one GraphQL request; it never touches a *testing.T, so load
// goroutines may call it.
func (c *child) do(token, query string, vars map[string]any) (gqlResult, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, c.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return gqlResult{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return gqlResult{}, err
	}
	var out gqlResult
	if err := json.Unmarshal(raw, &out); err != nil {
		return gqlResult{}, fmt.Errorf("status %d: %w: %s", res.StatusCode, err, raw)
	}
	return out, nil
}

// must runs a request that must succeed and decodes its data into out.
func (c *child) must(t *testing.T, token, query string, vars map[string]any, out any) {
	t.Helper()
	r, err := c.do(token, query, vars)
	if err != nil || len(r.Errors) > 0 {
		t.Fatalf("%s: %v %+v", strings.TrimSpace(query), err, r.Errors)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatal(err)
		}
	}
}

// subscribe opens a graphql-transport-ws connection with token and
// starts query; events are the raw payloads of `next` messages, closed
// when the connection ends.
func (c *child) subscribe(t *testing.T, token, query string) <-chan json.RawMessage {
	t.Helper()
	conn, _, err := (&websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}).Dial("ws"+strings.TrimPrefix(c.url, "http")+"/graphql", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}); err != nil {
		t.Fatal(err)
	}
	var ack struct{ Type string }
	if err := conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("want connection_ack, got %q (%v)", ack.Type, err)
	}
	if err := conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query}}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	out := make(chan json.RawMessage, 16)
	go func() {
		defer close(out)
		for {
			var m struct {
				Type    string
				Payload json.RawMessage
			}
			if err := conn.ReadJSON(&m); err != nil {
				return
			}
			if m.Type == "next" {
				out <- m.Payload
			}
		}
	}()
	return out
}
