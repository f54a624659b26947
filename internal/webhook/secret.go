package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// secretBytes is how many random bytes a signing secret holds (the spec
// asks for 24 to 64).
const secretBytes = 32

// NewSecret returns a fresh signing secret: whsec_ and the base64 of 32
// random bytes, the form every Standard Webhooks library accepts.
func NewSecret() string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// Sealed is a signing secret as stored: AES-GCM ciphertext when the sealer
// has a key, the secret itself otherwise. It never prints.
type Sealed string

// String hides the secret from fmt and logs.
func (Sealed) String() string { return "[sealed]" }

// LogValue hides the secret from slog.
func (Sealed) LogValue() slog.Value { return slog.StringValue("[sealed]") }

// Sealer seals secrets for storage and opens them to sign. With a key,
// secrets are stored as "aesgcm:" and base64(nonce || ciphertext), bound to
// their endpoint's id; without one, as "plain:" and the secret, so that
// setting a key later still reads old rows (rotate them to seal them).
type Sealer struct{ aead cipher.AEAD }

// NewSealer derives an AES-256 key from key (its SHA-256); key "" stores
// secrets unencrypted.
func NewSealer(key string) (*Sealer, error) {
	if key == "" {
		return &Sealer{}, nil
	}
	k := sha256.Sum256([]byte(key))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Encrypts reports whether secrets are encrypted at rest.
func (s *Sealer) Encrypts() bool { return s.aead != nil }

// Seal seals the secret of endpoint id.
func (s *Sealer) Seal(id, secret string) Sealed {
	if s.aead == nil {
		return Sealed("plain:" + secret)
	}
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := s.aead.Seal(nonce, nonce, []byte(secret), []byte(id))
	return Sealed("aesgcm:" + base64.StdEncoding.EncodeToString(out))
}

// errNoKey: a secret sealed with a key is read without one.
var errNoKey = errors.New("webhook secret is encrypted but SESSIOND_WEBHOOK_KEY is not set")

// Open returns the secret of endpoint id.
func (s *Sealer) Open(id string, sealed Sealed) (string, error) {
	v := string(sealed)
	switch {
	case strings.HasPrefix(v, "plain:"):
		return strings.TrimPrefix(v, "plain:"), nil
	case strings.HasPrefix(v, "aesgcm:"):
		if s.aead == nil {
			return "", errNoKey
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, "aesgcm:"))
		if err != nil || len(raw) < s.aead.NonceSize() {
			return "", fmt.Errorf("webhook secret of %s: malformed", id)
		}
		n := s.aead.NonceSize()
		plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(id))
		if err != nil {
			return "", fmt.Errorf("webhook secret of %s: wrong SESSIOND_WEBHOOK_KEY or damaged row", id)
		}
		return string(plain), nil
	default:
		return "", fmt.Errorf("webhook secret of %s: unknown form", id)
	}
}
