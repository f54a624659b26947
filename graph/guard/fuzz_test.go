package guard_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/sessiond/sessiond/graph/guard"
)

// FuzzDecodeRequestBody feeds arbitrary POST bodies to the request check:
// it must not panic, and what it accepts is one JSON object whose "query"
// is a string.
func FuzzDecodeRequestBody(f *testing.F) {
	for _, seed := range []string{
		`{"query":"{ __typename }"}`,
		`{"query":"query Q($a: Int) { __typename }","variables":{"a":1},"operationName":"Q","extensions":{}}`,
		`{"query":"{ me { session { id } } }","variables":null,"operationName":null}`,
		`[{"query":"{ __typename }"}]`, `notjson`, `{"query": 5}`, `{"query":"x","variables":[1]}`,
		`"str"`, `{}`, `null`, `{"query":"\u0000"}`, `{"query":"x"} trailing`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := guard.DecodeRequestBody(body); err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error message for %q", body)
			}
			return
		}
		var req struct {
			Query *string `json:"query"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.Query == nil {
			t.Fatalf("accepted a body without a string query: %q (%v)", body, err)
		}
	})
}

// FuzzDecodeRequestQuery feeds arbitrary GET query strings to the check:
// it must not panic, and what it accepts has object (or no) variables.
func FuzzDecodeRequestQuery(f *testing.F) {
	for _, seed := range []string{
		"query=%7B__typename%7D",
		"query=query+Q%28%24a%3AInt%29%7B__typename%7D&variables=%7B%22a%22%3A1%7D&operationName=Q",
		"query=x&variables=5", "query=x&extensions=%5B%5D", "%zz", "variables=%7B", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if err := guard.DecodeRequestQuery(raw); err != nil {
			return
		}
		v, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatalf("accepted an undecodable query string %q", raw)
		}
		if s := v.Get("variables"); s != "" {
			var m map[string]any
			if json.Unmarshal([]byte(s), &m) != nil {
				t.Fatalf("accepted variables that are not an object: %q", s)
			}
		}
	})
}
