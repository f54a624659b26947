// Package portal embeds sessiond's portal: the web components
// (elements.js), the console (console.js) and the two pages, built with
// vite from clients/portal/src (`npm ci && npm run build`) and committed
// under dist/, so `go run .` serves them without Node. .ci/run rebuilds
// dist/ and fails when it differs from the commit.
package portal

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// Assets returns the built files: portal.html (served at /portal/),
// console.html (at /console/), and the scripts and stylesheet under /portal/.
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded at build time; a missing dir is a build error
	}
	return sub
}
