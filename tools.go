//go:build tools

// Package main pins build tools so `go generate ./...` runs gqlgen from the
// module cache at the version go.mod names.
package main

import (
	_ "github.com/99designs/gqlgen"
)
