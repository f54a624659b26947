// Package limits holds the settings that bound what one document, request
// or connection may cost; graph applies them (docs/limits.md).
package limits

import "time"

// Limits bound what one document, request or connection may cost, so that
// an anonymous client cannot make the server spend more than a small,
// known amount of CPU or memory on it. docs/limits.md lists every limit
// with its setting and the refusal a client sees.
//
// A zero field takes its default; a negative one turns the limit off
// (for benchmarks that compare with and without limits).
type Limits struct {
	// MaxTokens bounds the lexical tokens of one document (default 10 000).
	MaxTokens int
	// MaxFields bounds the fields of one operation or fragment with every
	// fragment spread expanded (default 2 000): execution, the depth and
	// cost checks and validation all walk the expanded tree.
	MaxFields int
	// MaxSelectionFields bounds the fields of one selection set, counting
	// the fields its fragments bring to the same level (default 100):
	// gqlparser's overlapping-fields rule is quadratic in it.
	MaxSelectionFields int
	// MaxAliases bounds aliased fields per operation, expanded (default 50).
	MaxAliases int
	// MaxRootFields bounds the top-level fields of an operation (default 20).
	MaxRootFields int
	// MaxOperations bounds the operations in one document (default 20).
	MaxOperations int
	// MaxDirectives bounds the directives written in one document (default 50).
	MaxDirectives int
	// MaxIntrospection bounds __schema and __type fields per operation
	// (default 2); their answers are large whatever they cost in fields.
	MaxIntrospection int
	// MaxErrors caps the errors of one response (default 50); the rest are
	// replaced by one "N more errors omitted" error.
	MaxErrors int
	// DisableIntrospection refuses __schema and __type (the playground
	// needs them, so they are on by default).
	DisableIntrospection bool
	// RequestTimeout bounds one query or mutation, over HTTP or a
	// websocket, and the parsing and validation of a subscription
	// (default 30 s).
	RequestTimeout time.Duration
	// BodyReadTimeout bounds reading one request body (default 10 s).
	BodyReadTimeout time.Duration
	// QueryCacheBytes bounds the parsed-document cache by the estimated
	// memory of its documents (default 32 MiB).
	QueryCacheBytes int64

	// WSConnsPerIP bounds open websockets per client address (default 100).
	WSConnsPerIP int
	// WSConns bounds open websockets per instance (default 10 000).
	WSConns int
	// WSSubscriptions bounds running operations per websocket (default 100).
	WSSubscriptions int
	// WSMessageBytes bounds one incoming websocket message (default 64 KiB).
	WSMessageBytes int64
	// WSMessageRate bounds incoming websocket messages (pings included) per
	// second on one connection, with bursts of twice as many (default 50).
	WSMessageRate int
	// SSEStreamsPerIP bounds concurrent SSE streams per client address
	// (default 100).
	SSEStreamsPerIP int
}

// Default are the limits a zero Limits takes.
var Default = Limits{
	MaxTokens: 10_000, MaxFields: 2_000, MaxSelectionFields: 100, MaxAliases: 50,
	MaxRootFields: 20, MaxOperations: 20, MaxDirectives: 50, MaxIntrospection: 2, MaxErrors: 50,
	RequestTimeout: 30 * time.Second, BodyReadTimeout: 10 * time.Second, QueryCacheBytes: 32 << 20,
	WSConnsPerIP: 100, WSConns: 10_000, WSSubscriptions: 100, WSMessageBytes: 64 << 10, WSMessageRate: 50,
	SSEStreamsPerIP: 100,
}

// Defaults fills zero fields with their defaults.
func (l *Limits) Defaults() {
	d := Default
	def := func(v *int, dv int) {
		if *v == 0 {
			*v = dv
		}
	}
	def(&l.MaxTokens, d.MaxTokens)
	def(&l.MaxFields, d.MaxFields)
	def(&l.MaxSelectionFields, d.MaxSelectionFields)
	def(&l.MaxAliases, d.MaxAliases)
	def(&l.MaxRootFields, d.MaxRootFields)
	def(&l.MaxOperations, d.MaxOperations)
	def(&l.MaxDirectives, d.MaxDirectives)
	def(&l.MaxIntrospection, d.MaxIntrospection)
	def(&l.MaxErrors, d.MaxErrors)
	def(&l.WSConnsPerIP, d.WSConnsPerIP)
	def(&l.WSConns, d.WSConns)
	def(&l.WSSubscriptions, d.WSSubscriptions)
	def(&l.WSMessageRate, d.WSMessageRate)
	def(&l.SSEStreamsPerIP, d.SSEStreamsPerIP)
	if l.RequestTimeout == 0 {
		l.RequestTimeout = d.RequestTimeout
	}
	if l.BodyReadTimeout == 0 {
		l.BodyReadTimeout = d.BodyReadTimeout
	}
	if l.QueryCacheBytes == 0 {
		l.QueryCacheBytes = d.QueryCacheBytes
	}
	if l.WSMessageBytes == 0 {
		l.WSMessageBytes = d.WSMessageBytes
	}
}
