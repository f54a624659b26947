package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// The webhooks scenario's receiver runs in a child process (this binary's
// webhook-receiver), as a back end would on another host: its HTTP server
// and JSON decoding are not counted as sessiond's CPU, and with
// -receiver-cpus it runs on cores of its own (taskset), so that it does not
// take CPU from the process under test either.

// webhookReceiver serves /hook, answering at once (recording how long after
// the session's end each arrived) or after holding each request for -hang,
// and /control/* for the parent. It prints "READY <base URL>" and exits
// when its stdin closes (the parent exited).
func webhookReceiver(args []string) error {
	fs := flag.NewFlagSet("webhook-receiver", flag.ExitOnError)
	hang := fs.Duration("hang", 0, "how long to hold each request before answering 503 (0: answer 204 at once)")
	_ = fs.Parse(args)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	r := &hookReceiver{hang: *hang, stop: make(chan struct{}), latency: map[string]time.Duration{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", r.hook)
	mux.HandleFunc("/control/count", func(w http.ResponseWriter, _ *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		fmt.Fprint(w, len(r.latency))
	})
	mux.HandleFunc("/control/take", func(w http.ResponseWriter, _ *http.Request) {
		r.mu.Lock()
		out := make([]time.Duration, 0, len(r.latency))
		for _, l := range r.latency {
			out = append(out, l)
		}
		r.latency = map[string]time.Duration{}
		r.mu.Unlock()
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("/control/release", func(http.ResponseWriter, *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		select {
		case <-r.stop: // released already
		default:
			close(r.stop)
		}
	})
	mux.HandleFunc("/control/rearm", func(http.ResponseWriter, *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.stop = make(chan struct{})
	})
	mux.HandleFunc("/control/cpu", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, int64(cpu()))
	})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Printf("READY http://%s\n", ln.Addr())
	return http.Serve(ln, mux)
}

// hookReceiver is the receiver's state.
type hookReceiver struct {
	hang    time.Duration
	mu      sync.Mutex
	stop    chan struct{}
	latency map[string]time.Duration
}

func (r *hookReceiver) hook(w http.ResponseWriter, req *http.Request) {
	got := time.Now()
	body, _ := io.ReadAll(req.Body)
	if r.hang > 0 {
		r.mu.Lock()
		stop := r.stop
		r.mu.Unlock()
		select {
		case <-time.After(r.hang):
		case <-stop:
		case <-req.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var p struct {
		Data struct {
			Session struct {
				ID      string
				EndedAt *time.Time
			}
		}
	}
	if json.Unmarshal(body, &p) == nil && p.Data.Session.EndedAt != nil {
		r.mu.Lock()
		if _, dup := r.latency[p.Data.Session.ID]; !dup {
			r.latency[p.Data.Session.ID] = got.Sub(*p.Data.Session.EndedAt)
		}
		r.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

// loadReceiver is the parent's handle on a webhook-receiver child.
type loadReceiver struct {
	cmd   *exec.Cmd
	stdin io.Closer
	base  string
	url   string // the webhook URL
}

// newLoadReceiver starts a receiver process holding requests for hang (0:
// answering at once), on the CPUs listed in cpus (taskset -c syntax; ""
// for wherever the scheduler puts it).
func newLoadReceiver(hang time.Duration, cpus string) (*loadReceiver, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	argv := []string{self, "webhook-receiver", "-hang", hang.String()}
	if cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	cmd, stdin, line, err := startChild(argv)
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	base := strings.TrimSpace(strings.TrimPrefix(line, "READY "))
	return &loadReceiver{cmd: cmd, stdin: stdin, base: base, url: base + "/hook"}, nil
}

// startChild starts argv (one of this binary's child roles, perhaps under
// taskset) and returns it, its stdin, and the "READY …" line it prints
// once it serves.
func startChild(argv []string) (*exec.Cmd, io.WriteCloser, string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, "", err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "READY ") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, nil, "", fmt.Errorf("did not start: %q %v", line, err)
	}
	return cmd, stdin, line, nil
}

func (r *loadReceiver) control(path string) ([]byte, error) {
	res, err := http.Get(r.base + "/control/" + path)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	return io.ReadAll(res.Body)
}

// waitLatencies waits until n ends arrived (or d passed) and returns their
// latencies, forgetting them.
func (r *loadReceiver) waitLatencies(n int, d time.Duration) []time.Duration {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		b, err := r.control("count")
		var got int
		if err == nil {
			_, _ = fmt.Sscan(string(b), &got)
		}
		if got >= n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var out []time.Duration
	if b, err := r.control("take"); err == nil {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

// cpu is the CPU time the receiver process has used.
func (r *loadReceiver) cpu() time.Duration {
	b, _ := r.control("cpu")
	var ns int64
	_, _ = fmt.Sscan(string(b), &ns)
	return time.Duration(ns)
}

// release lets held requests go, and answers new ones at once, until rearm.
func (r *loadReceiver) release() { _, _ = r.control("release") }

// rearm makes the receiver hang again.
func (r *loadReceiver) rearm() { _, _ = r.control("rearm") }

func (r *loadReceiver) close() {
	_ = r.stdin.Close()
	_ = r.cmd.Wait()
}
