package webhook

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sessiond/sessiond/internal/apperr"
)

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.215.14": true, "2606:2800:21f:cb07:6820:80da:af6b:8b2c": true, "8.8.8.8": true,
		"127.0.0.1": false, "127.8.9.10": false, "::1": false, "10.0.0.1": false, "172.16.5.4": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fd00:ec2::254": false, "0.0.0.0": false, "::": false,
		"100.64.0.1": false, "224.0.0.1": false, "255.255.255.255": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
		"64:ff9b::7f00:1": false, "198.18.0.1": false,
	} {
		if got := PublicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestValidateURL(t *testing.T) {
	for _, c := range []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"https://hooks.example.com/x", false, true},
		{"http://hooks.example.com/x", false, false},
		{"http://hooks.example.com/x", true, true},
		{"http://127.0.0.1:8080/x", true, true},
		{"https://127.0.0.1/x", false, false},
		{"https://[::1]/x", false, false},
		{"https://169.254.169.254/", false, false},
		{"https://user:pass@example.com/", false, false},
		{"/relative", false, false},
		{"https://" + strings.Repeat("a", 2100) + ".com/", false, false},
	} {
		err := ValidateURL(c.url, c.insecure)
		if (err == nil) != c.ok {
			t.Errorf("ValidateURL(%.40q, insecure=%v) = %v, want ok=%v", c.url, c.insecure, err, c.ok)
		}
		if err != nil && apperr.CodeOf(err) != apperr.BadUserInput {
			t.Errorf("ValidateURL(%.40q): code %s, want BAD_USER_INPUT", c.url, apperr.CodeOf(err))
		}
	}
}

func TestSealer(t *testing.T) {
	secret := NewSecret()
	if !strings.HasPrefix(secret, "whsec_") || len(secret) != len("whsec_")+44 {
		t.Fatalf("secret %q, want whsec_ and 32 bytes in base64", secret)
	}
	t.Run("with a key the stored form is ciphertext bound to the endpoint", func(t *testing.T) {
		s, _ := NewSealer("a key from the environment")
		sealed := s.Seal("ep1", secret)
		if strings.Contains(string(sealed), secret) || !strings.HasPrefix(string(sealed), "aesgcm:") {
			t.Fatalf("sealed %q shows the secret", sealed)
		}
		if got, err := s.Open("ep1", sealed); err != nil || got != secret {
			t.Fatalf("Open = %q, %v", got, err)
		}
		if _, err := s.Open("ep2", sealed); err == nil {
			t.Fatal("a secret opened under another endpoint's id")
		}
		other, _ := NewSealer("another key")
		if _, err := other.Open("ep1", sealed); err == nil {
			t.Fatal("a secret opened with the wrong key")
		}
		none, _ := NewSealer("")
		if _, err := none.Open("ep1", sealed); err == nil {
			t.Fatal("an encrypted secret opened without a key")
		}
	})
	t.Run("without a key secrets are stored plain and stay readable once a key is set", func(t *testing.T) {
		none, _ := NewSealer("")
		sealed := none.Seal("ep1", secret)
		keyed, _ := NewSealer("k")
		if got, err := keyed.Open("ep1", sealed); err != nil || got != secret {
			t.Fatalf("Open = %q, %v", got, err)
		}
	})
	if got := Sealed("aesgcm:xyz").String(); got != "[sealed]" {
		t.Fatalf("Sealed prints %q", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"120": 2 * time.Minute, "": 0, "-5": 0, "soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got := retryAfterOf(v, now); got != want {
			t.Errorf("retryAfterOf(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestSignatureVerifiesWithTheSpecLibrary(t *testing.T) {
	sealer, _ := NewSealer("k")
	oldSecret, newSecret := NewSecret(), NewSecret()
	at := time.Now()
	until := at.Add(time.Hour)
	ep := Endpoint{ID: "ep", Secret: sealer.Seal("ep", newSecret), PreviousSecret: sealer.Seal("ep", oldSecret), PreviousSecretExpiresAt: &until}
	d := &Dispatcher{sealer: sealer}
	body := []byte(`{"type":"session.created","timestamp":"2026-12-02T10:00:00Z","data":{}}`)
	sig, err := d.Signature(ep, "msg_1", at, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", itoa(at.Unix()))
	h.Set("webhook-signature", sig)
	for _, s := range []string{oldSecret, newSecret} {
		wh, _ := standardwebhooks.NewWebhook(s)
		if err := wh.Verify(body, h); err != nil {
			t.Fatalf("during the overlap, %v", err)
		}
	}
	sig, _ = d.Signature(ep, "msg_1", until, body)
	h.Set("webhook-signature", sig)
	if strings.Count(sig, "v1,") != 1 {
		t.Fatalf("after the overlap: %q, want one signature", sig)
	}
	wh, _ := standardwebhooks.NewWebhook(oldSecret)
	if err := wh.VerifyIgnoringTimestamp(body, h); err == nil {
		t.Fatal("the old secret still verifies after the overlap")
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
