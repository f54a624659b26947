package graph

import (
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/sessiond/sessiond/clients/playground"
	"github.com/sessiond/sessiond/clients/portal"
)

// pageCSP is the Content-Security-Policy of every page sessiond serves: its
// own scripts and styles only (no inline scripts), data: for GraphiQL's
// bundled fonts and icons, requests to this origin only (ws: and wss: of
// it included), and the configured frame-ancestors.
func pageCSP(frameAncestors string) string {
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; " +
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors " + frameAncestors
}

// securityHeaders sets the headers every page and asset gets.
func securityHeaders(frameAncestors string, next http.Handler) http.Handler {
	csp := pageCSP(frameAncestors)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		switch frameAncestors {
		case "'none'":
			h.Set("X-Frame-Options", "DENY")
		case "'self'":
			h.Set("X-Frame-Options", "SAMEORIGIN")
		}
		next.ServeHTTP(w, r)
	})
}

// mountPages serves the playground at /, the portal at /portal/, the
// console at /console/ and their assets, all embedded in the binary.
// elements.js answers CORS for allowed origins, so another origin's page
// can import the web components.
func mountPages(mux *http.ServeMux, originOK func(*http.Request) bool, frameAncestors string) {
	pg, pt := playground.Assets(), portal.Assets()
	page := func(fsys fs.FS, name string) http.Handler {
		return securityHeaders(frameAncestors, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			serveFile(w, r, fsys, name)
		}))
	}
	mux.Handle("GET /{$}", page(pg, "index.html"))
	mux.Handle("GET /portal/{$}", page(pt, "portal.html"))
	mux.Handle("GET /console/{$}", page(pt, "console.html"))
	mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	mux.Handle("GET /portal", http.RedirectHandler("/portal/", http.StatusMovedPermanently))

	// Vite puts a content hash in GraphiQL's file names: cache them for good.
	mux.Handle("GET /playground/assets/", securityHeaders(frameAncestors, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		serveFile(w, r, pg, strings.TrimPrefix(r.URL.Path, "/playground/"))
	})))
	mux.Handle("GET /portal/{file}", securityHeaders(frameAncestors, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		if strings.HasSuffix(name, ".html") {
			http.NotFound(w, r) // pages live at /portal/ and /console/, with their headers
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && originOK(r) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Add("Vary", "Origin")
		}
		w.Header().Set("Cache-Control", "no-cache")
		serveFile(w, r, pt, name)
	})))
}

// serveFile answers one embedded file, or 404.
func serveFile(w http.ResponseWriter, r *http.Request, fsys fs.FS, name string) {
	name = path.Clean(name)
	if name == "." || strings.HasPrefix(name, "../") {
		http.NotFound(w, r)
		return
	}
	if st, err := fs.Stat(fsys, name); err != nil || st.IsDir() {
		http.NotFound(w, r)
		return
	}
	http.ServeFileFS(w, r, fsys, name)
}
