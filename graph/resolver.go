package graph

// Resolver is the root of the GraphQL resolvers. It holds the domain
// services; resolvers parse arguments, authorize and call them.
type Resolver struct {
	Deps
}
