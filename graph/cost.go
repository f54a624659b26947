package graph

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// assumedListSize is what a list without a page size is costed at: the
// roles, permissions and memberships of one user or role, a user's
// sessions. Real lists are usually shorter; a longer one still costs at
// most what the limit allows per element.
const assumedListSize = 5

// assumedSessions is what a list of one user's sessions is costed at.
const assumedSessions = 10

// setComplexity makes list fields cost their size times their selection.
// Connections are costed by the cost walker instead: their `edges` cost
// the connection's `first` times their selection, so
// `users(first: 500) { edges { node { sessions { id } } } }` is costed as
// the 500 users and their sessions it fetches rather than as 5 fields,
// while `users(first: 500) { totalCount }` stays cheap.
func setComplexity(c *ComplexityRoot) {
	list := func(child int) int { return listCost(assumedListSize, child) }
	c.Query.MySessions = func(child int) int { return listCost(assumedSessions, child) }
	c.User.Sessions = func(child int, _ *bool) int { return listCost(assumedSessions, child) }
	c.Query.Tenants = list
	c.Query.Roles = list
	c.Query.Permissions = list
	c.User.Memberships = list
	c.Membership.Roles = list
	c.Membership.Permissions = list
	c.Role.Permissions = list
	c.Permission.Roles = list
	c.Me.Roles = list
	c.Me.Permissions = list
	c.SessionPolicyPayload.Warnings = list
	c.SessionPolicyPreview.Warnings = list
}

// pageSize is a connection's `first` as the resolvers read it: 50 when
// absent, at most 500.
func pageSize(first any) int {
	n := int64(defaultPageSize)
	switch v := first.(type) {
	case int:
		n = int64(v)
	case int64:
		n = v
	case float64:
		n = int64(v)
	case json.Number:
		if i, err := v.Int64(); err == nil {
			n = i
		}
	}
	return int(min(max(n, 0), maxPageSize))
}

// listCost is one for the list plus n times an element's cost (at least 1).
func listCost(n, child int) int {
	return satAdd(1, satMul(n, max(child, 1)))
}

func satMul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	c := a * b
	if c/b != a || c < 0 {
		return int(^uint(0) >> 1)
	}
	return c
}

// costLimit refuses operations that cost more than max before they run.
// It replaces gqlgen's FixedComplexityLimit for two reasons: that one
// skips introspection entirely (300 aliased __schema selections cost
// nothing) and answers 200 where other refusals answer 400. Fragments are
// costed once each: a fragment's cost does not depend on where it is
// spread.
type costLimit struct {
	max int
	es  graphql.ExecutableSchema
	// costed holds the fields that have a complexity function. The
	// generated Complexity allocates on every call (a string key and an
	// execution context), so the walker asks it only about these.
	costed map[typeField]bool
}

type typeField struct{ typ, field string }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = (*costLimit)(nil)

func (*costLimit) ExtensionName() string { return "CostLimit" }

func (c *costLimit) Validate(es graphql.ExecutableSchema) error {
	c.es = es
	c.costed = map[typeField]bool{}
	for _, t := range es.Schema().Types {
		if t.Kind != ast.Object {
			continue
		}
		for _, f := range t.Fields {
			// Every costed field's arguments are optional, so asking with
			// none answers whether a function is set.
			if _, ok := es.Complexity(context.Background(), t.Name, f.Name, 1, nil); ok {
				c.costed[typeField{t.Name, f.Name}] = true
			}
		}
	}
	return nil
}

func (c *costLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if err := ctx.Err(); err != nil {
		return gone(err)
	}
	if oc.Operation == nil || c.max <= 0 {
		return nil
	}
	w := costWalker{es: c.es, costed: c.costed, schema: c.es.Schema(), vars: oc.Variables}
	if cost := w.set(ctx, oc.Operation.SelectionSet); cost > c.max {
		return limitError(oc.Operation.Position, "complexity", "the operation costs %d; the limit is %d (a field costs 1, a list its page size, or %d, times its selection)", cost, c.max, assumedListSize)
	}
	return nil
}

type costWalker struct {
	es     graphql.ExecutableSchema
	costed map[typeField]bool
	schema *ast.Schema
	vars   map[string]any
	memo   map[fragmentAt]int
	page   int // page size of the connection being walked, 0 outside one
}

// fragmentAt is a fragment spread at a page size: inside a connection its
// edges cost that many times.
type fragmentAt struct {
	name string
	page int
}

func (w *costWalker) set(ctx context.Context, set ast.SelectionSet) int {
	total := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			total = satAdd(total, w.field(ctx, s))
		case *ast.InlineFragment:
			total = satAdd(total, w.set(ctx, s.SelectionSet))
		case *ast.FragmentSpread:
			if s.Definition == nil {
				continue
			}
			key := fragmentAt{s.Name, w.page}
			cost, ok := w.memo[key]
			if !ok {
				if w.memo == nil { // made at the first spread: most operations have none
					w.memo = map[fragmentAt]int{}
				}
				w.memo[key] = 0 // cycles were refused before; stay finite anyway
				cost = w.set(ctx, s.Definition.SelectionSet)
				w.memo[key] = cost
			}
			total = satAdd(total, cost)
		}
	}
	return total
}

// field costs one field: the schema's complexity function where one is
// set, else 1 plus its selection, introspection fields included.
func (w *costWalker) field(ctx context.Context, f *ast.Field) int {
	var args map[string]any
	if len(f.Arguments) > 0 {
		args = f.ArgumentMap(w.vars)
	}
	page := w.page
	w.page = 0
	if f.Definition != nil && strings.HasSuffix(f.Definition.Type.Name(), "Connection") {
		w.page = pageSize(args["first"])
	}
	child := w.set(ctx, f.SelectionSet)
	w.page = page
	if page > 0 && f.Name == "edges" {
		return listCost(page, child)
	}
	if f.ObjectDefinition == nil {
		return satAdd(1, child)
	}
	if k := f.ObjectDefinition.Kind; k == ast.Interface || k == ast.Union {
		cost := 0
		for _, t := range w.schema.GetPossibleTypes(f.ObjectDefinition) { // the costliest implementation counts
			cost = max(cost, w.complexity(ctx, t.Name, f.Name, child, args))
		}
		return cost
	}
	return w.complexity(ctx, f.ObjectDefinition.Name, f.Name, child, args)
}

// complexity is the schema's complexity function for typeName.field, or
// 1 plus the selection where none is set.
func (w *costWalker) complexity(ctx context.Context, typeName, field string, child int, args map[string]any) int {
	if !w.costed[typeField{typeName, field}] {
		return satAdd(1, child)
	}
	c, ok := w.es.Complexity(ctx, typeName, field, child, args)
	if !ok || c < 1 {
		return satAdd(1, child)
	}
	return c
}
