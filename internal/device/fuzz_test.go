package device_test

import (
	"testing"
	"unicode/utf8"

	"github.com/medama-io/go-useragent"

	"github.com/sessiond/sessiond/internal/device"
)

// FuzzDevice labels arbitrary user agents: it never panics and always
// gives a short, valid UTF-8 label, whatever a client sends.
func FuzzDevice(f *testing.F) {
	for _, seed := range []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
		"curl/8.5.0", "", "   ", "\x00\xff", "Mozilla/5.0 (", "((((((((((", "Chrome/" + string(make([]byte, 300)),
	} {
		f.Add(seed)
	}
	p := useragent.NewParser()
	f.Fuzz(func(t *testing.T, ua string) {
		d := device.Label(p, ua)
		if d == "" || len(d) > 200 || (utf8.ValidString(ua) && !utf8.ValidString(d)) {
			t.Fatalf("Label(%q) = %q", ua, d)
		}
	})
}
