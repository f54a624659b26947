package graph

import (
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// FuzzDocumentLimits runs the document check on arbitrary documents: it
// must not panic, and it must refuse any document whose expanded field
// count exceeds the limit (checked against a direct count on small ones).
func FuzzDocumentLimits(f *testing.F) {
	for _, seed := range []string{
		"{ __typename }",
		"query { ...F0 } fragment F0 on Query { ...F1 ...F1 } fragment F1 on Query { ...F2 ...F2 } fragment F2 on Query { __typename }",
		"{ ...A } fragment A on Query { ...A }",
		"{ a: __typename b: __typename @include(if: true) }",
		"query A { __typename } query B { __schema { types { name } } }",
		"{ me { ... on Me { permissions ... on Me { permissions } } } }",
		"{ f(a: [[[[1]]]], b: {c: {d: $v}}) }",
	} {
		f.Add(seed)
	}
	lim := Limits{MaxFields: 50, MaxSelectionFields: 20}
	lim.Defaults()
	f.Fuzz(func(t *testing.T, q string) {
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: q}, lim.MaxTokens)
		if err != nil {
			return
		}
		checked := checkDocument(doc, &lim)
		if checked == nil && strings.Count(q, "...") == 0 {
			// Without fragments the expanded count is the written count.
			for _, op := range doc.Operations {
				if n := countFields(op.SelectionSet); n > lim.MaxFields {
					t.Fatalf("accepted %d fields over the limit of %d: %q", n, lim.MaxFields, q)
				}
			}
		}
	})
}

func countFields(set ast.SelectionSet) int {
	n := 0
	for _, sel := range set {
		if f, ok := sel.(*ast.Field); ok {
			n += 1 + countFields(f.SelectionSet)
		}
	}
	return n
}
