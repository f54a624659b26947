package graph

import (
	"container/list"
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// docBytesPerQueryByte estimates a parsed and validated document's memory
// from its text: measured at about 28-30 bytes of heap per byte of query
// for large documents (issue 9), rounded up.
const docBytesPerQueryByte = 32

// docOverhead is the fixed part of a cached entry's estimated memory.
const docOverhead = 1024

// docCache is gqlgen's parsed-query cache, bounded by the estimated memory
// of the documents it holds rather than by their count, and filled only
// with documents that passed every limit: gqlgen adds a document as soon
// as it validates, before the depth and cost checks run, so Add only
// parks it on the operation and cacheCommit (the last check) stores it.
type docCache struct {
	max int64

	mu    sync.Mutex
	used  int64
	order *list.List // front: most recently used
	items map[string]*list.Element
}

type docEntry struct {
	query string
	doc   *ast.QueryDocument
	size  int64
}

func newDocCache(maxBytes int64) *docCache {
	return &docCache{max: maxBytes, order: list.New(), items: map[string]*list.Element{}}
}

var _ graphql.Cache[*ast.QueryDocument] = (*docCache)(nil)

func docSize(query string) int64 { return docOverhead + docBytesPerQueryByte*int64(len(query)) }

// Get returns a cached document that passed every limit.
func (c *docCache) Get(_ context.Context, query string) (*ast.QueryDocument, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[query]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*docEntry).doc, true
}

const pendingDocKey = "sessiond.pendingDocument"

// Add parks a freshly validated document on its operation; cacheCommit
// stores it once the remaining checks have passed.
func (c *docCache) Add(ctx context.Context, _ string, doc *ast.QueryDocument) {
	if oc := graphql.GetOperationContext(ctx); oc != nil {
		oc.Stats.SetExtension(pendingDocKey, doc)
	}
}

func (c *docCache) contains(query string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.items[query]
	return ok
}

// store adds a document, evicting the least recently used ones to stay
// within the byte budget. A document larger than an eighth of the budget
// is not kept: it would evict many small, frequent ones.
func (c *docCache) store(query string, doc *ast.QueryDocument) {
	size := docSize(query)
	if c.max <= 0 || size > c.max/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[query]; ok {
		return
	}
	c.items[query] = c.order.PushFront(&docEntry{query: query, doc: doc, size: size})
	c.used += size
	for c.used > c.max {
		el := c.order.Back()
		e := el.Value.(*docEntry)
		c.order.Remove(el)
		delete(c.items, e.query)
		c.used -= e.size
	}
}

// stats reports the entries and estimated bytes held, for tests.
func (c *docCache) stats() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items), c.used
}

// cacheCommit is the last operation check: a document that reached it
// passed every limit, so it may be cached.
type cacheCommit struct{ cache *docCache }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = cacheCommit{}

func (cacheCommit) ExtensionName() string                   { return "QueryCacheCommit" }
func (cacheCommit) Validate(graphql.ExecutableSchema) error { return nil }

func (c cacheCommit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if doc, ok := oc.Stats.GetExtension(pendingDocKey).(*ast.QueryDocument); ok && doc != nil {
		c.cache.store(oc.RawQuery, doc)
	}
	return nil
}
