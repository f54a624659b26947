package graph

import (
	"context"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// depthLimit refuses operations nested deeper than max before they run.
// Introspection fields (__schema, __type) are not counted, so the
// playground's schema query always works.
type depthLimit struct{ max int }

var (
	_ graphql.HandlerExtension        = depthLimit{}
	_ graphql.OperationContextMutator = depthLimit{}
)

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || d.max <= 0 {
		return nil
	}
	if depth := selectionDepth(oc.Operation.SelectionSet, new(map[string]int)); depth > d.max {
		return &gqlerror.Error{
			Message:    fmt.Sprintf("the operation is nested %d levels deep; the limit is %d", depth, d.max),
			Extensions: map[string]any{"code": errcode.ValidationFailed}, // answered 400; the presenter shows BAD_USER_INPUT
		}
	}
	return nil
}

// selectionDepth is the depth of set. Each fragment is measured once and
// remembered in memo: its depth does not depend on where it is spread, and
// walking it again at every spread is exponential in a document whose
// fragments each spread the next one twice. A fragment met again while it
// is being measured (a cycle, refused by validation) counts as 0. The map
// is made at the first spread: most operations have none, and this check
// runs on every request.
func selectionDepth(set ast.SelectionSet, memo *map[string]int) int {
	deepest := 0
	for _, sel := range set {
		d := 0
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue
			}
			d = 1 + selectionDepth(s.SelectionSet, memo)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, memo)
		case *ast.FragmentSpread:
			if s.Definition == nil {
				continue
			}
			var ok bool
			if d, ok = (*memo)[s.Name]; !ok {
				if *memo == nil {
					*memo = map[string]int{}
				}
				(*memo)[s.Name] = 0 // while measuring: a cycle stops here
				d = selectionDepth(s.Definition.SelectionSet, memo)
				(*memo)[s.Name] = d
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}
