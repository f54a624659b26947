package session

import (
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/text"

	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/events"
)

func TestDevice(t *testing.T) {
	s := New(nil, events.NewMemory(), clock.Real{}, slog.New(slog.DiscardHandler), Config{})
	cases := []struct {
		name, ua, want string
	}{
		{
			"Chrome on macOS",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			"Chrome on macOS",
		},
		{
			"Firefox on Windows",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
			"Firefox on Windows",
		},
		{
			"Safari on iOS",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
			"Safari on iOS",
		},
		{
			"Safari on macOS",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
			"Safari on macOS",
		},
		{"empty is unknown", "", "Unknown device"},
		{"blank is unknown", "  \t ", "Unknown device"},
		{"unparseable is unknown", "curl-ish nonsense", "Unknown device"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := s.device(c.ua); got != c.want {
				t.Fatalf("device(%q) = %q, want %q", c.ua, got, c.want)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	cases := []struct {
		name, in string
		n        int
		want     string
	}{
		{"short string is kept", "abc", 5, "abc"},
		{"exact length is kept", "abcde", 5, "abcde"},
		{"ASCII is cut at n", "abcdef", 4, "abcd"},
		{"zero gives empty", "abc", 0, ""},
		{"cut inside a 2-byte rune drops the rune", "aé", 2, "a"}, // é = C3 A9
		{"cut after a 2-byte rune keeps it", "aéb", 3, "aé"},
		{"cut inside a 3-byte rune drops the rune", "a€b", 3, "a"},  // € = E2 82 AC
		{"cut inside a 4-byte rune drops the rune", "ab😀", 5, "ab"}, // 😀 = F0 9F 98 80
		{"cut at a rune boundary keeps what fits", "日本語", 6, "日本"},
		{"cut inside the first rune gives empty", "日本語", 2, ""},
		{"cut mid-way through many runes", strings.Repeat("é", 10), 7, strings.Repeat("é", 3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := text.Truncate(c.in, c.n)
			if got != c.want {
				t.Fatalf("truncate(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
			}
			if !utf8.ValidString(got) || len(got) > c.n {
				t.Fatalf("truncate(%q, %d) = %q: want valid UTF-8 of at most %d bytes", c.in, c.n, got, c.n)
			}
		})
	}
}
