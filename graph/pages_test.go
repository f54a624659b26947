package graph_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/graph"
)

// TestPagesAreServedWithSecurityHeaders checks every embedded page and a
// script of each bundle: served from the binary, with a CSP that allows no
// inline script, nosniff, a Referrer-Policy and the configured frame-ancestors.
func TestPagesAreServedWithSecurityHeaders(t *testing.T) {
	for _, fa := range []string{"", "'self' https://app.example.com"} {
		h := graph.NewHandler(graph.Deps{}, graph.Options{FrameAncestors: fa, AllowedOrigins: []string{"https://app.example.com"}})
		want := fa
		if want == "" {
			want = "'none'"
		}
		for _, path := range []string{"/", "/portal/", "/console/", "/portal/elements.js", "/portal/console.js", "/portal/page.css"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200", path, rec.Code)
			}
			csp := rec.Header().Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("GET %s: CSP %q must allow only the origin's scripts", path, csp)
			}
			if !strings.Contains(csp, "frame-ancestors "+want) {
				t.Errorf("GET %s: CSP %q, want frame-ancestors %s", path, csp, want)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("GET %s: X-Content-Type-Options %q", path, got)
			}
			if rec.Header().Get("Referrer-Policy") == "" {
				t.Errorf("GET %s: no Referrer-Policy", path)
			}
			body, _ := io.ReadAll(rec.Body)
			if strings.HasSuffix(path, "/") && (strings.Contains(string(body), "<script>") || strings.Contains(string(body), "cdn.jsdelivr")) {
				t.Errorf("GET %s: the page has an inline script or a CDN reference", path)
			}
		}
	}

	t.Run("elements.js answers CORS for an allowed origin only", func(t *testing.T) {
		h := graph.NewHandler(graph.Deps{}, graph.Options{AllowedOrigins: []string{"https://app.example.com"}})
		for origin, want := range map[string]string{"https://app.example.com": "https://app.example.com", "https://evil.example": ""} {
			req := httptest.NewRequest(http.MethodGet, "/portal/elements.js", nil)
			req.Header.Set("Origin", origin)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != want {
				t.Errorf("Origin %s: Access-Control-Allow-Origin %q, want %q", origin, got, want)
			}
		}
	})

	t.Run("unknown assets are 404", func(t *testing.T) {
		h := graph.NewHandler(graph.Deps{}, graph.Options{})
		for _, path := range []string{"/portal/nope.js", "/portal/portal.html", "/playground/assets/nope.js", "/playground/index.html"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != http.StatusNotFound {
				t.Errorf("GET %s: status %d, want 404", path, rec.Code)
			}
		}
	})
}

// TestPagesAreCompressed checks that a browser asking for gzip gets the
// compressed asset, which unpacks to the same bytes as the plain one.
func TestPagesAreCompressed(t *testing.T) {
	h := graph.NewHandler(graph.Deps{}, graph.Options{})
	get := func(enc string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/portal/elements.js", nil)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	plain, zipped := get(""), get("gzip, br")
	if zipped.Header().Get("Content-Encoding") != "gzip" || plain.Header().Get("Content-Encoding") != "" {
		t.Fatalf("Content-Encoding: plain %q, gzip %q", plain.Header().Get("Content-Encoding"), zipped.Header().Get("Content-Encoding"))
	}
	if ct := zipped.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Fatalf("Content-Type of the compressed module: %q", ct)
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatal(err)
	}
	unpacked, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unpacked, plain.Body.Bytes()) {
		t.Fatalf("the gzip body unpacks to %d bytes, the plain one has %d", len(unpacked), plain.Body.Len())
	}
}

// TestPlaygroundStyleNonce checks the nonce that lets GraphiQL's scroll-lock
// <style> through the CSP: fresh on every response, the same in the header
// and the page, never the build's placeholder, and only for styles.
func TestPlaygroundStyleNonce(t *testing.T) {
	h := graph.NewHandler(graph.Deps{}, graph.Options{})
	nonceRE := regexp.MustCompile(`style-src 'self' 'nonce-([A-Z2-7]{26})';`)
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		csp := rec.Header().Get("Content-Security-Policy")
		m := nonceRE.FindStringSubmatch(csp)
		if m == nil {
			t.Fatalf("CSP %q has no style nonce", csp)
		}
		if !strings.Contains(csp, "script-src 'self';") {
			t.Fatalf("CSP %q: the nonce must not extend to scripts", csp)
		}
		body := rec.Body.String()
		if strings.Contains(body, "SESSIOND_CSP_NONCE") {
			t.Fatal("the page still carries the build's nonce placeholder")
		}
		if !strings.Contains(body, `<meta property="csp-nonce" nonce="`+m[1]+`">`) {
			t.Fatalf("the page does not carry the header's nonce %s:\n%s", m[1], body)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("Cache-Control %q: a cached page would reuse a nonce", cc)
		}
		if seen[m[1]] {
			t.Fatalf("nonce %s served twice", m[1])
		}
		seen[m[1]] = true
	}
	// The other pages keep the plain policy.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/portal/", nil))
	if csp := rec.Header().Get("Content-Security-Policy"); strings.Contains(csp, "nonce-") {
		t.Fatalf("/portal/ CSP %q has a nonce", csp)
	}
}
