package graph

import (
	"encoding/base64"
	"strings"

	"github.com/sessiond/sessiond/graph/gqlmodel"
	"github.com/sessiond/sessiond/internal/apperr"
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

// userFilter parses the users query's paging and filter arguments.
func userFilter(tenantID, search *string, first *int, after *string) (model.UserFilter, error) {
	f := model.UserFilter{TenantID: deref(tenantID), Search: strings.TrimSpace(deref(search)), Limit: defaultPageSize}
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
	}
	return conn
}
