package webhook

import "time"

// Endpoint is a URL that receives events.
type Endpoint struct {
	ID          string
	URL         string
	Description string
	// TenantID limits the endpoint to one tenant's events; nil receives
	// every tenant's and the environment's.
	TenantID *string
	// EventTypes limits the endpoint to these types; empty receives all.
	EventTypes []string
	// Secret and PreviousSecret are sealed (see Sealer); the previous one
	// signs too until PreviousSecretExpiresAt, after a rotation.
	Secret                  Sealed
	PreviousSecret          Sealed
	PreviousSecretExpiresAt *time.Time
	// DisabledAt is set when the endpoint no longer receives events:
	// DisabledReason says why.
	DisabledAt     *time.Time
	DisabledReason *DisabledReason
	// FailingSince is the first failed attempt since the last success.
	FailingSince *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Enabled reports whether the endpoint receives events.
func (ep *Endpoint) Enabled() bool { return ep.DisabledAt == nil }

// DisabledReason says why an endpoint was disabled. The values are the
// GraphQL enum's.
type DisabledReason string

// Why endpoints are disabled.
const (
	// DisabledByAdmin: updateWebhookEndpoint(enabled: false).
	DisabledByAdmin DisabledReason = "ADMIN"
	// DisabledGone: the receiver answered 410 Gone.
	DisabledGone DisabledReason = "GONE"
	// DisabledFailing: every attempt failed for the failing window (5 days).
	DisabledFailing DisabledReason = "FAILING"
)

// Status is where a delivery stands. The values are the GraphQL enum's.
type Status string

// Delivery statuses.
const (
	// Pending deliveries wait for their next attempt.
	Pending Status = "PENDING"
	// Delivered deliveries got a 2xx answer.
	Delivered Status = "DELIVERED"
	// Failed deliveries used every attempt of the schedule, or were
	// refused for good (the endpoint answered 410).
	Failed Status = "FAILED"
)

// Delivery is one event for one endpoint, and how its attempts went.
type Delivery struct {
	ID         string
	EndpointID string
	EventID    string
	EventType  string
	// Payload is the exact body sent on every attempt.
	Payload        string
	Status         Status
	Attempts       int
	NextAttemptAt  *time.Time
	LastAttemptAt  *time.Time
	LastStatusCode *int
	LastError      *string
	DeliveredAt    *time.Time
	CreatedAt      time.Time
}

// WebhookID is the delivery's webhook-id header: stable across retries and
// redeliveries of one event to one endpoint, so receivers de-duplicate.
func (d *Delivery) WebhookID() string { return "msg_" + d.ID }

// DeliveryFilter selects one endpoint's deliveries, newest first.
type DeliveryFilter struct {
	EndpointID string
	// Status "" lists every status.
	Status Status
	// BeforeID continues after the delivery with this id.
	BeforeID string
	Limit    int
}
