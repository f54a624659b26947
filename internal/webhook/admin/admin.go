// Package admin is the admin side of webhooks: registering endpoints,
// rotating their secrets, listing and replaying deliveries. It is apart
// from package webhook because it asks internal/auth who the caller is,
// and the store (which imports webhook for the outbox) must not depend on
// auth.
package admin

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/auth"
	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/webhook"
)

// Store is what the admin operations need of storage. Every change writes
// its audit entry in its own transaction.
type Store interface {
	CreateWebhookEndpoint(ctx context.Context, actor model.Actor, ep webhook.Endpoint) (webhook.Endpoint, error)
	// UpdateWebhookEndpoint applies change to the stored endpoint (change
	// may refuse with an error) and stores the result. NOT_FOUND when there
	// is no such endpoint.
	UpdateWebhookEndpoint(ctx context.Context, actor model.Actor, id string, change func(*webhook.Endpoint) error) (webhook.Endpoint, error)
	DeleteWebhookEndpoint(ctx context.Context, actor model.Actor, id string) error
	WebhookEndpoints(ctx context.Context) ([]webhook.Endpoint, error)
	WebhookEndpoint(ctx context.Context, id string) (webhook.Endpoint, error)
	WebhookDeliveries(ctx context.Context, f webhook.DeliveryFilter) ([]webhook.Delivery, bool, error)
	// RedeliverWebhook makes a delivery pending again, due at now, with a
	// fresh schedule. NOT_FOUND when there is none.
	RedeliverWebhook(ctx context.Context, actor model.Actor, id string, now time.Time) (webhook.Delivery, error)
	// EnqueueTestWebhook writes a delivery of e to one endpoint, whatever
	// its filter. NOT_FOUND when there is no such endpoint.
	EnqueueTestWebhook(ctx context.Context, actor model.Actor, endpointID string, e webhook.Event) (webhook.Delivery, error)
	Tenant(ctx context.Context, id string) (model.Tenant, error)
}

// Service is the admin side of webhooks: endpoints, secrets, deliveries.
type Service struct {
	store  Store
	sealer *webhook.Sealer
	clock  clock.Clock
	log    *slog.Logger
	cfg    webhook.Config
	// kick tells the dispatcher of a new due delivery; changed, of
	// changed endpoints (which may resume deliveries).
	kick, changed func()
}

// NewService returns the admin side; kick and changed (may be nil) nudge
// the dispatcher: a new due delivery, changed endpoints.
func NewService(store Store, sealer *webhook.Sealer, clk clock.Clock, log *slog.Logger, cfg webhook.Config, kick, changed func()) *Service {
	if kick == nil {
		kick = func() {}
	}
	if changed == nil {
		changed = kick
	}
	return &Service{store: store, sealer: sealer, clock: clk, log: log, cfg: cfg.WithDefaults(), kick: kick, changed: changed}
}

// EndpointInput is what an admin sets on an endpoint. For updates, nil
// fields are left as they are; TenantID "" then means every tenant.
type EndpointInput struct {
	URL         *string
	Description *string
	EventTypes  *[]string
	TenantID    *string
	Enabled     *bool
}

// WithSecret is an endpoint with its signing secret, shown once.
type WithSecret struct {
	Endpoint webhook.Endpoint
	Secret   string
}

// Create registers an endpoint and returns it with its secret. Admin key
// only; BAD_USER_INPUT for a URL the network rules refuse or an unknown
// event type, NOT_FOUND for an unknown tenant.
func (s *Service) Create(ctx context.Context, p auth.Principal, in EndpointInput) (WithSecret, error) {
	if err := auth.RequireAdmin(p); err != nil {
		return WithSecret{}, err
	}
	if in.URL == nil {
		return WithSecret{}, apperr.Invalid("url", "url is required")
	}
	now := s.clock.Now().UTC().Truncate(time.Millisecond)
	ep := webhook.Endpoint{ID: uuid.Must(uuid.NewV7()).String(), CreatedAt: now, UpdatedAt: now}
	if err := s.apply(ctx, &ep, in); err != nil {
		return WithSecret{}, err
	}
	secret := webhook.NewSecret()
	ep.Secret = s.sealer.Seal(ep.ID, secret)
	created, err := s.store.CreateWebhookEndpoint(ctx, p.Actor(), ep)
	if err != nil {
		return WithSecret{}, err
	}
	s.changed()
	return WithSecret{Endpoint: created, Secret: secret}, nil
}

// apply validates in and sets it on ep.
func (s *Service) apply(ctx context.Context, ep *webhook.Endpoint, in EndpointInput) error {
	if in.URL != nil {
		u := strings.TrimSpace(*in.URL)
		if err := webhook.ValidateURL(u, s.cfg.AllowInsecure); err != nil {
			return err
		}
		ep.URL = u
	}
	if in.Description != nil {
		if len(*in.Description) > 1000 {
			return apperr.Invalid("description", "description must be at most 1000 characters")
		}
		ep.Description = strings.TrimSpace(*in.Description)
	}
	if in.EventTypes != nil {
		types := slices.Clone(*in.EventTypes)
		for _, t := range types {
			if !webhook.KnownType(t) {
				return apperr.Invalid("eventTypes", "unknown event type %q; known: %s", t, strings.Join(webhook.EventTypes, ", "))
			}
		}
		slices.Sort(types)
		ep.EventTypes = slices.Compact(types)
	}
	if in.TenantID != nil {
		if *in.TenantID == "" {
			ep.TenantID = nil
		} else {
			if _, err := s.store.Tenant(ctx, *in.TenantID); err != nil {
				return err
			}
			id := *in.TenantID
			ep.TenantID = &id
		}
	}
	if in.Enabled != nil {
		switch {
		case *in.Enabled:
			ep.DisabledAt, ep.DisabledReason, ep.FailingSince = nil, nil, nil
		case ep.DisabledAt == nil:
			now := s.clock.Now().UTC().Truncate(time.Millisecond)
			r := webhook.DisabledByAdmin
			ep.DisabledAt, ep.DisabledReason = &now, &r
		}
	}
	return nil
}

// Update changes an endpoint. Enabling it again (enabled: true) resumes its
// pending deliveries. Admin key only.
func (s *Service) Update(ctx context.Context, p auth.Principal, id string, in EndpointInput) (webhook.Endpoint, error) {
	if err := auth.RequireAdmin(p); err != nil {
		return webhook.Endpoint{}, err
	}
	ep, err := s.store.UpdateWebhookEndpoint(ctx, p.Actor(), id, func(ep *webhook.Endpoint) error {
		if err := s.apply(ctx, ep, in); err != nil {
			return err
		}
		ep.UpdatedAt = s.clock.Now().UTC().Truncate(time.Millisecond)
		return nil
	})
	if err == nil {
		s.changed()
	}
	return ep, err
}

// Delete removes an endpoint and its deliveries. Admin key only.
func (s *Service) Delete(ctx context.Context, p auth.Principal, id string) error {
	if err := auth.RequireAdmin(p); err != nil {
		return err
	}
	if err := s.store.DeleteWebhookEndpoint(ctx, p.Actor(), id); err != nil {
		return err
	}
	s.changed()
	return nil
}

// Rotate gives an endpoint a new secret and returns it; the old one keeps
// signing alongside for the rotation overlap. Admin key only.
func (s *Service) Rotate(ctx context.Context, p auth.Principal, id string) (WithSecret, error) {
	if err := auth.RequireAdmin(p); err != nil {
		return WithSecret{}, err
	}
	secret := webhook.NewSecret()
	ep, err := s.store.UpdateWebhookEndpoint(ctx, p.Actor(), id, func(ep *webhook.Endpoint) error {
		now := s.clock.Now().UTC().Truncate(time.Millisecond)
		until := now.Add(s.cfg.RotationOverlap)
		ep.PreviousSecret, ep.PreviousSecretExpiresAt = ep.Secret, &until
		ep.Secret = s.sealer.Seal(ep.ID, secret)
		ep.UpdatedAt = now
		return nil
	})
	if err != nil {
		return WithSecret{}, err
	}
	return WithSecret{Endpoint: ep, Secret: secret}, nil
}

// Endpoints lists every endpoint, oldest first. Admin key only.
func (s *Service) Endpoints(ctx context.Context, p auth.Principal) ([]webhook.Endpoint, error) {
	if err := auth.RequireAdmin(p); err != nil {
		return nil, err
	}
	return s.store.WebhookEndpoints(ctx)
}

// Deliveries lists one endpoint's deliveries, newest first. Admin key
// only; NOT_FOUND for an unknown endpoint.
func (s *Service) Deliveries(ctx context.Context, p auth.Principal, f webhook.DeliveryFilter) ([]webhook.Delivery, bool, error) {
	if err := auth.RequireAdmin(p); err != nil {
		return nil, false, err
	}
	if _, err := s.store.WebhookEndpoint(ctx, f.EndpointID); err != nil {
		return nil, false, err
	}
	return s.store.WebhookDeliveries(ctx, f)
}

// Redeliver sends a delivery again now, with the same webhook-id (so a
// receiver that processed it can tell), on a fresh retry schedule. Admin
// key only.
func (s *Service) Redeliver(ctx context.Context, p auth.Principal, id string) (webhook.Delivery, error) {
	if err := auth.RequireAdmin(p); err != nil {
		return webhook.Delivery{}, err
	}
	d, err := s.store.RedeliverWebhook(ctx, p.Actor(), id, s.clock.Now())
	if err == nil {
		s.kick()
	}
	return d, err
}

// SendTest sends a webhook.test event to one endpoint. Admin key only.
func (s *Service) SendTest(ctx context.Context, p auth.Principal, endpointID string) (webhook.Delivery, error) {
	if err := auth.RequireAdmin(p); err != nil {
		return webhook.Delivery{}, err
	}
	e := webhook.Event{Type: webhook.Test, At: s.clock.Now(), Data: webhook.TestData{EndpointID: endpointID}}
	d, err := s.store.EnqueueTestWebhook(ctx, p.Actor(), endpointID, e)
	if err == nil {
		s.kick()
	}
	return d, err
}
