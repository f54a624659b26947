package auth

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/model"
)

// Entitlements is what a user holds in one tenant: who they are, the
// tenant, their roles there, the permission keys those roles grant and the
// environment's portal switches. It is read-only once built: principals of
// concurrent requests share it.
type Entitlements struct {
	User   model.User
	Tenant model.Tenant
	Roles  []model.Role
	// Permissions are the granted keys, sorted and without duplicates
	// (wildcard keys such as "a.b.*" appear as granted).
	Permissions []string
	Portal      model.AdminPortal
}

// EntitlementStore is what the entitlement cache reads on a miss.
type EntitlementStore interface {
	AdminPortal(ctx context.Context) (model.AdminPortal, error)
	User(ctx context.Context, id string) (model.User, error)
	Tenant(ctx context.Context, id string) (model.Tenant, error)
	RolesByMemberships(ctx context.Context, keys []model.MembershipKey) (map[model.MembershipKey][]model.Role, error)
	PermissionsByRoleIDs(ctx context.Context, roleIDs []string) (map[string][]model.Permission, error)
}

// entitlementTTL bounds how long a cached entry may live even if an
// invalidation was lost (PostgreSQL re-syncs after a listener gap purge
// everything anyway); invalidations make changes visible at once.
const entitlementTTL = time.Minute

// EntitlementCache resolves a membership's entitlements and keeps them warm,
// so that validating a token and answering who the caller is and what they
// may do costs no query. Every change to the directory publishes an
// events.EntitlementsChanged event after its commit; the cache drops what
// the change touches, on every instance that hears it (at once in process,
// within the bus latency on PostgreSQL), and then tells its listeners
// (open subscriptions re-check their caller).
type EntitlementCache struct {
	store EntitlementStore
	cache *expirable.LRU[model.MembershipKey, *Entitlements]
	// gen counts invalidations: a load that started before one must not
	// store what it read.
	gen atomic.Uint64

	portalMu  sync.Mutex
	portal    *model.AdminPortal
	portalGen uint64

	mu        sync.Mutex
	listeners map[*listener]struct{}
}

type listener struct{ fn func(events.Change) }

// NewEntitlementCache returns a cache over store, invalidated by bus. The
// watch lasts until ctx ends.
func NewEntitlementCache(ctx context.Context, store EntitlementStore, bus events.Bus) (*EntitlementCache, error) {
	c := &EntitlementCache{
		store:     store,
		cache:     expirable.NewLRU[model.MembershipKey, *Entitlements](100_000, nil, entitlementTTL),
		listeners: map[*listener]struct{}{},
	}
	if _, err := bus.Watch(ctx, events.Filter{Entitlements: true}, func(e events.Event) {
		c.Invalidate(e.Change)
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Get returns the entitlements of a user in a tenant.
func (c *EntitlementCache) Get(ctx context.Context, userID, tenantID string) (*Entitlements, error) {
	key := model.MembershipKey{UserID: userID, TenantID: tenantID}
	if e, ok := c.cache.Get(key); ok {
		return e, nil
	}
	gen := c.gen.Load()
	e, err := c.load(ctx, key)
	if err != nil {
		return nil, err
	}
	if c.gen.Load() == gen {
		c.cache.Add(key, e)
	}
	return e, nil
}

func (c *EntitlementCache) load(ctx context.Context, key model.MembershipKey) (*Entitlements, error) {
	portal, err := c.Portal(ctx)
	if err != nil {
		return nil, err
	}
	u, err := c.store.User(ctx, key.UserID)
	if err != nil {
		return nil, err
	}
	t, err := c.store.Tenant(ctx, key.TenantID)
	if err != nil {
		return nil, err
	}
	byKey, err := c.store.RolesByMemberships(ctx, []model.MembershipKey{key})
	if err != nil {
		return nil, err
	}
	roles := byKey[key]
	ids := make([]string, len(roles))
	for i, r := range roles {
		ids[i] = r.ID
	}
	perms := []string{}
	if len(ids) > 0 {
		byRole, err := c.store.PermissionsByRoleIDs(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, ps := range byRole {
			for _, p := range ps {
				perms = append(perms, p.Key)
			}
		}
		slices.Sort(perms)
		perms = slices.Compact(perms)
	}
	if roles == nil {
		roles = []model.Role{}
	}
	return &Entitlements{User: u, Tenant: t, Roles: roles, Permissions: perms, Portal: portal}, nil
}

// Portal returns the environment's portal switches.
func (c *EntitlementCache) Portal(ctx context.Context) (model.AdminPortal, error) {
	c.portalMu.Lock()
	if c.portal != nil && c.portalGen == c.gen.Load() {
		p := *c.portal
		c.portalMu.Unlock()
		return p, nil
	}
	c.portalMu.Unlock()
	gen := c.gen.Load()
	p, err := c.store.AdminPortal(ctx)
	if err != nil {
		return p, err
	}
	c.portalMu.Lock()
	if c.gen.Load() == gen {
		c.portal, c.portalGen = &p, gen
	}
	c.portalMu.Unlock()
	return p, nil
}

// Invalidate drops what a change touches and tells the listeners. A change
// with no user and no tenant touches everything (roles, permissions, the
// portal switches).
func (c *EntitlementCache) Invalidate(ch events.Change) {
	c.gen.Add(1)
	switch {
	case ch.UserID == "" && ch.TenantID == "":
		c.cache.Purge()
	default:
		for _, k := range c.cache.Keys() {
			if (ch.UserID == "" || k.UserID == ch.UserID) && (ch.TenantID == "" || k.TenantID == ch.TenantID) {
				c.cache.Remove(k)
			}
		}
	}
	c.mu.Lock()
	ls := make([]*listener, 0, len(c.listeners))
	for l := range c.listeners {
		ls = append(ls, l)
	}
	c.mu.Unlock()
	for _, l := range ls {
		l.fn(ch)
	}
}

// OnChange calls fn after every invalidation until ctx ends or stop is
// called. fn runs on the publisher's goroutine and must not block.
func (c *EntitlementCache) OnChange(ctx context.Context, fn func(events.Change)) (stop func()) {
	l := &listener{fn: fn}
	c.mu.Lock()
	c.listeners[l] = struct{}{}
	c.mu.Unlock()
	var once sync.Once
	remove := func() {
		once.Do(func() {
			c.mu.Lock()
			delete(c.listeners, l)
			c.mu.Unlock()
		})
	}
	after := context.AfterFunc(ctx, remove)
	return func() { after(); remove() }
}
