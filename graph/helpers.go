package graph

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/sessiond/sessiond/graph/gqlmodel"
	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/auth"
	"github.com/sessiond/sessiond/internal/model"
)

// orNil returns a pointer to v, or nil with the error.
func orNil[T any](v T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// goneIsNil answers null for a related object that has been deleted.
func goneIsNil[T any](v T, err error) (*T, error) {
	if apperr.CodeOf(err) == apperr.NotFound {
		return nil, nil
	}
	return orNil(v, err)
}

// done turns an error-only result into a Boolean! field.
func done(err error) (bool, error) { return err == nil, err }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// Page sizes of list queries.
const (
	defaultPageSize = 50
	maxPageSize     = 500
	cursorPrefix    = "user:"
)

func encodeCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + id))
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) || len(b) == len(cursorPrefix) {
		return "", apperr.Invalid("after", "after is not a cursor returned by this API")
	}
	return strings.TrimPrefix(string(b), cursorPrefix), nil
}

// caller is the request's principal, as internal/auth authenticated it.
func caller(ctx context.Context) auth.Principal { return auth.PrincipalFrom(ctx) }

// userFilter parses the users query's paging and filter arguments.
func userFilter(search *string, first *int, after *string) (model.UserFilter, error) {
	f := model.UserFilter{Search: strings.TrimSpace(deref(search)), Limit: defaultPageSize}
	if first != nil {
		if *first < 0 || *first > maxPageSize {
			return f, apperr.Invalid("first", "first must be between 0 and %d", maxPageSize)
		}
		f.Limit = *first
	}
	if after != nil && *after != "" {
		id, err := decodeCursor(*after)
		if err != nil {
			return f, err
		}
		f.AfterID = id
	}
	return f, nil
}

func userConnection(page model.UserPage) *gqlmodel.UserConnection {
	conn := &gqlmodel.UserConnection{
		Edges:      make([]*gqlmodel.UserEdge, len(page.Users)),
		PageInfo:   &gqlmodel.PageInfo{HasNextPage: page.HasNextPage},
		TotalCount: page.TotalCount,
	}
	for i := range page.Users {
		conn.Edges[i] = &gqlmodel.UserEdge{Cursor: encodeCursor(page.Users[i].ID), Node: &page.Users[i]}
	}
	if n := len(page.Users); n > 0 {
		end := conn.Edges[n-1].Cursor
		conn.PageInfo.EndCursor = &end
	} else {
		// No edge, no cursor to continue from (first: 0 asks for the
		// count only): say there is no next page rather than promise one
		// that no endCursor leads to.
		conn.PageInfo.HasNextPage = false
	}
	return conn
}

const auditCursorPrefix = "audit:"

func auditPage(first *int, after *string) (int, string, error) {
	limit := defaultPageSize
	if first != nil {
		if *first < 0 || *first > maxPageSize {
			return 0, "", apperr.Invalid("first", "first must be between 0 and %d", maxPageSize)
		}
		limit = *first
	}
	if after == nil || *after == "" {
		return limit, "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*after)
	if err != nil || !strings.HasPrefix(string(b), auditCursorPrefix) {
		return 0, "", apperr.Invalid("after", "after is not a cursor returned by this API")
	}
	return limit, strings.TrimPrefix(string(b), auditCursorPrefix), nil
}

func auditConnection(entries []model.AuditEntry, more bool) *gqlmodel.AuditEntryConnection {
	c := &gqlmodel.AuditEntryConnection{Edges: make([]*gqlmodel.AuditEntryEdge, len(entries)), PageInfo: &gqlmodel.PageInfo{HasNextPage: more}}
	for i := range entries {
		cur := base64.RawURLEncoding.EncodeToString([]byte(auditCursorPrefix + entries[i].ID))
		c.Edges[i] = &gqlmodel.AuditEntryEdge{Cursor: cur, Node: &entries[i]}
	}
	if n := len(c.Edges); n > 0 {
		end := c.Edges[n-1].Cursor
		c.PageInfo.EndCursor = &end
	} else {
		c.PageInfo.HasNextPage = false
	}
	return c
}
