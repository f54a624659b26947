package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLimitFlags(t *testing.T) {
	t.Run("defaults, environment and flags", func(t *testing.T) {
		cfg, err := parseConfig([]string{"-ws-subscriptions", "7", "-ws-message-kb", "8"},
			envWith(map[string]string{"SESSIOND_WS_SUBSCRIPTIONS": "9", "SESSIOND_SSE_STREAMS_PER_IP": "3", "SESSIOND_INTROSPECTION": "false", "SESSIOND_REQUEST_TIMEOUT": "2s"}))
		if err != nil {
			t.Fatal(err)
		}
		l, depth, cost := cfg.limits.resolve()
		if l.WSSubscriptions != 7 || l.SSEStreamsPerIP != 3 || !l.DisableIntrospection || l.RequestTimeout != 2*time.Second || l.WSMessageBytes != 8<<10 {
			t.Fatalf("limits = %+v", l)
		}
		if depth != 12 || cost != 10_000 || l.MaxAliases != 50 || l.QueryCacheBytes != 32<<20 {
			t.Fatalf("defaults: depth %d, cost %d, limits %+v", depth, cost, l)
		}
	})

	in := startServer(t, filepath.Join(t.TempDir(), "s.db"), envWith(map[string]string{"SESSIOND_INTROSPECTION": "false"}))
	post := func(t *testing.T, query string, header map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, in.base+"/graphql", strings.NewReader(`{"query":`+mustJSON(query)+`}`))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	t.Run("-introspection=false refuses __schema with 400 FEATURE_DISABLED", func(t *testing.T) {
		res, body := post(t, "{ __schema { queryType { name } } }", nil)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"FEATURE_DISABLED"`) {
			t.Fatalf("status %d, body %s", res.StatusCode, body)
		}
		if res, body := post(t, "{ __typename }", nil); res.StatusCode != http.StatusOK || !strings.Contains(body, `"Query"`) {
			t.Fatalf("__typename: status %d, body %s", res.StatusCode, body)
		}
	})
	t.Run("headers over 32 KiB are refused with 431", func(t *testing.T) {
		res, _ := post(t, "{ __typename }", map[string]string{"X-Big": strings.Repeat("a", 40<<10)})
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", res.StatusCode)
		}
	})
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
