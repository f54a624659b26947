package metrics_test

import (
	"io"
	"net/http/httptest"
	"testing"

	"github.com/sessiond/sessiond/internal/metrics"
)

// BenchmarkScrape is what one read of /metrics costs the server, every
// family present (see docs/benchmarks.md, Operations).
// Cached is a scrape served from the one-second rendering cache.
func BenchmarkScrape(b *testing.B) {
	for _, c := range []struct {
		name string
		o    metrics.HandlerOpts
	}{{"rendered", metrics.HandlerOpts{}}, {"cached", metrics.HandlerOpts{MaxAge: metrics.DefaultMaxAge}}} {
		b.Run(c.name, func(b *testing.B) {
			h := touched().Handler(c.o)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
				_, _ = io.Copy(io.Discard, rec.Body)
			}
		})
	}
}
