package graph_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph"
	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/app"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// adversarialShapes are the worst documents of at most 1 MiB an anonymous
// caller can send (issue 9), each as a POST body.
func adversarialShapes() map[string]string {
	mib := 1<<20 - 200 // room for the JSON around the query
	wide := make([]string, 20)
	for i := range wide {
		wide[i] = fmt.Sprintf("a%d: me { %s }", i, repeat(99, "permissions", " "))
	}
	return map[string]string{
		"fragment-fan-out-31":       fanOut(31),
		"repeated-field-20000":      "{ " + repeat(20_000, "__typename", " ") + " }",
		"repeated-field-1MiB":       "{ " + strings.Repeat("__typename ", mib/11) + "}",
		"widest-accepted-2000":      "{ " + strings.Join(wide, " ") + " }",
		"directive-flood-1MiB":      "{ __typename " + strings.Repeat("@include(if: true) ", mib/19) + "}",
		"aliased-introspection-300": "{ " + repeat(300, "s%d: __schema { types { name fields { name } } }", " ") + " }",
		"introspection-2-full":      "{ a: __schema { types { name fields { name args { name } } } } b: __schema { types { name fields { name args { name } } } } }",
		"string-argument-1MiB":      `{ __type(name: "` + strings.Repeat("a", mib) + `") { name } }`,
		"comment-1MiB":              "{ __typename }\n#" + strings.Repeat("x", mib),
	}
}

// BenchmarkAdversarialDocuments feeds each adversarial shape to a server
// with the default limits, anonymously, and records the CPU time per
// request (server and client share this process) and the answer's size.
// Targets: ≤ 100 ms of CPU and ≤ 64 KB answered, each.
//
//	go test -run '^$' -bench AdversarialDocuments -benchtime 20x ./graph/
func BenchmarkAdversarialDocuments(b *testing.B) {
	s := graphtest.Start(b)
	shapes := adversarialShapes()
	for _, name := range []string{"fragment-fan-out-31", "repeated-field-20000", "repeated-field-1MiB", "widest-accepted-2000",
		"directive-flood-1MiB", "aliased-introspection-300", "introspection-2-full", "string-argument-1MiB", "comment-1MiB"} {
		body := queryBody(shapes[name])
		b.Run(name, func(b *testing.B) {
			var answered int
			status := 0
			start := cpuTime()
			b.ResetTimer()
			for range b.N {
				res, err := s.HTTP.Client().Post(s.URL, "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				answered, status = int(n), res.StatusCode
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(answered), "answer-bytes")
			b.ReportMetric(float64(len(body)), "request-bytes")
			b.ReportMetric(float64(status), "status")
		})
	}
}

// BenchmarkValidationLimits compares token validation,
// `{ me { session { id } } }`, with every limit on (the defaults) and off,
// on two servers of the same process. Rounds alternate between them (so a
// change in the machine's load hits both alike); each round sends 2 000
// requests from 8 concurrent clients. It reports each side's time per
// request and the throughput ratio on/off. Target: ≥ 0.97.
//
//	go test -run '^$' -bench ValidationLimits -benchtime 10x ./graph/
func BenchmarkValidationLimits(b *testing.B) {
	off := func(cfg *app.Config) {
		cfg.MaxDepth, cfg.MaxComplexity = -1, -1
		cfg.Limits = graph.Limits{
			MaxTokens: -1, MaxFields: -1, MaxSelectionFields: -1, MaxAliases: -1, MaxRootFields: -1, MaxOperations: -1,
			MaxDirectives: -1, MaxIntrospection: -1, MaxErrors: -1, RequestTimeout: -1, BodyReadTimeout: -1,
			QueryCacheBytes: 1 << 30, WSConnsPerIP: -1, WSConns: -1, WSSubscriptions: -1, WSMessageRate: -1, SSEStreamsPerIP: -1,
		}
	}
	type side struct {
		s     *graphtest.Server
		token string
		total time.Duration
	}
	start := func(opts ...graphtest.Option) *side {
		s := graphtest.Start(b, opts...)
		w := s.NewWorkspace("bench")
		return &side{s: s, token: s.CreateSession(w.MemberID, w.TenantID).Token}
	}
	on, offSide := start(), start(off)
	const perRound, workers = 2000, 8
	drive := func(sd *side) {
		body := `{"query":"{ me { session { id } } }"}`
		client := sd.s.HTTP.Client()
		begin := time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range perRound / workers {
					req, _ := http.NewRequest(http.MethodPost, sd.s.URL, strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+sd.token)
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						b.Errorf("status %d", res.StatusCode)
						return
					}
				}
			})
		}
		wg.Wait()
		sd.total += time.Since(begin)
	}
	drive(on) // warm both up
	drive(offSide)
	on.total, offSide.total = 0, 0
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			drive(on)
			drive(offSide)
		} else {
			drive(offSide)
			drive(on)
		}
	}
	b.StopTimer()
	n := float64(b.N * perRound)
	b.ReportMetric(float64(on.total.Nanoseconds())/n, "on-ns/req")
	b.ReportMetric(float64(offSide.total.Nanoseconds())/n, "off-ns/req")
	b.ReportMetric(float64(offSide.total)/float64(on.total), "on/off-throughput")
}
