package graph

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vikstrous/dataloadgen"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/auth"
	"github.com/sessiond/sessiond/internal/directory"
	"github.com/sessiond/sessiond/internal/model"
)

// source is what the loaders batch: the directory's related-record
// lookups, and active-session counts scoped by the request's caller.
type source struct {
	batch  directory.Reader
	counts func(ctx context.Context, p auth.Principal, userIDs []string) (map[string]int, error)
}

func sourceOf(d Deps) source {
	return source{batch: d.Directory.Batch(), counts: d.Sessions.ActiveCounts}
}

// loaders batch the related-data lookups of one request, so a list of N
// users with their memberships, roles and permissions costs a few queries,
// not N.
type loaders struct {
	tenant          *dataloadgen.Loader[string, model.Tenant]
	user            *dataloadgen.Loader[string, model.User]
	memberships     *dataloadgen.Loader[string, []model.Membership]
	membershipRoles *dataloadgen.Loader[model.MembershipKey, []model.Role]
	rolePerms       *dataloadgen.Loader[string, []model.Permission]
	permRoles       *dataloadgen.Loader[string, []model.Role]
	activeCount     *dataloadgen.Loader[string, int]
}

const loaderWait = time.Millisecond

func newLoaders(src source) *loaders {
	r := src.batch
	return &loaders{
		tenant:          dataloadgen.NewMappedLoader(mustAll(r.TenantsByIDs, "tenant"), dataloadgen.WithWait(loaderWait)),
		user:            dataloadgen.NewMappedLoader(mustAll(r.UsersByIDs, "user"), dataloadgen.WithWait(loaderWait)),
		memberships:     dataloadgen.NewMappedLoader(orEmpty(r.MembershipsByUserIDs), dataloadgen.WithWait(loaderWait)),
		membershipRoles: dataloadgen.NewMappedLoader(orEmpty(r.RolesByMemberships), dataloadgen.WithWait(loaderWait)),
		rolePerms:       dataloadgen.NewMappedLoader(orEmpty(r.PermissionsByRoleIDs), dataloadgen.WithWait(loaderWait)),
		permRoles:       dataloadgen.NewMappedLoader(orEmpty(r.RolesByPermissionIDs), dataloadgen.WithWait(loaderWait)),
		// Counts are scoped (and authorized) by the request's caller.
		activeCount: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]int, error) {
			return src.counts(ctx, auth.PrincipalFrom(ctx), ids)
		}, dataloadgen.WithWait(loaderWait)),
	}
}

// mustAll reports a NOT_FOUND for keys the fetch did not return.
func mustAll[V any](fetch func(context.Context, []string) (map[string]V, error), kind string) func(context.Context, []string) (map[string]V, error) {
	return func(ctx context.Context, keys []string) (map[string]V, error) {
		m, err := fetch(ctx, keys)
		if err != nil {
			return nil, err
		}
		missing := dataloadgen.MappedFetchError[string]{}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				missing[k] = apperr.Errorf(apperr.NotFound, "%s %s not found", kind, k)
			}
		}
		if len(missing) > 0 {
			return m, missing
		}
		return m, nil
	}
}

// orEmpty fills keys the fetch did not return with an empty slice.
func orEmpty[K comparable, V any](fetch func(context.Context, []K) (map[K][]V, error)) func(context.Context, []K) (map[K][]V, error) {
	return func(ctx context.Context, keys []K) (map[K][]V, error) {
		m, err := fetch(ctx, keys)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if m[k] == nil {
				m[k] = []V{}
			}
		}
		return m, nil
	}
}

type loadersKey struct{}

// withLoaders gives each HTTP request its own loaders (and so its own
// cache). Websocket connections live long: they get fresh loaders for each
// response instead (responseLoaders), so their caches never grow stale.
func withLoaders(r source, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Upgrade") != "" {
			next.ServeHTTP(w, req)
			return
		}
		ctx := context.WithValue(req.Context(), loadersKey{}, &lazyLoaders{src: r})
		next.ServeHTTP(w, req.WithContext(ctx))
	})
}

// responseLoaders gives every response that has no request-wide loaders
// (websocket operations and subscription events) loaders of its own.
func responseLoaders(r source) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		if _, ok := ctx.Value(loadersKey{}).(*lazyLoaders); !ok {
			ctx = context.WithValue(ctx, loadersKey{}, &lazyLoaders{src: r})
		}
		return next(ctx)
	}
}

func loadersFrom(ctx context.Context) *loaders {
	return ctx.Value(loadersKey{}).(*lazyLoaders).get()
}

// lazyLoaders makes a request's loaders on first use: most requests (token
// validation above all) load nothing, and seven loaders cost more to make
// than such a request costs to answer.
type lazyLoaders struct {
	once sync.Once
	src  source
	l    *loaders
}

func (z *lazyLoaders) get() *loaders {
	z.once.Do(func() { z.l = newLoaders(z.src) })
	return z.l
}

// permissionKeys returns the sorted permission keys granted by roles.
func permissionKeys(ctx context.Context, roles []model.Role) ([]string, error) {
	ids := make([]string, len(roles))
	for i, r := range roles {
		ids[i] = r.ID
	}
	perms, err := loadersFrom(ctx).rolePerms.LoadAll(ctx, ids)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	keys := []string{}
	for _, ps := range perms {
		for _, p := range ps {
			if !seen[p.Key] {
				seen[p.Key] = true
				keys = append(keys, p.Key)
			}
		}
	}
	sort.Strings(keys)
	return keys, nil
}

func ptrs[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}
