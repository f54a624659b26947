package graph_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testkit"
)

// The browser SDK is part of the API's handler: a plain HTML page imports it
// from /sdk/sessiond-client.js on the same server.
func TestServesBrowserSDK(t *testing.T) {
	s := testkit.Start(t)
	res, err := http.Get(s.HTTP.URL + "/sdk/sessiond-client.js")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /sdk/sessiond-client.js: status %d, want 200", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type = %q, want text/javascript (browsers refuse modules otherwise)", ct)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", res.Header.Get("X-Content-Type-Options"))
	}
	if !strings.Contains(string(body), "createClient") {
		t.Errorf("the bundle does not export createClient (%d bytes)", len(body))
	}
	res2, err := http.Post(s.HTTP.URL+"/sdk/sessiond-client.js", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", res2.StatusCode)
	}
}
