package main

// Regenerate graph/ from schema.graphqls (see gqlgen.yml).
//go:generate go run github.com/99designs/gqlgen generate
