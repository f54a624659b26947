package auth

import (
	"context"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/secret"
)

// FuzzAdminKey parses arbitrary configured admin keys: a key is accepted
// only with the admin prefix and 256 bits of length (or empty: then the
// stored key is used), and an accepted key verifies itself and nothing
// else.
func FuzzAdminKey(f *testing.F) {
	for _, seed := range []string{
		secret.NewToken(secret.AdminKeyPrefix), "sdk_admin_short", "sds_notadmin", "", "sdk_admin_" + strings.Repeat("\x00", 43),
		"sdk_admin_" + strings.Repeat("é", 30),
	} {
		f.Add(seed, "x")
	}
	f.Fuzz(func(t *testing.T, key, other string) {
		a, err := NewAdminKeys(nil, key)
		if err != nil || key == "" {
			return
		}
		if !strings.HasPrefix(key, secret.AdminKeyPrefix) || len(key) < minAdminKeyLength {
			t.Fatalf("accepted %q", key)
		}
		ctx := context.Background()
		if ok, err := a.Verify(ctx, key); err != nil || !ok {
			t.Fatalf("the configured key does not verify: %v", err)
		}
		if other != key {
			if ok, _ := a.Verify(ctx, other); ok {
				t.Fatalf("%q verified as %q", other, key)
			}
		}
	})
}

// FuzzBearer parses arbitrary Authorization header values: the token is
// the value after a case-insensitive "Bearer ", with the header's optional
// white space (spaces and tabs, RFC 9110 §5.6.3) trimmed, or "".
func FuzzBearer(f *testing.F) {
	for _, seed := range []string{"Bearer sds_abc", "bearer  sdk_admin_x ", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "", "BEARER \x00", "Bearer \xff\xfe", "BeArer 0\u2000"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok := BearerToken(h)
		if tok == "" {
			return
		}
		if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") || !strings.HasSuffix(strings.TrimRight(h, " \t"), tok) || tok != strings.Trim(tok, " \t") {
			t.Fatalf("BearerToken(%q) = %q", h, tok)
		}
	})
}
