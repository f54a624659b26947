package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/sessiond/sessiond/internal/directory"
	"github.com/sessiond/sessiond/internal/model"
)

// ErrNotEmpty is returned by SeedDemo for a database that has data.
var ErrNotEmpty = errors.New("demo data needs an empty database")

// Demo is what SeedDemo created, for printing.
type Demo struct {
	TenantID                  string
	AdminEmail, AdminPassword string
	MemberEmail, MemberPass   string
}

// SeedDemo fills an empty database with a tenant "Demo Co", an admin user
// whose "admin" role holds fe.secure.delete.sessions, a member, and every
// portal switch on, so a newcomer can log in from the playground at once.
// It refuses a database that has tenants already.
func (a *App) SeedDemo(ctx context.Context) (Demo, error) {
	tenants, err := a.Store.Tenants(ctx)
	if err != nil {
		return Demo{}, err
	}
	if len(tenants) > 0 {
		return Demo{}, fmt.Errorf("%w: it has %d tenant(s); start with another file, e.g. -db demo.db", ErrNotEmpty, len(tenants))
	}
	actor := model.Actor{Kind: model.ActorSystem}
	t, err := a.Directory.CreateTenant(ctx, actor, "Demo Co")
	if err != nil {
		return Demo{}, err
	}
	d := Demo{TenantID: t.ID, AdminEmail: "admin@demo.example", AdminPassword: demoPassword(), MemberEmail: "member@demo.example", MemberPass: demoPassword()}
	if _, err := a.Directory.GrantPermission(ctx, actor, model.BuiltInRevokeSessions, []string{"admin"}, true); err != nil {
		return Demo{}, err
	}
	if _, err := a.Directory.CreateUser(ctx, actor, directory.CreateUserInput{Email: d.AdminEmail, Name: "Ada Admin", Password: &d.AdminPassword, TenantID: t.ID, RoleKeys: []string{"admin"}}); err != nil {
		return Demo{}, err
	}
	if _, err := a.Directory.CreateUser(ctx, actor, directory.CreateUserInput{Email: d.MemberEmail, Name: "Max Member", Password: &d.MemberPass, TenantID: t.ID}); err != nil {
		return Demo{}, err
	}
	on := true
	if _, err := a.Directory.UpdateAdminPortal(ctx, actor, model.PortalUpdate{PrivacyAndSecurity: &on, Users: &on, Security: &on}); err != nil {
		return Demo{}, err
	}
	return d, nil
}

func demoPassword() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return "demo-" + base64.RawURLEncoding.EncodeToString(b)
}
