package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// A request whose client has gone (its context is cancelled) is refused
// before parsing, and, when its document is already parsed and cached,
// before the cost walk and execution: no phase spends CPU for nobody.
// (The handler here has no resolvers: a resolver that ran would fail.)
func TestCancelledRequestStopsBeforeEachPhase(t *testing.T) {
	lim := Limits{}
	lim.Defaults()
	cfg := Config{Resolvers: &Resolver{}}
	setComplexity(&cfg.Complexity)
	srv := handler.New(NewExecutableSchema(cfg))
	srv.AddTransport(transport.POST{})
	cache := useLimits(srv, &lim, 12, 1000)

	do := func(ctx context.Context, q string) (int, string, string) {
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/graphql", strings.NewReader(`{"query":"`+q+`"}`))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var res struct {
			Errors []struct {
				Message    string
				Extensions struct{ Limit string }
			}
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &res)
		if len(res.Errors) == 0 {
			return rec.Code, "", rec.Body.String()
		}
		return rec.Code, res.Errors[0].Extensions.Limit, res.Errors[0].Message
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()

	const q = "{ __typename }"
	if _, limit, msg := do(gone, q); limit != "requestTimeout" || !strings.Contains(msg, "cancelled") {
		t.Fatalf("new document from a departed client: want the requestTimeout refusal, got %q %q", limit, msg)
	}
	if cache.contains(q) {
		t.Fatal("a refused document was cached")
	}
	if code, _, body := do(context.Background(), q); code != http.StatusOK || !strings.Contains(body, `"Query"`) {
		t.Fatalf("a present client: want 200 with data, got %d %s", code, body)
	}
	if !cache.contains(q) {
		t.Fatal("the answered document is not cached; the next case would not test the cached path")
	}
	if _, limit, msg := do(gone, q); limit != "requestTimeout" || !strings.Contains(msg, "cancelled") {
		t.Fatalf("cached document from a departed client: want the requestTimeout refusal, got %q %q", limit, msg)
	}
}
