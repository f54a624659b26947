package graph

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// The query cache holds only documents that passed every limit, and no
// more estimated bytes than its budget. (This test reads the cache itself,
// so it lives inside the package; it needs no resolvers.)
func TestQueryCacheHoldsOnlyPassingDocumentsWithinItsBudget(t *testing.T) {
	lim := Limits{QueryCacheBytes: 1 << 20}
	lim.Defaults()
	cfg := Config{Resolvers: &Resolver{}}
	setComplexity(&cfg.Complexity)
	srv := handler.New(NewExecutableSchema(cfg))
	srv.AddTransport(transport.POST{})
	c := useLimits(srv, &lim, 12, 10_000)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	post := func(q string) int {
		res, err := http.Post(hs.URL, "application/json", strings.NewReader(fmt.Sprintf(`{"query": %q}`, q)))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}

	// Valid, but refused by the cost check after validation.
	costly := `{ users(first: 500) { edges { node { sessions { id device createdAt lastActiveAt } } } } }`
	if got := post(costly); got != http.StatusUnprocessableEntity {
		t.Fatalf("costly document: status %d, want 422 (400 behind the handler)", got)
	}
	if n, _ := c.stats(); n != 0 {
		t.Fatalf("a refused document was cached (%d entries)", n)
	}
	if got := post(`{ __typename }`); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	if n, _ := c.stats(); n != 1 {
		t.Fatalf("a passing document was not cached (%d entries)", n)
	}
	// Distinct documents of ~2 KiB each: the budget holds, not the count.
	for i := range 200 {
		post(fmt.Sprintf(`query Q%d { __typename %s }`, i, strings.Repeat(" ", 2000)))
	}
	n, used := c.stats()
	if used > lim.QueryCacheBytes || n >= 200 {
		t.Fatalf("cache holds %d documents, %d estimated bytes; budget %d", n, used, lim.QueryCacheBytes)
	}
}
