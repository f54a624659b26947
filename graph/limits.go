package graph

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond/internal/limits"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/sessiond/sessiond/graph/wstransport"
	"github.com/sessiond/sessiond/internal/apperr"
)

// Limits bound what one document, request or connection may cost (see
// internal/limits); the alias keeps graph.Limits for embedders.
type Limits = limits.Limits

// DefaultLimits are the limits a zero Limits takes.
var DefaultLimits = limits.Default

// limitError is a refusal of a document: answered 400 (errcode
// ValidationFailed is a protocol error to gqlgen's transports), shown as
// BAD_USER_INPUT by the presenter, with extensions.limit naming the limit.
func limitError(pos *ast.Position, limit, format string, args ...any) *gqlerror.Error {
	err := &gqlerror.Error{
		Message:    fmt.Sprintf(format, args...),
		Extensions: map[string]any{"code": errcode.ValidationFailed, "limit": limit},
	}
	if pos != nil {
		err.Locations = []gqlerror.Location{{Line: pos.Line, Column: pos.Column}}
	}
	return err
}

// documentLimits checks a document's shape before gqlgen validates it:
// one linear walk over the parsed document, each fragment walked once, so
// that nothing later (validation, depth, cost, execution) can go quadratic
// or exponential. Documents already in the query cache passed it before.
type documentLimits struct {
	lim   *Limits
	cache *docCache
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = documentLimits{}

func (documentLimits) ExtensionName() string                   { return "DocumentLimits" }
func (documentLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (d documentLimits) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if d.cache.contains(p.Query) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return gone(err)
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, max(d.lim.MaxTokens, 0))
	if err != nil {
		ge, ok := err.(*gqlerror.Error)
		if !ok {
			ge = gqlerror.Wrap(err)
		}
		if strings.HasPrefix(ge.Message, "exceeded token limit") {
			return limitError(nil, "tokens", "the document has more than %d tokens, the limit", d.lim.MaxTokens)
		}
		errcode.Set(ge, errcode.ParseFailed) // as gqlgen's own parse would
		return ge
	}
	return checkDocument(doc, d.lim)
}

// gone answers a request whose client went away or whose time ran out.
func gone(err error) *gqlerror.Error {
	msg := "the request was cancelled"
	if err == context.DeadlineExceeded {
		msg = "the request ran out of time"
	}
	return limitError(nil, "requestTimeout", "%s", msg)
}

// shape is what a selection set costs to check, expanded.
type shape struct {
	fields, aliases, introspection int
	width                          int // fields at this level, fragments merged
}

func (s *shape) add(o shape) {
	s.fields = satAdd(s.fields, o.fields)
	s.aliases = satAdd(s.aliases, o.aliases)
	s.introspection = satAdd(s.introspection, o.introspection)
	s.width = satAdd(s.width, o.width)
}

type docChecker struct {
	lim        *Limits
	frags      map[string]*ast.FragmentDefinition
	memo       map[string]shape
	visiting   map[string]bool
	directives int
	err        *gqlerror.Error
}

func checkDocument(doc *ast.QueryDocument, lim *Limits) *gqlerror.Error {
	if n := len(doc.Operations); lim.MaxOperations > 0 && n > lim.MaxOperations {
		return limitError(nil, "operations", "the document has %d operations; the limit is %d", n, lim.MaxOperations)
	}
	c := &docChecker{lim: lim, frags: make(map[string]*ast.FragmentDefinition, len(doc.Fragments)),
		memo: map[string]shape{}, visiting: map[string]bool{}}
	for _, f := range doc.Fragments {
		if _, dup := c.frags[f.Name]; !dup {
			c.frags[f.Name] = f // duplicates are the validator's to report
		}
	}
	for _, op := range doc.Operations {
		c.countDirectives(op.Directives, op.Position)
		for _, v := range op.VariableDefinitions {
			c.countDirectives(v.Directives, v.Position)
		}
		s := c.selectionSet(op.SelectionSet)
		if c.err != nil {
			return c.err
		}
		switch {
		case lim.MaxRootFields > 0 && s.width > lim.MaxRootFields:
			return limitError(op.Position, "rootFields", "the operation has %d top-level fields; the limit is %d", s.width, lim.MaxRootFields)
		case lim.MaxAliases > 0 && s.aliases > lim.MaxAliases:
			return limitError(op.Position, "aliases", "the operation has %d aliased fields; the limit is %d", s.aliases, lim.MaxAliases)
		case s.introspection > 0 && lim.DisableIntrospection:
			return &gqlerror.Error{
				Message:    "introspection is turned off on this server",
				Locations:  []gqlerror.Location{{Line: op.Position.Line, Column: op.Position.Column}},
				Extensions: map[string]any{"code": errcode.ValidationFailed},
				Err:        apperr.Errorf(apperr.FeatureDisabled, "introspection is turned off on this server"),
			}
		case lim.MaxIntrospection > 0 && s.introspection > lim.MaxIntrospection:
			return limitError(op.Position, "introspection", "the operation has %d __schema or __type fields; the limit is %d", s.introspection, lim.MaxIntrospection)
		}
	}
	// Fragments no operation uses are validated too: bound them alike.
	for _, f := range doc.Fragments {
		c.fragment(f.Name, f.Position)
		if c.err != nil {
			return c.err
		}
	}
	return nil
}

func (c *docChecker) countDirectives(list ast.DirectiveList, pos *ast.Position) {
	c.directives += len(list)
	if c.err == nil && c.lim.MaxDirectives > 0 && c.directives > c.lim.MaxDirectives {
		c.err = limitError(pos, "directives", "the document has more than %d directives, the limit", c.lim.MaxDirectives)
	}
}

func (c *docChecker) tooMany(s shape, pos *ast.Position) bool {
	if c.err != nil {
		return true
	}
	if c.lim.MaxFields > 0 && s.fields > c.lim.MaxFields {
		c.err = limitError(pos, "fields", "the operation selects more than %d fields once its fragments are expanded; the limit is %d", c.lim.MaxFields, c.lim.MaxFields)
	}
	return c.err != nil
}

func (c *docChecker) selectionSet(set ast.SelectionSet) shape {
	var s shape
	for _, sel := range set {
		if c.err != nil {
			return s
		}
		switch x := sel.(type) {
		case *ast.Field:
			c.countDirectives(x.Directives, x.Position)
			own := shape{fields: 1, width: 1}
			if x.Alias != "" && x.Alias != x.Name {
				own.aliases = 1
			}
			if x.Name == "__schema" || x.Name == "__type" {
				own.introspection = 1
			}
			child := c.selectionSet(x.SelectionSet)
			if c.err != nil {
				return s
			}
			c.checkWidth(child.width, x.Position)
			child.width = 0
			own.add(child)
			s.add(own)
		case *ast.InlineFragment:
			c.countDirectives(x.Directives, x.Position)
			s.add(c.selectionSet(x.SelectionSet))
		case *ast.FragmentSpread:
			c.countDirectives(x.Directives, x.Position)
			s.add(c.fragment(x.Name, x.Position))
		}
		if c.tooMany(s, sel.GetPosition()) {
			return s
		}
	}
	return s
}

// fragment returns a fragment's shape, walking it only the first time.
func (c *docChecker) fragment(name string, pos *ast.Position) shape {
	if s, ok := c.memo[name]; ok {
		return s
	}
	f := c.frags[name]
	if f == nil {
		return shape{} // unknown fragment: the validator reports it
	}
	if c.visiting[name] {
		c.err = limitError(pos, "fragmentCycle", "fragment %q spreads itself", name)
		return shape{}
	}
	c.visiting[name] = true
	c.countDirectives(f.Directives, f.Position)
	s := c.selectionSet(f.SelectionSet)
	delete(c.visiting, name)
	c.checkWidth(s.width, f.Position)
	c.memo[name] = s
	return s
}

func (c *docChecker) checkWidth(width int, pos *ast.Position) {
	if c.err == nil && c.lim.MaxSelectionFields > 0 && width > c.lim.MaxSelectionFields {
		c.err = limitError(pos, "selectionFields", "a selection set has %d fields (counting its fragments'); the limit is %d", width, c.lim.MaxSelectionFields)
	}
}

// satAdd adds without overflowing: an attacker must not wrap a count around.
func satAdd(a, b int) int {
	if c := a + b; c >= a {
		return c
	}
	return int(^uint(0) >> 1)
}

// capErrors keeps the first max errors of a response and replaces the
// rest with one error that says how many were left out, so a document
// that provokes thousands of errors gets a small answer.
func capErrors(max int) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		if resp == nil || max <= 0 || len(resp.Errors) <= max {
			return resp
		}
		omitted := len(resp.Errors) - max
		code := any(string(apperr.BadUserInput))
		if c, ok := resp.Errors[max].Extensions["code"]; ok {
			code = c
		}
		resp.Errors = append(resp.Errors[:max:max], &gqlerror.Error{
			Message:    fmt.Sprintf("%d more errors omitted", omitted),
			Extensions: map[string]any{"code": code},
		})
		return resp
	}
}

// useLimits installs the document limits on gqlgen's server: the bounded
// query cache, the parser's token limit, the shape check before
// validation, the depth and cost checks after it, the cache commit last,
// and the cap on errors per response. Introspection is served unless the
// limits turn it off. It returns the cache, for tests.
func useLimits(srv *handler.Server, lim *Limits, maxDepth, maxComplexity int) *docCache {
	cache := newDocCache(lim.QueryCacheBytes)
	srv.SetQueryCache(cache)
	srv.SetParserTokenLimit(max(lim.MaxTokens, 0))
	if !lim.DisableIntrospection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(documentLimits{lim: lim, cache: cache})
	srv.Use(depthLimit{max: maxDepth})
	srv.Use(&costLimit{max: maxComplexity})
	srv.Use(cacheCommit{cache: cache}) // keep last: only documents that passed everything
	srv.AroundResponses(capErrors(lim.MaxErrors))
	return cache
}

// limitWebsockets applies the websocket limits to the transport.
func limitWebsockets(t *wstransport.Transport, lim *Limits, clientIP func(*http.Request) string) *wstransport.Transport {
	t.ReadLimit = lim.WSMessageBytes
	t.MaxConnsPerIP, t.MaxConns = max(lim.WSConnsPerIP, 0), max(lim.WSConns, 0)
	t.MaxOperations = max(lim.WSSubscriptions, 0)
	t.MessageRate = max(lim.WSMessageRate, 0)
	t.OperationTimeout = max(lim.RequestTimeout, 0)
	t.ClientIP = clientIP
	return t
}
