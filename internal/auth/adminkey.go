package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/secret"
)

// KeyStore persists the admin key's hash.
type KeyStore interface {
	AdminKeyHash(ctx context.Context) (hash string, ok bool, err error)
	InitAdminKeyHash(ctx context.Context, hash string) (bool, error)
	ReplaceAdminKeyHash(ctx context.Context, actor model.Actor, hash string) (time.Time, error)
}

// AdminKeys authenticates the environment owner. The key is either fixed by
// configuration (SESSIOND_ADMIN_KEY) or generated on first start and stored
// only as a hash.
type AdminKeys struct {
	store   KeyStore
	envHash string // hash of the configured key; empty when generated
	// OnRotate is called after a rotation commits, so that open streams
	// authenticated by the old key re-check and stop.
	OnRotate func(ctx context.Context)
}

// minAdminKeyLength is the prefix plus 43 base64 characters (256 bits).
const minAdminKeyLength = len(secret.AdminKeyPrefix) + 43

// NewAdminKeys returns the admin key authenticator. configured is the key
// from the environment, or "" to use the stored, generated one. A configured
// key must carry the admin prefix and 256 bits.
func NewAdminKeys(store KeyStore, configured string) (*AdminKeys, error) {
	a := &AdminKeys{store: store}
	if configured != "" {
		if !strings.HasPrefix(configured, secret.AdminKeyPrefix) || len(configured) < minAdminKeyLength {
			return nil, fmt.Errorf("SESSIOND_ADMIN_KEY must start with %q and be at least %d characters; generate one with `go run . -new-admin-key`", secret.AdminKeyPrefix, minAdminKeyLength)
		}
		a.envHash = secret.HashToken(configured)
	}
	return a, nil
}

// Configured reports whether the key comes from configuration.
func (a *AdminKeys) Configured() bool { return a.envHash != "" }

// EnsureKey creates the first admin key when none exists and returns it, so
// the caller can print it once; it returns "" when a key exists already or
// the key is configured.
func (a *AdminKeys) EnsureKey(ctx context.Context) (string, error) {
	if a.Configured() {
		return "", nil
	}
	if _, ok, err := a.store.AdminKeyHash(ctx); err != nil || ok {
		return "", err
	}
	key := secret.NewToken(secret.AdminKeyPrefix)
	created, err := a.store.InitAdminKeyHash(ctx, secret.HashToken(key))
	if err != nil || !created {
		return "", err
	}
	return key, nil
}

// Verify reports whether token is the admin key, in constant time.
func (a *AdminKeys) Verify(ctx context.Context, token string) (bool, error) {
	return a.VerifyHash(ctx, secret.HashToken(token))
}

// VerifyHash reports whether a key hash is still the admin key's, so that
// long-lived connections stop working once the key is rotated.
func (a *AdminKeys) VerifyHash(ctx context.Context, h string) (bool, error) {
	if a.Configured() {
		return secret.EqualHash(h, a.envHash), nil
	}
	stored, ok, err := a.store.AdminKeyHash(ctx)
	if err != nil || !ok {
		return false, err
	}
	return secret.EqualHash(h, stored), nil
}

// Rotate replaces the stored admin key and returns the new one. The old key
// stops working at once. BAD_USER_INPUT when the key is configured.
func (a *AdminKeys) Rotate(ctx context.Context, actor model.Actor) (string, time.Time, error) {
	if a.Configured() {
		return "", time.Time{}, apperr.Invalid("", "the admin key is set by SESSIOND_ADMIN_KEY; change that variable and restart to rotate it")
	}
	key := secret.NewToken(secret.AdminKeyPrefix)
	at, err := a.store.ReplaceAdminKeyHash(ctx, actor, secret.HashToken(key))
	if err != nil {
		return "", time.Time{}, err
	}
	if a.OnRotate != nil {
		a.OnRotate(ctx)
	}
	return key, at, nil
}
