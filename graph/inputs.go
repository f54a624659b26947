package graph

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Longest strings any argument may carry, before the domain's own limits
// on what it stores (names 200 characters, descriptions 2 000, emails 254
// bytes, passwords 1 024 bytes, keys 100; see docs/limits.md). They bound
// what reaches the domain and the database at all.
const (
	maxIDBytes     = 128
	maxStringBytes = 8 << 10
)

// inputCheck refuses, before anything runs, an operation whose string
// arguments or variables are not text: invalid UTF-8 or a NUL byte (which
// the databases refuse, and which no name, key or address may hold), or
// longer than maxIDBytes (IDs) or maxStringBytes. The refusal is a 400
// with BAD_USER_INPUT and extensions.field naming the input field or the
// variable.
//
// login's arguments are the exception: its credentials are checked by the
// login itself after the attempt is counted, so that malformed guesses
// spend the login budget like any other (see session.Login).
type inputCheck struct{ schema *ast.Schema }

var (
	_ graphql.HandlerExtension        = inputCheck{}
	_ graphql.OperationContextMutator = inputCheck{}
)

func (inputCheck) ExtensionName() string                   { return "InputCheck" }
func (inputCheck) Validate(graphql.ExecutableSchema) error { return nil }

func (c inputCheck) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Doc == nil {
		return nil
	}
	loginVars := map[string]bool{}
	sets := []ast.SelectionSet{oc.Operation.SelectionSet}
	for _, f := range oc.Doc.Fragments {
		sets = append(sets, f.SelectionSet) // each fragment once, however often spread
	}
	mutation := oc.Operation.Operation == ast.Mutation
	for i, set := range sets {
		// The operation's own selections, and fragments on Mutation, are the
		// mutation's root fields.
		root := mutation && (i == 0 || oc.Doc.Fragments[i-1].TypeCondition == "Mutation")
		if err := c.checkSelections(set, oc.Variables, root, loginVars); err != nil {
			return err
		}
	}
	for _, v := range oc.Operation.VariableDefinitions {
		if loginVars[v.Variable] {
			continue
		}
		if val, ok := oc.Variables[v.Variable]; ok {
			if err := c.checkValue(v.Variable, v.Type, val, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSelections checks the arguments of every field in set; root says
// set is a mutation's root, where login is left to its own check.
func (c inputCheck) checkSelections(set ast.SelectionSet, vars map[string]any, root bool, loginVars map[string]bool) *gqlerror.Error {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if root && s.Name == "login" {
				for _, a := range s.Arguments {
					collectVariables(a.Value, loginVars)
				}
				continue
			}
			for _, a := range s.Arguments {
				var typ *ast.Type
				if s.Definition != nil {
					if d := s.Definition.Arguments.ForName(a.Name); d != nil {
						typ = d.Type
					}
				}
				val, err := a.Value.Value(vars)
				if err != nil {
					continue // the validator has answered already
				}
				if err := c.checkValue(a.Name, typ, val, 0); err != nil {
					return err
				}
			}
			if err := c.checkSelections(s.SelectionSet, vars, false, loginVars); err != nil {
				return err
			}
		case *ast.InlineFragment:
			if err := c.checkSelections(s.SelectionSet, vars, root, loginVars); err != nil {
				return err
			}
		case *ast.FragmentSpread:
			// Fragment definitions are checked once each by the caller.
		}
	}
	return nil
}

// checkValue walks a decoded argument or variable value of type typ.
func (c inputCheck) checkValue(field string, typ *ast.Type, v any, depth int) *gqlerror.Error {
	if depth > 32 {
		return nil // deeper than any input type; the validator bounds it
	}
	switch x := v.(type) {
	case string:
		limit := maxStringBytes
		if typ != nil && typ.Name() == "ID" {
			limit = maxIDBytes
		}
		switch {
		case !utf8.ValidString(x):
			return badInput(field, "%s must be valid UTF-8", field)
		case strings.IndexByte(x, 0) >= 0:
			return badInput(field, "%s must not contain NUL characters", field)
		case len(x) > limit:
			return badInput(field, "%s must be at most %d bytes", field, limit)
		}
	case []any:
		var elem *ast.Type
		if typ != nil {
			elem = typ.Elem
		}
		for _, e := range x {
			if err := c.checkValue(field, elem, e, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		var def *ast.Definition
		if typ != nil && c.schema != nil {
			def = c.schema.Types[typ.Name()]
		}
		for k, e := range x {
			var ft *ast.Type
			if def != nil {
				if f := def.Fields.ForName(k); f != nil {
					ft = f.Type
				}
			}
			if err := c.checkValue(k, ft, e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func collectVariables(v *ast.Value, into map[string]bool) {
	if v == nil {
		return
	}
	if v.Kind == ast.Variable {
		into[v.Raw] = true
	}
	for _, c := range v.Children {
		collectVariables(c.Value, into)
	}
}

// badInput is a request error the presenter answers as BAD_USER_INPUT
// (status 400) with extensions.field.
func badInput(field, format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    fmt.Sprintf(format, args...),
		Extensions: map[string]any{"code": errcode.ValidationFailed, "field": field},
	}
}
