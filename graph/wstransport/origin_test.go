package wstransport

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSameOriginOrLocalhostUnit(t *testing.T) {
	cases := []struct {
		origin string
		want   bool
	}{
		{"http://api.example", true}, // equals r.Host
		{"http://api.example:8080", false},
		{"http://LOCALHOST", true},
		{"http://127.0.0.1:1", true},
		{"http://127.0.0.2", false},
		{"http://localhost.evil.example", false},
		{"chrome-extension://localhost", false},
		{"", false}, // present but empty is not "no Origin"
		{"::not a url", false},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(http.MethodGet, "http://api.example/query", nil)
		r.Header.Set("Origin", tc.origin)
		if got := SameOriginOrLocalhost(r); got != tc.want {
			t.Errorf("Origin %q: got %v, want %v", tc.origin, got, tc.want)
		}
	}

	r := httptest.NewRequest(http.MethodGet, "http://api.example/query", nil)
	if !SameOriginOrLocalhost(r) {
		t.Error("request without Origin must be allowed")
	}

	// AllowOrigins must not observe later changes to the caller's slice.
	list := []string{"https://a.example"}
	check := AllowOrigins(list)
	list[0] = "https://b.example"
	r.Header.Set("Origin", "https://b.example")
	if check(r) {
		t.Error("AllowOrigins observed a mutation of its input slice")
	}
	r.Header.Set("Origin", "HTTPS://A.EXAMPLE")
	if !check(r) {
		t.Error("AllowOrigins must compare case-insensitively")
	}
}

func TestAllowOriginsUnit(t *testing.T) {
	check := AllowOrigins([]string{"https://App.Example:8443/"})
	for _, tc := range []struct {
		host, origin string
		want         bool
	}{
		{"api.example", "https://app.example:8443", true},
		{"api.example", "https://app.example", false},
		{"api.example", "http://app.example:8443", false},
		{"api.example", "http://evil.example", false},
		{"api.example", "http://localhost:3000", true},
		{"api.example", "https://api.example", true},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://"+tc.host+"/graphql", nil)
		r.Header.Set("Origin", tc.origin)
		if got := check(r); got != tc.want {
			t.Errorf("Origin %q: got %v, want %v", tc.origin, got, tc.want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "http://api.example/graphql", nil)
	r.Header.Set("Origin", "http://evil.example")
	if !AllowOrigins([]string{"*"})(r) {
		t.Error(`"*" must allow every origin`)
	}
}
