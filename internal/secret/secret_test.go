package secret

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestNewToken(t *testing.T) {
	for _, prefix := range []string{SessionTokenPrefix, AdminKeyPrefix} {
		t.Run(prefix+" carries the prefix and 256 bits in 43 base64url characters", func(t *testing.T) {
			tok := NewToken(prefix)
			if !HasPrefix(tok, prefix) {
				t.Fatalf("NewToken(%q) = %q, want the prefix", prefix, tok)
			}
			body := strings.TrimPrefix(tok, prefix)
			if len(body) != 43 {
				t.Fatalf("token body %q has %d characters, want 43", body, len(body))
			}
			raw, err := base64.RawURLEncoding.DecodeString(body)
			if err != nil {
				t.Fatalf("token body %q is not unpadded base64url: %v", body, err)
			}
			if len(raw) != 32 {
				t.Fatalf("token body decodes to %d bytes, want 32", len(raw))
			}
		})
	}

	t.Run("tokens are unique", func(t *testing.T) {
		const n = 1000
		seen := make(map[string]bool, n)
		for range n {
			tok := NewToken(SessionTokenPrefix)
			if seen[tok] {
				t.Fatalf("NewToken repeated %q within %d tokens", tok, n)
			}
			seen[tok] = true
		}
	})

	t.Run("a session token is not an admin key", func(t *testing.T) {
		if tok := NewToken(SessionTokenPrefix); HasPrefix(tok, AdminKeyPrefix) {
			t.Fatalf("session token %q has the admin key prefix", tok)
		}
	})
}

func TestHashToken(t *testing.T) {
	a, b := NewToken(SessionTokenPrefix), NewToken(SessionTokenPrefix)
	ha := HashToken(a)
	cases := []struct {
		name  string
		x, y  string
		equal bool
	}{
		{"same token hashes the same", ha, HashToken(a), true},
		{"different tokens hash differently", ha, HashToken(b), false},
		{"a token differing in one character hashes differently", ha, HashToken(a[:len(a)-1] + "!"), false},
		{"hash prefix is not equal", ha, ha[:32], false},
		{"empty is not equal to a hash", ha, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := EqualHash(c.x, c.y); got != c.equal {
				t.Fatalf("EqualHash(%q, %q) = %v, want %v", c.x, c.y, got, c.equal)
			}
		})
	}
	t.Run("hash is 64 hex characters and not the token", func(t *testing.T) {
		if len(ha) != 64 || strings.Trim(ha, "0123456789abcdef") != "" {
			t.Fatalf("HashToken = %q, want 64 lowercase hex characters", ha)
		}
		if strings.Contains(ha, strings.TrimPrefix(a, SessionTokenPrefix)) {
			t.Fatalf("HashToken(%q) = %q contains the token", a, ha)
		}
	})
	t.Run("known vector", func(t *testing.T) {
		// SHA-256 of "abc".
		const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
		if got := HashToken("abc"); got != want {
			t.Fatalf("HashToken(abc) = %s, want %s", got, want)
		}
	})
}

func TestPassword(t *testing.T) {
	hash, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if !strings.HasPrefix(hash, "$argon2id$") {
		t.Fatalf("HashPassword = %q, want an encoded argon2id hash", hash)
	}
	if strings.Contains(hash, "correct horse") {
		t.Fatalf("HashPassword = %q contains the password", hash)
	}
	other, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if other == hash {
		t.Fatalf("two hashes of one password are equal (%q): want a fresh salt each", hash)
	}
	cases := []struct {
		name, password, hash string
		ok                   bool
	}{
		{"right password matches", "correct horse battery staple", hash, true},
		{"right password matches another salt", "correct horse battery staple", other, true},
		{"wrong password fails", "correct horse battery stapler", hash, false},
		{"empty password fails", "", hash, false},
		{"empty hash fails", "", "", false},
		{"empty hash fails for any password", "correct horse battery staple", "", false},
		{"malformed hash fails", "correct horse battery staple", "$argon2id$nonsense", false},
		{"hash of another scheme fails", "correct horse battery staple", "$2a$10$abcdefghijklmnopqrstuv", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := CheckPassword(c.password, c.hash); got != c.ok {
				t.Fatalf("CheckPassword(%q, %q) = %v, want %v", c.password, c.hash, got, c.ok)
			}
		})
	}
}
