package guard_test

import (
	"testing"

	"github.com/sessiond/sessiond/graph/guard"
)

// BenchmarkDecodeRequestBody is the request check's cost on the token
// validation request, which every API call pays once.
//
//	go test -run '^$' -bench DecodeRequestBody ./graph/guard/
func BenchmarkDecodeRequestBody(b *testing.B) {
	body := []byte(`{"query":"{ me { session { id } } }"}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := guard.DecodeRequestBody(body); err != nil {
			b.Fatal(err)
		}
	}
}
