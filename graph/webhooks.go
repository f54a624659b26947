package graph

import (
	"encoding/base64"
	"strings"

	"github.com/sessiond/sessiond/graph/gqlmodel"
	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/webhook"
	"github.com/sessiond/sessiond/internal/webhook/admin"
)

// Conversions between the webhook API and internal/webhook.

func createEndpointInput(in gqlmodel.CreateWebhookEndpointInput) admin.EndpointInput {
	out := admin.EndpointInput{URL: &in.URL, Description: in.Description, TenantID: in.TenantID}
	if in.EventTypes != nil {
		out.EventTypes = &in.EventTypes
	}
	return out
}

func updateEndpointInput(in gqlmodel.UpdateWebhookEndpointInput) admin.EndpointInput {
	out := admin.EndpointInput{URL: in.URL, Description: in.Description, TenantID: in.TenantID, Enabled: in.Enabled}
	if in.EventTypes != nil {
		out.EventTypes = &in.EventTypes
	}
	return out
}

func endpointSecret(ws admin.WithSecret, err error) (*gqlmodel.WebhookEndpointSecret, error) {
	if err != nil {
		return nil, err
	}
	return &gqlmodel.WebhookEndpointSecret{Endpoint: &ws.Endpoint, Secret: ws.Secret}, nil
}

const deliveryCursorPrefix = "delivery:"

// deliveryFilter parses webhookDeliveries' paging and filter arguments.
func deliveryFilter(endpointID string, status *webhook.Status, first *int, after *string) (webhook.DeliveryFilter, error) {
	f := webhook.DeliveryFilter{EndpointID: endpointID, Status: deref(status), Limit: defaultPageSize}
	if first != nil {
		if *first < 0 || *first > maxPageSize {
			return f, apperr.Invalid("first", "first must be between 0 and %d", maxPageSize)
		}
		f.Limit = *first
	}
	if after != nil && *after != "" {
		b, err := base64.RawURLEncoding.DecodeString(*after)
		if err != nil || !strings.HasPrefix(string(b), deliveryCursorPrefix) || len(b) == len(deliveryCursorPrefix) {
			return f, apperr.Invalid("after", "after is not a cursor returned by this API")
		}
		f.BeforeID = strings.TrimPrefix(string(b), deliveryCursorPrefix)
	}
	return f, nil
}

func deliveryConnection(ds []webhook.Delivery, more bool, err error) (*gqlmodel.WebhookDeliveryConnection, error) {
	if err != nil {
		return nil, err
	}
	c := &gqlmodel.WebhookDeliveryConnection{Edges: make([]*gqlmodel.WebhookDeliveryEdge, len(ds)), PageInfo: &gqlmodel.PageInfo{HasNextPage: more}}
	for i := range ds {
		cur := base64.RawURLEncoding.EncodeToString([]byte(deliveryCursorPrefix + ds[i].ID))
		c.Edges[i] = &gqlmodel.WebhookDeliveryEdge{Cursor: cur, Node: &ds[i]}
	}
	if n := len(c.Edges); n > 0 {
		end := c.Edges[n-1].Cursor
		c.PageInfo.EndCursor = &end
	} else {
		c.PageInfo.HasNextPage = false
	}
	return c, nil
}
