package jsclient

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerServesBundle(t *testing.T) {
	h := Handler()
	get := func(path, inm string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	t.Run("the module with type, caching and nosniff", func(t *testing.T) {
		rec := get("/sdk/sessiond-client.js", "")
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200", rec.Code)
		}
		for k, want := range map[string]string{
			"Content-Type":           "text/javascript; charset=utf-8",
			"X-Content-Type-Options": "nosniff",
			"Cache-Control":          "public, max-age=300",
		} {
			if got := rec.Header().Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if !strings.Contains(rec.Body.String(), "createClient") {
			t.Errorf("body does not export createClient (%d bytes)", rec.Body.Len())
		}
		etag := rec.Header().Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		if again := get("/sdk/sessiond-client.js", etag); again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("If-None-Match with the ETag: status %d, %d bytes; want 304 and no body", again.Code, again.Body.Len())
		}
	})

	t.Run("the source map as JSON", func(t *testing.T) {
		rec := get("/sdk/sessiond-client.js.map", "")
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
			t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
		}
	})

	t.Run("other names are not found", func(t *testing.T) {
		if rec := get("/sdk/other.js", ""); rec.Code != http.StatusNotFound {
			t.Errorf("status = %d, want 404", rec.Code)
		}
	})
}
