// Package jsclient embeds the browser build of the @sessiond/client SDK
// (bundle/, built by `npm run bundle` and committed) so that sessiond can
// serve it at /sdk/sessiond-client.js without Node at run time.
package jsclient

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"path"
	"strings"
)

//go:embed bundle/sessiond-client.js bundle/sessiond-client.js.map
var bundle embed.FS

// Handler serves the bundle and its source map under any prefix (the last
// path element picks the file). The URL carries no version, so browsers
// revalidate after five minutes with the strong ETag (a hash of the bytes)
// and get 304 while the server runs the same build.
func Handler() http.Handler {
	type asset struct {
		body  []byte
		ctype string
		etag  string
	}
	assets := map[string]asset{}
	for name, ctype := range map[string]string{
		"sessiond-client.js":     "text/javascript; charset=utf-8",
		"sessiond-client.js.map": "application/json; charset=utf-8",
	} {
		b, err := bundle.ReadFile("bundle/" + name)
		if err != nil {
			panic("jsclient: embedded file missing: " + name) // a build without the committed bundle
		}
		sum := sha256.Sum256(b)
		assets[name] = asset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[path.Base(r.URL.Path)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("ETag", a.etag)
		// Pages on other allowed origins may import the module too.
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, a.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(a.body)
	})
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
