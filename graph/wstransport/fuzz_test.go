package wstransport

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeMessage feeds arbitrary incoming messages of both protocols
// (graphql-transport-ws and the legacy graphql-ws) through the decoders
// the read loop uses: none may panic, and what they accept is what the
// protocols allow.
func FuzzDecodeMessage(f *testing.F) {
	for _, seed := range []string{
		`{"type":"connection_init"}`,
		`{"type":"connection_init","payload":{"Authorization":"Bearer sds_x"}}`,
		`{"type":"connection_init","payload":null}`,
		`{"type":"connection_init","payload":[1]}`,
		`{"type":"subscribe","id":"1","payload":{"query":"subscription { sessionTerminated { id } }"}}`,
		`{"type":"start","id":"1","payload":{"query":"{ __typename }","variables":{"a":1},"operationName":"Q"}}`,
		`{"type":"ping"}`, `{"type":"pong","payload":{}}`, `{"type":"complete","id":"1"}`, `{"type":"stop","id":"1"}`,
		`{"type":"connection_terminate"}`, `{"type":""}`, `{"id":"1"}`, `[]`, `null`, `{"type":1}`,
		`{"type":"subscribe","id":"","payload":{}}`, `{"type":"subscribe","id":"1","payload":"x"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMessage(data)
		if err != nil {
			return
		}
		if m.Type == "" {
			t.Fatalf("accepted a message without a type: %q", data)
		}
		switch m.Type {
		case "connection_init":
			if p, err := decodeInit(m.Payload); err == nil && p == nil {
				t.Fatalf("accepted init payload decoded to nil: %q", data)
			}
		case "subscribe", "start":
			if _, err := decodeSubscribe(m); err == nil {
				if m.ID == "" {
					t.Fatalf("accepted a subscribe without an id: %q", data)
				}
				if !json.Valid(m.Payload) {
					t.Fatalf("accepted an invalid payload: %q", data)
				}
			}
		}
	})
}
