// Package playground embeds sessiond's GraphQL playground: GraphiQL built
// from npm with vite (clients/playground: `npm ci && npm run build`) and
// committed under dist/, so the server serves it with no CDN and without
// Node. .ci/run rebuilds dist/ and fails when it differs from the commit.
package playground

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// Assets returns the built files: index.html (served at /) and assets/
// (served under /playground/assets/).
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded at build time; a missing dir is a build error
	}
	return sub
}
