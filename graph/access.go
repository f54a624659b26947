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

// visibleSession loads a session the caller may see: any for the admin
// key, its own tenant's for a user. Others answer NOT_FOUND.
func (r *Resolver) visibleSession(ctx context.Context, p auth.Principal, id string) (model.Session, error) {
	s, err := r.Store.Session(ctx, id)
	if err != nil {
		return model.Session{}, err
	}
	if p.Kind != auth.Admin && s.TenantID != p.TenantID {
		return model.Session{}, apperr.Errorf(apperr.NotFound, "session %s not found", id)
	}
	return s, nil
}

// endOne ends one session and returns it as ended; a session that has ended
// already is returned as it is.
func (r *Resolver) endOne(ctx context.Context, p auth.Principal, s model.Session, reason model.EndReason) (*model.Session, error) {
	ended, err := r.Sessions.End(ctx, p.Actor(), model.SessionEnd{ID: s.ID, Reason: reason})
	if err != nil {
		return nil, err
	}
	if len(ended) == 1 {
		return &ended[0], nil
	}
	cur, err := r.Store.Session(ctx, s.ID)
	return orNil(cur, err)
}

// policyScope authorizes a change to a session policy: the admin key on any
// scope ("" is the environment), a permission holder on its own tenant.
func (r *Resolver) policyScope(ctx context.Context, tenantID *string, f auth.Feature) (auth.Principal, string, error) {
	p, err := r.Authz.Require(ctx, f)
	if err != nil {
		return p, "", err
	}
	scope, err := auth.Scope(p, tenantID)
	return p, scope, err
}

// userSessionScope authorizes reading users' sessions: the admin key sees
// every tenant's (""), a Users-permission holder its own tenant's.
func (r *Resolver) userSessionScope(ctx context.Context) (string, error) {
	p, err := r.Authz.Require(ctx, auth.ManageUsers)
	if err != nil {
		return "", err
	}
	if p.Kind == auth.Admin {
		return "", nil
	}
	return p.TenantID, nil
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
	}
	return c
}
