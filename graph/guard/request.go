// Package guard checks GraphQL-over-HTTP requests before gqlgen decodes
// them, so that a malformed request is refused with a message about the
// request (not about Go types). It is pure and small, so it can be fuzzed
// quickly.
package guard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
)

// DecodeRequestBody checks a GraphQL-over-HTTP POST body: one JSON object
// with a string "query" and optional "operationName" (string),
// "variables" and "extensions" (objects). Its errors are meant for the
// client.
func DecodeRequestBody(body []byte) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return errors.New("batched requests (a JSON array of operations) are not supported: send one operation per request")
	}
	// A struct, not a map: this runs on every request, and json checks the
	// syntax of the whole body (raw fields included) either way.
	var req struct {
		Query         json.RawMessage `json:"query"`
		OperationName json.RawMessage `json:"operationName"`
		Variables     json.RawMessage `json:"variables"`
		Extensions    json.RawMessage `json:"extensions"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return describeJSONError("the request body", err)
	}
	if jsonKind(trimmed) != '{' {
		return errors.New("the request body must be a JSON object with a \"query\"")
	}
	if req.Query == nil {
		return errors.New("the request has no \"query\"")
	}
	for _, p := range []struct {
		name string
		raw  json.RawMessage
	}{{"query", req.Query}, {"operationName", req.OperationName}, {"variables", req.Variables}, {"extensions", req.Extensions}} {
		if p.raw != nil {
			if err := checkParam(p.name, p.raw); err != nil {
				return err
			}
		}
	}
	return nil
}

// DecodeRequestQuery checks the query string of a GraphQL-over-HTTP GET:
// "variables" and "extensions", when present, must be JSON objects.
func DecodeRequestQuery(rawQuery string) error {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return errors.New("the query string is not valid URL encoding")
	}
	for _, name := range []string{"variables", "extensions"} {
		if s := v.Get(name); s != "" {
			if err := checkParam(name, json.RawMessage(s)); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkParam(name string, raw json.RawMessage) error {
	kind := jsonKind(raw)
	switch name {
	case "query", "operationName":
		if kind != '"' && !(name == "operationName" && kind == 'n') {
			return fmt.Errorf("%q must be a string", name)
		}
	case "variables", "extensions":
		if kind != '{' && kind != 'n' {
			return fmt.Errorf("%q must be a JSON object", name)
		}
		if !json.Valid(raw) {
			return fmt.Errorf("%q is not valid JSON", name)
		}
	}
	return nil
}

// jsonKind is the first byte of a JSON value: '{', '[', '"', 'n' (null), ...
func jsonKind(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// describeJSONError words a decoding error without Go type names.
func describeJSONError(what string, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("%s is not valid JSON: %s (at byte %d)", what, syntax.Error(), syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("%s must be a JSON object", what)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s is not valid JSON: it ends too early", what)
	default:
		return fmt.Errorf("%s is not valid JSON", what)
	}
}
