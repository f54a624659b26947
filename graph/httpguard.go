package graph

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sessiond/sessiond/graph/guard"
	"github.com/sessiond/sessiond/internal/apperr"
)

// guardHTTP applies the HTTP limits of the GraphQL endpoint: security
// headers on every answer, a deadline for reading the request body (a
// client trickling a body byte by byte is cut off), a time budget for
// queries and mutations, and a bound on concurrent SSE streams per
// client address. Websocket upgrades are limited by the transport itself.
func guardHTTP(lim *Limits, clientIP func(*http.Request) string, next http.Handler) http.Handler {
	sse := newIPSlots(lim.SSEStreamsPerIP)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		// GraphQL answers carry tokens (login, createSession) and personal
		// data: no cache may keep them.
		h.Set("Cache-Control", "no-store")
		if r.Body != nil && r.Body != http.NoBody && lim.BodyReadTimeout > 0 && !serverBoundsRequest(r, lim.BodyReadTimeout) {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(lim.BodyReadTimeout)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		switch {
		case r.Header.Get("Upgrade") != "":
		case isSSE(r):
			ip := clientIP(r)
			if !sse.acquire(ip) {
				writeLimitError(w, http.StatusTooManyRequests, apperr.RateLimited, "sseStreamsPerIP",
					fmt.Sprintf("too many event streams from your address (the limit is %d); close one or use a websocket", lim.SSEStreamsPerIP))
				return
			}
			defer sse.release(ip)
		case lim.RequestTimeout > 0:
			ctx, cancel := context.WithTimeout(r.Context(), lim.RequestTimeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

// HeaderReadTimeout is how long a client may take to send a request's
// headers.
const HeaderReadTimeout = 10 * time.Second

// ConfigureServer sets the read timeouts of hs for lim: headers within
// HeaderReadTimeout and the whole request, body included, within
// lim.BodyReadTimeout of its first byte. net/http then sets the deadline
// as it reads each request and lifts it once the body has been read to
// its end (so SSE streams and websockets are not cut), which guardHTTP
// would otherwise do itself with two more deadline changes and three
// allocations per request; a handler served by such a server skips them.
func ConfigureServer(hs *http.Server, lim Limits) {
	lim.Defaults()
	hs.ReadHeaderTimeout = HeaderReadTimeout
	if lim.BodyReadTimeout > 0 {
		hs.ReadTimeout = lim.BodyReadTimeout
	}
}

// serverBoundsRequest reports whether the http.Server serving r already
// bounds reading its body by body or less (see ConfigureServer).
func serverBoundsRequest(r *http.Request, body time.Duration) bool {
	hs, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	return hs != nil && hs.ReadTimeout > 0 && hs.ReadTimeout <= body
}

// isSSE reports whether r asks for a GraphQL event stream (as gqlgen's
// SSE transport decides).
func isSSE(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// deadlineBody lifts the body's read deadline once the body has been read
// to its end, so that a long answer (an SSE stream) is not cut by it and
// the server still notices a client that goes away.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// ipSlots counts what each client address holds, against a bound.
type ipSlots struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newIPSlots(max int) *ipSlots { return &ipSlots{max: max, n: map[string]int{}} }

func (s *ipSlots) acquire(ip string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.max > 0 && s.n[ip] >= s.max {
		return false
	}
	s.n[ip]++
	return true
}

func (s *ipSlots) release(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[ip]--; s.n[ip] <= 0 {
		delete(s.n, ip)
	}
}

// checkRequest refuses GraphQL-over-HTTP requests that are not well-formed
// before gqlgen decodes them, with a message about the request rather than
// about Go types (gqlgen says "cannot unmarshal string into Go value of
// type map[string]interface {}"). The body has been read by limitBody.
func checkRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		switch r.Method {
		case http.MethodPost:
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" || r.Body == nil {
				break
			}
			var body []byte
			if body, err = io.ReadAll(r.Body); err != nil {
				writeLimitError(w, http.StatusBadRequest, apperr.BadUserInput, "body", "could not read the request body")
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			err = guard.DecodeRequestBody(body)
		case http.MethodGet:
			if r.Header.Get("Upgrade") == "" && r.URL.RawQuery != "" {
				err = guard.DecodeRequestQuery(r.URL.RawQuery)
			}
		}
		if err != nil {
			writeLimitError(w, http.StatusBadRequest, apperr.BadUserInput, "request", err.Error())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeLimitError answers a refused request with one GraphQL error.
func writeLimitError(w http.ResponseWriter, status int, code apperr.Code, limit, msg string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{
		"message":    msg,
		"extensions": map[string]any{"code": string(code), "limit": limit},
	}}})
}
