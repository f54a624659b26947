// Package secret makes and checks credentials: random bearer tokens that are
// stored only as hashes, and memory-hard password hashes.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/alexedwards/argon2id"
)

// Token prefixes make leaked credentials recognisable to people and secret
// scanners, and tell an admin key from a session token without a lookup.
const (
	AdminKeyPrefix     = "sdk_admin_"
	SessionTokenPrefix = "sds_"
)

// tokenBytes is the entropy of every token: 256 bits.
const tokenBytes = 32

// NewToken returns a fresh token with the prefix and 256 random bits.
func NewToken(prefix string) string {
	b := make([]byte, tokenBytes)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+ panics instead).
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashToken returns the hex SHA-256 of a token. Tokens carry 256 random bits,
// so a fast hash is enough: there is nothing to brute-force.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// EqualHash compares two token hashes in constant time.
func EqualHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// HasPrefix reports whether token looks like a credential of that kind.
func HasPrefix(token, prefix string) bool { return strings.HasPrefix(token, prefix) }

// passwordParams follow OWASP's argon2id recommendation (19 MiB, 2 passes).
var passwordParams = argon2id.Params{
	Memory:      19 * 1024,
	Iterations:  2,
	Parallelism: 1,
	SaltLength:  16,
	KeyLength:   32,
}

// HashPassword returns an encoded argon2id hash of the password.
func HashPassword(password string) (string, error) {
	p := passwordParams
	return argon2id.CreateHash(password, &p)
}

// CheckPassword reports whether password matches the encoded hash. An empty
// or malformed hash never matches.
func CheckPassword(password, hash string) bool {
	if hash == "" {
		return false
	}
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	return err == nil && ok
}
