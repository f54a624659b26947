package graph_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/webhook"
)

// hook is one request a receiver got.
type hook struct {
	ID, Timestamp, Signature string
	Body                     []byte
	Payload                  struct {
		Type      string
		Timestamp time.Time
		Data      json.RawMessage
	}
	// Status is what the receiver answered.
	Status int
}

// receiver is a real HTTP receiver that verifies every request with the
// Standard Webhooks library, as a customer's back end would.
type receiver struct {
	t   *testing.T
	srv *httptest.Server
	// ignoreTimestamp skips the library's 5-minute tolerance, for servers
	// on a fake clock.
	ignoreTimestamp bool

	mu      sync.Mutex
	secrets []string
	got     []hook
	// answer decides the response to the n-th request (0-based); nil answers 200.
	answer func(n int, h hook) (int, http.Header)
	// hold, when set, runs first on every request, outside the lock: a
	// receiver that is slow on some requests.
	hold func()
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// URL is where the receiver listens (http://127.0.0.1:port/hook).
func (r *receiver) URL() string { return r.srv.URL + "/hook" }

// trust adds a secret the receiver verifies with; a request must verify
// with every trusted secret.
func (r *receiver) trust(secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, secret)
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	if r.hold != nil {
		r.hold()
	}
	body, _ := io.ReadAll(req.Body)
	h := hook{ID: req.Header.Get("webhook-id"), Timestamp: req.Header.Get("webhook-timestamp"), Signature: req.Header.Get("webhook-signature"), Body: body}
	if err := json.Unmarshal(body, &h.Payload); err != nil {
		r.t.Errorf("webhook body is not JSON: %v\n%s", err, body)
	}
	r.mu.Lock()
	for _, s := range r.secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			r.t.Errorf("secret %q is not a Standard Webhooks secret: %v", s, err)
			continue
		}
		verify := wh.Verify
		if r.ignoreTimestamp {
			verify = wh.VerifyIgnoringTimestamp
		}
		if err := verify(body, req.Header); err != nil {
			r.t.Errorf("webhook %s (%s) does not verify: %v", h.ID, h.Payload.Type, err)
		}
	}
	status, header := http.StatusOK, http.Header(nil)
	if r.answer != nil {
		status, header = r.answer(len(r.got), h)
	}
	h.Status = status
	r.got = append(r.got, h)
	r.mu.Unlock()
	for k, vs := range header {
		w.Header()[k] = vs
	}
	w.WriteHeader(status)
}

// hooks returns what arrived so far.
func (r *receiver) hooks() []hook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hook(nil), r.got...)
}

// waitFor waits until n requests arrived and returns them.
func (r *receiver) waitFor(n int) []hook {
	r.t.Helper()
	eventually(r.t, "webhooks to arrive", func() bool { return len(r.hooks()) >= n })
	return r.hooks()
}

// ofType returns the requests of one event type.
func ofType(hs []hook, typ string) []hook {
	var out []hook
	for _, h := range hs {
		if h.Payload.Type == typ {
			out = append(out, h)
		}
	}
	return out
}

// startWebhooks starts a server that may deliver to httptest receivers,
// retrying quickly.
func startWebhooks(t *testing.T, opts ...graphtest.Option) *graphtest.Server {
	return graphtest.Start(t, append([]graphtest.Option{fastWebhooks()}, opts...)...)
}

func fastWebhooks() graphtest.Option {
	return graphtest.WithWebhooks(func(c *webhook.Config) {
		c.AllowInsecure = true
		c.Poll = 20 * time.Millisecond
		if c.Schedule == nil {
			c.Schedule = []time.Duration{0, 20 * time.Millisecond, 20 * time.Millisecond}
		}
	})
}

const endpointFields = `id url description tenantId eventTypes enabled disabledAt disabledReason failingSince previousSecretExpiresAt createdAt updatedAt`

type endpointView struct {
	ID, URL, Description    string
	TenantID                *string
	EventTypes              []string
	Enabled                 bool
	DisabledAt              *time.Time
	DisabledReason          *string
	FailingSince            *time.Time
	PreviousSecretExpiresAt *time.Time
	CreatedAt, UpdatedAt    time.Time
}

// createEndpoint registers an endpoint for the receiver, which then
// trusts its secret.
func createEndpoint(t *testing.T, s *graphtest.Server, r *receiver, input map[string]any) endpointView {
	t.Helper()
	in := map[string]any{"url": r.URL()}
	for k, v := range input {
		in[k] = v
	}
	var out struct {
		CreateWebhookEndpoint struct {
			Endpoint endpointView
			Secret   string
		}
	}
	s.Admin(`mutation($in: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $in) { endpoint { `+endpointFields+` } secret } }`, map[string]any{"in": in}, &out)
	sec := out.CreateWebhookEndpoint.Secret
	if !strings.HasPrefix(sec, "whsec_") || len(sec) < len("whsec_")+32 {
		t.Fatalf("secret %q, want whsec_ and the base64 of at least 24 bytes", sec)
	}
	r.trust(sec)
	return out.CreateWebhookEndpoint.Endpoint
}

func endpoints(t *testing.T, s *graphtest.Server) []endpointView {
	t.Helper()
	var out struct{ WebhookEndpoints []endpointView }
	s.Admin(`{ webhookEndpoints { `+endpointFields+` } }`, nil, &out)
	return out.WebhookEndpoints
}

func endpointByID(t *testing.T, s *graphtest.Server, id string) endpointView {
	t.Helper()
	for _, e := range endpoints(t, s) {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("endpoint %s not listed", id)
	return endpointView{}
}

const deliveryFields = `id endpointId webhookId eventType payload status attempts nextAttemptAt lastAttemptAt lastStatusCode lastError deliveredAt createdAt`

type deliveryView struct {
	ID, EndpointID, WebhookID, EventType, Payload, Status string
	Attempts                                              int
	NextAttemptAt, LastAttemptAt, DeliveredAt             *time.Time
	LastStatusCode                                        *int
	LastError                                             *string
	CreatedAt                                             time.Time
}

func deliveries(t *testing.T, s *graphtest.Server, endpointID string, status *string) []deliveryView {
	t.Helper()
	var out struct {
		WebhookDeliveries struct {
			Edges []struct{ Node deliveryView }
		}
	}
	s.Admin(`query($e: ID!, $s: WebhookDeliveryStatus) { webhookDeliveries(endpointId: $e, status: $s, first: 500) { edges { node { `+deliveryFields+` } } } }`,
		map[string]any{"e": endpointID, "s": status}, &out)
	var ds []deliveryView
	for _, e := range out.WebhookDeliveries.Edges {
		ds = append(ds, e.Node)
	}
	return ds
}
