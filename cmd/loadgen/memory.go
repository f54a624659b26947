package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sessiond/sessiond/graph"
	"github.com/sessiond/sessiond/internal/app"
)

// serve runs a server in this (child) process for the memory scenario:
// sessiond with a seeded session, or a bare gorilla/websocket echo server.
// It prints "READY <base URL> <token>" and serves /debug/mem.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	mode := fs.String("mode", "sessiond", "sessiond or echo")
	_ = fs.Parse(args)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/mem", func(w http.ResponseWriter, _ *http.Request) {
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		status, _ := os.ReadFile("/proc/self/status")
		_ = json.NewEncoder(w).Encode(memStats{HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse, Sys: ms.Sys, Goroutines: runtime.NumGoroutine(), RSS: parseRSS(string(status))})
	})
	mux.HandleFunc("/debug/heap", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		_ = pprof.Lookup("heap").WriteTo(w, 0)
	})
	mux.HandleFunc("/debug/goroutines", func(w http.ResponseWriter, _ *http.Request) {
		_ = pprof.Lookup("goroutine").WriteTo(w, 1)
	})
	token := "-"
	switch *mode {
	case "echo":
		up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
		mux.HandleFunc("/graphql", func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					t, b, err := c.ReadMessage()
					if err != nil || c.WriteMessage(t, b) != nil {
						return
					}
				}
			}()
		})
	case "sessiond":
		in, err := start(context.Background(), app.Config{})
		if err != nil {
			return err
		}
		tenant, users, err := in.seed(1)
		if err != nil {
			return err
		}
		if token, err = in.createSession(users[0], tenant); err != nil {
			return err
		}
		mux.Handle("/graphql", graph.NewServer(in.app))
	default:
		return fmt.Errorf("unknown mode %q", *mode)
	}
	fmt.Printf("READY %s %s\n", base, token)
	return http.Serve(ln, mux)
}

// memory compares the memory per idle websocket connection holding one
// subscription with that of a bare gorilla/websocket echo connection.
func memory(args []string) error {
	fs := flag.NewFlagSet("memory", flag.ExitOnError)
	n := fs.Int("conns", 10000, "connections per server")
	_ = fs.Parse(args)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	type row struct {
		mode              string
		rss, heap, stack  float64
		goroutinesPerConn float64
	}
	var rows []row
	for _, mode := range []string{"echo", "sessiond"} {
		cmd, _, line, err := startChild([]string{self, "serve", "-mode", mode})
		if err != nil {
			return fmt.Errorf("%s server: %w", mode, err)
		}
		f := strings.Fields(line)
		base, token := f[1], f[2]
		time.Sleep(200 * time.Millisecond)
		before, err := getMem(base)
		if err != nil {
			_ = cmd.Process.Kill()
			return err
		}
		conns := make([]*websocket.Conn, 0, *n)
		ws := wsURLOf(base + "/graphql")
		for i := 0; i < *n; i++ {
			if mode == "echo" {
				c, _, err := websocket.DefaultDialer.Dial(ws, nil)
				if err != nil {
					_ = cmd.Process.Kill()
					return fmt.Errorf("echo connection %d: %w", i, err)
				}
				if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
					return err
				}
				if _, _, err := c.ReadMessage(); err != nil {
					return err
				}
				conns = append(conns, c)
				continue
			}
			s, err := subscribe(ws, token, terminatedQuery)
			if err != nil {
				_ = cmd.Process.Kill()
				return fmt.Errorf("sessiond connection %d: %w", i, err)
			}
			conns = append(conns, s.conn)
		}
		time.Sleep(2 * time.Second)
		if os.Getenv("LOADGEN_GOROUTINES") != "" {
			if res, err := http.Get(base + "/debug/goroutines"); err == nil {
				f, _ := os.Create(os.Getenv("LOADGEN_GOROUTINES") + "." + mode)
				_, _ = io.Copy(f, res.Body)
				f.Close()
				res.Body.Close()
			}
		}
		if os.Getenv("LOADGEN_HEAP_PROFILE") != "" {
			if res, err := http.Get(base + "/debug/heap"); err == nil {
				f, _ := os.Create(os.Getenv("LOADGEN_HEAP_PROFILE") + "." + mode)
				_, _ = io.Copy(f, res.Body)
				f.Close()
				res.Body.Close()
			}
		}
		after, err := getMem(base)
		if err != nil {
			_ = cmd.Process.Kill()
			return err
		}
		rows = append(rows, row{
			mode:              mode,
			rss:               float64(after.RSS-before.RSS) / float64(*n),
			heap:              float64(after.HeapInuse-before.HeapInuse) / float64(*n),
			stack:             float64(after.StackInuse-before.StackInuse) / float64(*n),
			goroutinesPerConn: float64(after.Goroutines-before.Goroutines) / float64(*n),
		})
		for _, c := range conns {
			c.Close()
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	fmt.Printf("memory per idle websocket connection, %d connections per server (server process only):\n", *n)
	fmt.Printf("%-44s %12s %12s %12s %14s\n", "server", "RSS/conn", "heap/conn", "stack/conn", "goroutines/conn")
	for _, r := range rows {
		name := "bare gorilla/websocket echo"
		if r.mode == "sessiond" {
			name = "sessiond, one sessionTerminated subscription"
		}
		fmt.Printf("%-44s %8.1f KiB %8.1f KiB %8.1f KiB %14.2f\n", name, r.rss/1024, r.heap/1024, r.stack/1024, r.goroutinesPerConn)
	}
	if len(rows) == 2 && rows[0].rss > 0 {
		fmt.Printf("sessiond / bare: RSS %.2f×, heap %.2f×\n", rows[1].rss/rows[0].rss, rows[1].heap/rows[0].heap)
	}
	return nil
}
