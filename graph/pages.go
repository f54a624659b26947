package graph

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sessiond/sessiond/clients/playground"
	"github.com/sessiond/sessiond/clients/portal"
)

// pageCSP is the Content-Security-Policy of every page sessiond serves: its
// own scripts and styles only (no inline scripts), data: for GraphiQL's
// bundled fonts and icons, requests to this origin only (ws: and wss: of
// it included), and the configured frame-ancestors.
func pageCSP(frameAncestors string) string {
	return cspWithStyle(frameAncestors, "'self'")
}

func cspWithStyle(frameAncestors, styleSrc string) string {
	return "default-src 'none'; script-src 'self'; style-src " + styleSrc + "; img-src 'self' data:; font-src 'self' data:; " +
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors " + frameAncestors
}

// playgroundNonce is what the playground's build writes where the server
// puts each response's nonce (clients/playground/vite.config.js).
const playgroundNonce = "SESSIOND_CSP_NONCE"

// noncePage serves the playground's index.html with a fresh nonce in place
// of the build's placeholder, allowed in style-src for this response only.
// GraphiQL's dialogs add a <style> element whose text depends on the
// scrollbar width (so no hash fits); with the nonce the page needs neither
// 'unsafe-inline' styles nor a blocked style. Scripts stay 'self' only.
func noncePage(frameAncestors string, fsys fs.FS, name string) http.Handler {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		panic(err) // embedded at build time; a missing page is a build error
	}
	return securityHeaders(frameAncestors, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nonce := rand.Text() // 128 random bits
		h := w.Header()
		h.Set("Content-Security-Policy", cspWithStyle(frameAncestors, "'self' 'nonce-"+nonce+"'"))
		h.Set("Cache-Control", "no-store") // a cached copy would carry a spent nonce
		h.Set("Content-Type", "text/html; charset=utf-8")
		body := bytes.ReplaceAll(raw, []byte(playgroundNonce), []byte(nonce))
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	}))
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
	pgFiles, ptFiles := &gzipCache{fsys: pg}, &gzipCache{fsys: pt}
	page := func(files *gzipCache, name string) http.Handler {
		return securityHeaders(frameAncestors, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			files.serve(w, r, name)
		}))
	}
	mux.Handle("GET /{$}", noncePage(frameAncestors, pg, "index.html"))
	mux.Handle("GET /portal/{$}", page(ptFiles, "portal.html"))
	mux.Handle("GET /console/{$}", page(ptFiles, "console.html"))
	mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	mux.Handle("GET /portal", http.RedirectHandler("/portal/", http.StatusMovedPermanently))

	// Vite puts a content hash in GraphiQL's file names: cache them for good.
	mux.Handle("GET /playground/assets/", securityHeaders(frameAncestors, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		pgFiles.serve(w, r, strings.TrimPrefix(r.URL.Path, "/playground/"))
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
		ptFiles.serve(w, r, name)
	})))
}

// gzipCache serves embedded files, gzip-compressed for clients that accept
// it. The files never change while the process runs, so each is
// compressed once, on first request.
type gzipCache struct {
	fsys  fs.FS
	mu    sync.Mutex
	files map[string][]byte
}

// serve answers one embedded file, or 404.
func (c *gzipCache) serve(w http.ResponseWriter, r *http.Request, name string) {
	fsys := c.fsys
	name = path.Clean(name)
	if name == "." || strings.HasPrefix(name, "../") {
		http.NotFound(w, r)
		return
	}
	if st, err := fs.Stat(fsys, name); err != nil || st.IsDir() {
		http.NotFound(w, r)
		return
	}
	w.Header().Add("Vary", "Accept-Encoding")
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") || r.Header.Get("Range") != "" {
		http.ServeFileFS(w, r, fsys, name)
		return
	}
	body, err := c.compressed(name)
	if err != nil {
		http.ServeFileFS(w, r, fsys, name)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	// ServeContent sets the type from the name and answers HEAD and
	// conditional requests; the body it sends is the compressed one.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
}

func (c *gzipCache) compressed(name string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.files[name]; ok {
		return b, nil
	}
	raw, err := fs.ReadFile(c.fsys, name)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if c.files == nil {
		c.files = map[string][]byte{}
	}
	c.files[name] = buf.Bytes()
	return buf.Bytes(), nil
}
