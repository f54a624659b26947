package db

// Webhooks: endpoints, the outbox of deliveries written inside the
// transaction of the change they report, and the dispatcher's claims
// (leases; FOR UPDATE SKIP LOCKED on PostgreSQL, SQLite's single writer
// otherwise) and outcomes.

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/webhook"
)

// The store is admin.Store too; internal/app asserts it (db must not
// import admin, which depends on auth).
var _ webhook.Outbox = (*DB)(nil)

type webhookEndpointRow struct {
	bun.BaseModel           `bun:"table:webhook_endpoints"`
	ID                      string  `bun:"id,pk"`
	URL                     string  `bun:"url,notnull"`
	Description             string  `bun:"description,notnull"`
	TenantID                *string `bun:"tenant_id"`
	EventTypes              string  `bun:"event_types,notnull"`
	Secret                  string  `bun:"secret,notnull"`
	PreviousSecret          *string `bun:"previous_secret"`
	PreviousSecretExpiresAt *int64  `bun:"previous_secret_expires_at"`
	DisabledAt              *int64  `bun:"disabled_at"`
	DisabledReason          *string `bun:"disabled_reason"`
	FailingSince            *int64  `bun:"failing_since"`
	CreatedAt               int64   `bun:"created_at,notnull"`
	UpdatedAt               int64   `bun:"updated_at,notnull"`
}

func (r *webhookEndpointRow) model() webhook.Endpoint {
	ep := webhook.Endpoint{
		ID: r.ID, URL: r.URL, Description: r.Description, TenantID: r.TenantID,
		EventTypes: []string{}, Secret: webhook.Sealed(r.Secret),
		PreviousSecretExpiresAt: fromMSPtr(r.PreviousSecretExpiresAt), DisabledAt: fromMSPtr(r.DisabledAt),
		FailingSince: fromMSPtr(r.FailingSince), CreatedAt: fromMS(r.CreatedAt), UpdatedAt: fromMS(r.UpdatedAt),
	}
	if r.EventTypes != "" {
		ep.EventTypes = strings.Split(r.EventTypes, ",")
	}
	if r.PreviousSecret != nil {
		ep.PreviousSecret = webhook.Sealed(*r.PreviousSecret)
	}
	if r.DisabledReason != nil {
		reason := webhook.DisabledReason(*r.DisabledReason)
		ep.DisabledReason = &reason
	}
	return ep
}

func webhookEndpointRowOf(ep webhook.Endpoint) webhookEndpointRow {
	r := webhookEndpointRow{
		ID: ep.ID, URL: ep.URL, Description: ep.Description, TenantID: ep.TenantID,
		EventTypes: strings.Join(ep.EventTypes, ","), Secret: string(ep.Secret),
		PreviousSecretExpiresAt: msPtr(ep.PreviousSecretExpiresAt), DisabledAt: msPtr(ep.DisabledAt),
		FailingSince: msPtr(ep.FailingSince), CreatedAt: ms(ep.CreatedAt), UpdatedAt: ms(ep.UpdatedAt),
	}
	if ep.PreviousSecret != "" {
		s := string(ep.PreviousSecret)
		r.PreviousSecret = &s
	}
	if ep.DisabledReason != nil {
		s := string(*ep.DisabledReason)
		r.DisabledReason = &s
	}
	return r
}

type webhookDeliveryRow struct {
	bun.BaseModel  `bun:"table:webhook_deliveries"`
	ID             string  `bun:"id,pk"`
	EndpointID     string  `bun:"endpoint_id,notnull"`
	EventID        string  `bun:"event_id,notnull"`
	EventType      string  `bun:"event_type,notnull"`
	Payload        string  `bun:"payload,notnull"`
	Status         string  `bun:"status,notnull"`
	Attempts       int     `bun:"attempts,notnull"`
	NextAttemptAt  *int64  `bun:"next_attempt_at"`
	LeaseOwner     *string `bun:"lease_owner"`
	LeaseUntil     *int64  `bun:"lease_until"`
	LastAttemptAt  *int64  `bun:"last_attempt_at"`
	LastStatusCode *int    `bun:"last_status_code"`
	LastError      *string `bun:"last_error"`
	DeliveredAt    *int64  `bun:"delivered_at"`
	CreatedAt      int64   `bun:"created_at,notnull"`
}

func (r *webhookDeliveryRow) model() webhook.Delivery {
	return webhook.Delivery{
		ID: r.ID, EndpointID: r.EndpointID, EventID: r.EventID, EventType: r.EventType, Payload: r.Payload,
		Status: webhook.Status(r.Status), Attempts: r.Attempts, NextAttemptAt: fromMSPtr(r.NextAttemptAt),
		LastAttemptAt: fromMSPtr(r.LastAttemptAt), LastStatusCode: r.LastStatusCode, LastError: r.LastError,
		DeliveredAt: fromMSPtr(r.DeliveredAt), CreatedAt: fromMS(r.CreatedAt),
	}
}

// webhookAudit is what the audit trail records of an endpoint: never its
// secrets.
type webhookAudit struct {
	URL            string   `json:"url"`
	Description    string   `json:"description,omitempty"`
	TenantID       *string  `json:"tenantId,omitempty"`
	EventTypes     []string `json:"eventTypes"`
	Enabled        bool     `json:"enabled"`
	DisabledReason *string  `json:"disabledReason,omitempty"`
	SecretRotated  bool     `json:"secretRotated,omitempty"`
}

func webhookAuditOf(ep webhook.Endpoint) webhookAudit {
	a := webhookAudit{URL: ep.URL, Description: ep.Description, TenantID: ep.TenantID, EventTypes: ep.EventTypes, Enabled: ep.Enabled()}
	if ep.DisabledReason != nil {
		s := string(*ep.DisabledReason)
		a.DisabledReason = &s
	}
	return a
}

func auditTenant(ep webhook.Endpoint) string {
	if ep.TenantID != nil {
		return *ep.TenantID
	}
	return ""
}

// outboxBatch bounds the rows of one INSERT, below every dialect's
// parameter limit.
const outboxBatch = 500

// endpointCache holds the enabled endpoints that writeOutbox fans events
// out to, so that a session's end does not read them in its write
// transaction (measured: that read was 38 % of the outbox's cost). Only on
// SQLite, where this process is the only writer and writers take turns
// (DB.tx): every change to an endpoint empties the cache inside its own
// turn, so the next outbox write, in a later turn, reads the committed
// list. The cache holds whole endpoints (URL, sealed secrets), so that a
// committed delivery can be handed to the dispatcher as a ready claim (see
// DB.HandOffDeliveries). On PostgreSQL other instances change endpoints
// too, so every outbox write reads them (their id, tenant and event types
// only).
type endpointCache struct {
	on   bool
	list atomic.Pointer[[]webhook.Endpoint]
	// insert is the outbox's INSERT prepared on the database (SQLite;
	// nil on PostgreSQL, or when the table did not exist at Open), which
	// database/sql prepares once per connection and reuses in every
	// transaction: building the statement with bun, parsing its SQL and
	// scanning bun's RETURNING clause were two thirds of writeOutbox's CPU
	// (44 → 15 µs per end; the whole row +66 → +45 µs, docs/benchmarks.md).
	// stats counts it as bun's hook would.
	insert *sql.Stmt
	stats  *statsHook
}

// outboxInsertSQL is insert's statement: one delivery row, pending, due now.
const outboxInsertSQL = `INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`

// prepare prepares the outbox's INSERT on db. Without the table (a
// database opened without migrating) writeOutbox keeps to bun.
func (c *endpointCache) prepare(ctx context.Context, db *sql.DB, stats *statsHook) {
	if st, err := db.PrepareContext(ctx, outboxInsertSQL); err == nil {
		c.insert, c.stats = st, stats
	}
}

// close releases the prepared INSERT.
func (c *endpointCache) close() {
	if c.insert != nil {
		_ = c.insert.Close()
	}
}

// insertRows writes rows with the prepared INSERT when it can (tx is a
// transaction and the statement exists), reporting whether it did.
func (c *endpointCache) insertRows(ctx context.Context, idb bun.IDB, rows []webhookDeliveryRow) (bool, error) {
	tx, ok := idb.(bun.Tx)
	if c == nil || c.insert == nil || !ok {
		return false, nil
	}
	st := tx.Tx.StmtContext(ctx, c.insert)
	defer st.Close()
	for i := range rows {
		r := &rows[i]
		start := time.Now()
		if _, err := st.ExecContext(ctx, r.ID, r.EndpointID, r.EventID, r.EventType, r.Payload, r.Status, r.NextAttemptAt, r.CreatedAt); err != nil {
			return true, err
		}
		c.stats.record("INSERT", start)
	}
	return true, nil
}

// enabled returns the enabled endpoints, from the cache when it holds them.
func (c *endpointCache) enabled(ctx context.Context, idb bun.IDB) ([]webhook.Endpoint, error) {
	cached := c != nil && c.on
	if cached {
		if p := c.list.Load(); p != nil {
			return *p, nil
		}
	}
	var eps []webhookEndpointRow
	q := idb.NewSelect().Model(&eps).Where("disabled_at IS NULL")
	if !cached {
		q = q.Column("id", "tenant_id", "event_types")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, err
	}
	models := make([]webhook.Endpoint, len(eps))
	for i := range eps {
		models[i] = eps[i].model()
	}
	if cached {
		c.list.Store(&models)
	}
	return models, nil
}

// changed empties the cache; call it inside the transaction (the turn)
// that creates, changes, disables or deletes an endpoint.
func (c *endpointCache) changed() {
	if c != nil {
		c.list.Store(nil)
	}
}

// writeOutbox records one delivery per event and enabled endpoint that
// wants it, inside the caller's transaction: the change and its
// deliveries commit together or not at all.
func writeOutbox(ctx context.Context, idb bun.IDB, eps *endpointCache, now time.Time, evs ...webhook.Event) error {
	if len(evs) == 0 {
		return nil
	}
	models, err := eps.enabled(ctx, idb)
	if err != nil {
		return err
	}
	if len(models) == 0 {
		return nil
	}
	var rows []webhookDeliveryRow
	var to []int // rows[i] goes to models[to[i]]
	for _, e := range evs {
		if e.ID == "" {
			e.ID = newID()
		}
		var body string
		for i := range models {
			if !models[i].Wants(e) {
				continue
			}
			if body == "" {
				var err error
				if body, err = e.Body(); err != nil {
					return err
				}
			}
			rows = append(rows, newDeliveryRow(models[i].ID, e, body, now))
			to = append(to, i)
		}
	}
	if done, err := eps.insertRows(ctx, idb, rows); err != nil {
		return err
	} else if !done {
		for start := 0; start < len(rows); start += outboxBatch {
			chunk := rows[start:min(start+outboxBatch, len(rows))]
			if _, err := idb.NewInsert().Model(&chunk).Exec(ctx); err != nil {
				return err
			}
		}
	}
	if w := writeOf(ctx); w != nil && eps != nil && eps.on {
		for i := range rows {
			w.claims = append(w.claims, webhook.Claim{Delivery: rows[i].model(), Endpoint: models[to[i]]})
		}
	}
	return nil
}

func newDeliveryRow(endpointID string, e webhook.Event, body string, now time.Time) webhookDeliveryRow {
	due := ms(now)
	return webhookDeliveryRow{
		ID: newID(), EndpointID: endpointID, EventID: e.ID, EventType: e.Type, Payload: body,
		Status: string(webhook.Pending), NextAttemptAt: &due, CreatedAt: ms(now),
	}
}

// sessionEvents are the events of sessions that something happened to.
func sessionEvents(typ string, ss []model.Session, at func(model.Session) time.Time) []webhook.Event {
	out := make([]webhook.Event, len(ss))
	for i, s := range ss {
		out[i] = webhook.SessionEvent(typ, s, at(s))
	}
	return out
}

// CreateWebhookEndpoint stores a new endpoint, with its audit entry.
func (d *DB) CreateWebhookEndpoint(ctx context.Context, actor model.Actor, ep webhook.Endpoint) (webhook.Endpoint, error) {
	row := webhookEndpointRowOf(ep)
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return err
		}
		d.endpoints.changed()
		return d.writeAudit(ctx, tx, model.AuditEntry{TenantID: auditTenant(ep), Actor: actor, Action: "webhook_endpoint.created", TargetType: "webhook_endpoint", TargetID: ep.ID},
			nil, webhookAuditOf(ep))
	})
	if err != nil {
		return webhook.Endpoint{}, err
	}
	return row.model(), nil
}

// WebhookEndpoint returns one endpoint. NOT_FOUND when there is none.
func (d *DB) WebhookEndpoint(ctx context.Context, id string) (webhook.Endpoint, error) {
	return webhookEndpoint(ctx, d.bun, id, false)
}

func webhookEndpoint(ctx context.Context, idb bun.IDB, id string, lock bool) (webhook.Endpoint, error) {
	var row webhookEndpointRow
	q := idb.NewSelect().Model(&row).Where("id = ?", id)
	if lock {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return webhook.Endpoint{}, notFoundOr(err, "webhook endpoint %s not found", id)
	}
	return row.model(), nil
}

// UpdateWebhookEndpoint reads an endpoint, lets change modify it and writes
// it back with an audit entry, in one transaction (the row locked on
// PostgreSQL). NOT_FOUND when there is none; change's error is returned
// and nothing is written.
func (d *DB) UpdateWebhookEndpoint(ctx context.Context, actor model.Actor, id string, change func(*webhook.Endpoint) error) (webhook.Endpoint, error) {
	var out webhook.Endpoint
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		before, err := webhookEndpoint(ctx, tx, id, d.dialect == Postgres)
		if err != nil {
			return err
		}
		after := before
		after.EventTypes = append([]string(nil), before.EventTypes...)
		if err := change(&after); err != nil {
			return err
		}
		if after.EventTypes == nil {
			after.EventTypes = []string{}
		}
		row := webhookEndpointRowOf(after)
		if _, err := tx.NewUpdate().Model(&row).WherePK().Exec(ctx); err != nil {
			return err
		}
		d.endpoints.changed()
		action, ba, aa := "webhook_endpoint.updated", webhookAuditOf(before), webhookAuditOf(after)
		if after.Secret != before.Secret {
			action, aa.SecretRotated = "webhook_endpoint.secret_rotated", true
		}
		out = row.model()
		return d.writeAudit(ctx, tx, model.AuditEntry{TenantID: auditTenant(after), Actor: actor, Action: action, TargetType: "webhook_endpoint", TargetID: id}, ba, aa)
	})
	return out, err
}

// DeleteWebhookEndpoint removes an endpoint and its deliveries, with an
// audit entry. NOT_FOUND when there is none.
func (d *DB) DeleteWebhookEndpoint(ctx context.Context, actor model.Actor, id string) error {
	return d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		ep, err := webhookEndpoint(ctx, tx, id, d.dialect == Postgres)
		if err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*webhookDeliveryRow)(nil)).Where("endpoint_id = ?", id).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*webhookEndpointRow)(nil)).Where("id = ?", id).Exec(ctx); err != nil {
			return err
		}
		d.endpoints.changed()
		return d.writeAudit(ctx, tx, model.AuditEntry{TenantID: auditTenant(ep), Actor: actor, Action: "webhook_endpoint.deleted", TargetType: "webhook_endpoint", TargetID: id},
			webhookAuditOf(ep), nil)
	})
}

// WebhookEndpoints lists every endpoint, oldest first.
func (d *DB) WebhookEndpoints(ctx context.Context) ([]webhook.Endpoint, error) {
	var rows []webhookEndpointRow
	if err := d.bun.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]webhook.Endpoint, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// WebhookDeliveries lists one endpoint's deliveries, newest first, and
// whether there are more.
func (d *DB) WebhookDeliveries(ctx context.Context, f webhook.DeliveryFilter) ([]webhook.Delivery, bool, error) {
	var rows []webhookDeliveryRow
	q := d.bun.NewSelect().Model(&rows).Where("endpoint_id = ?", f.EndpointID)
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.BeforeID != "" {
		q = q.Where("id < ?", f.BeforeID)
	}
	if err := q.Order("id DESC").Limit(int64(f.Limit + 1)).Scan(ctx); err != nil {
		return nil, false, err
	}
	more := len(rows) > f.Limit
	if more {
		rows = rows[:f.Limit]
	}
	out := make([]webhook.Delivery, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, more, nil
}

// RedeliverWebhook makes a delivery pending again, due at now, with its
// attempts counted from zero, and audits it. NOT_FOUND when there is none.
func (d *DB) RedeliverWebhook(ctx context.Context, actor model.Actor, id string, now time.Time) (webhook.Delivery, error) {
	var row webhookDeliveryRow
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		due := ms(now)
		res, err := tx.NewUpdate().Model(&row).
			Set("status = ?, attempts = 0, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL", string(webhook.Pending), due).
			Where("id = ?", id).Returning("*").Exec(ctx, &row)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if row.ID == "" || (res != nil && rowsAffected(res) == 0) {
			return apperr.Errorf(apperr.NotFound, "webhook delivery %s not found", id)
		}
		ep, err := webhookEndpoint(ctx, tx, row.EndpointID, false)
		if err != nil {
			return err
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{TenantID: auditTenant(ep), Actor: actor, Action: "webhook_delivery.redelivered", TargetType: "webhook_delivery", TargetID: id},
			nil, map[string]string{"endpointId": row.EndpointID, "eventType": row.EventType})
	})
	if err != nil {
		return webhook.Delivery{}, err
	}
	return row.model(), nil
}

// EnqueueTestWebhook writes a delivery of e to one endpoint, whatever its
// filter, and audits it. NOT_FOUND when there is no such endpoint.
func (d *DB) EnqueueTestWebhook(ctx context.Context, actor model.Actor, endpointID string, e webhook.Event) (webhook.Delivery, error) {
	var row webhookDeliveryRow
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		ep, err := webhookEndpoint(ctx, tx, endpointID, false)
		if err != nil {
			return err
		}
		e.ID = newID()
		body, err := e.Body()
		if err != nil {
			return err
		}
		row = newDeliveryRow(endpointID, e, body, d.now())
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return err
		}
		return d.writeAudit(ctx, tx, model.AuditEntry{TenantID: auditTenant(ep), Actor: actor, Action: "webhook_endpoint.test_sent", TargetType: "webhook_endpoint", TargetID: endpointID},
			nil, map[string]string{"deliveryId": row.ID})
	})
	if err != nil {
		return webhook.Delivery{}, err
	}
	return row.model(), nil
}

// dueWhere selects deliveries an instance may claim at now: pending, due,
// and not leased (or leased by an instance whose lease ran out).
const dueWhere = "d.status = 'PENDING' AND d.next_attempt_at <= ? AND (d.lease_until IS NULL OR d.lease_until < ?)"

// DueEndpoints lists enabled endpoints with claimable deliveries, except
// skip, at most limit, in id order starting after after and wrapping
// round (a dispatcher with room for fewer than are due serves each in
// turn, not the first ones by id for ever). It only reads, so an idle poll writes nothing, and
// it looks at each endpoint's first pending rows only (through
// webhook_deliveries_due_idx), however long a backlog is.
func (d *DB) DueEndpoints(ctx context.Context, now time.Time, skip []string, after string, limit int) ([]string, error) {
	var ids []string
	q := d.bun.NewSelect().TableExpr("webhook_endpoints AS e").Column("e.id").Where("e.disabled_at IS NULL").
		Where("EXISTS (SELECT 1 FROM webhook_deliveries AS d WHERE d.endpoint_id = e.id AND "+dueWhere+")", ms(now), ms(now))
	if len(skip) > 0 {
		q = q.Where("e.id NOT IN (?)", bun.List(skip))
	}
	// Ids after `after` first, then from the start: a turn for each.
	err := q.OrderExpr("CASE WHEN e.id > ? THEN 0 ELSE 1 END, e.id", after).Limit(int64(limit)).Scan(ctx, &ids)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return ids, err
}

// ClaimDeliveries leases up to limit due deliveries of one enabled
// endpoint to owner until now+lease, earliest due first. On PostgreSQL the
// rows are locked with SKIP LOCKED, so instances claiming at once take
// different rows; SQLite's write lock (BEGIN IMMEDIATE) serialises claims.
func (d *DB) ClaimDeliveries(ctx context.Context, owner, endpointID string, now time.Time, lease time.Duration, limit int) ([]webhook.Claim, error) {
	var out []webhook.Claim
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		ep, err := webhookEndpoint(ctx, tx, endpointID, false)
		if errors.Is(err, sql.ErrNoRows) || apperr.CodeOf(err) == apperr.NotFound {
			return nil
		}
		if err != nil || !ep.Enabled() {
			return err
		}
		var ids []string
		q := tx.NewSelect().TableExpr("webhook_deliveries AS d").Column("d.id").
			Where("d.endpoint_id = ?", endpointID).Where(dueWhere, ms(now), ms(now)).
			OrderExpr("d.next_attempt_at, d.id").Limit(int64(limit))
		if d.dialect == Postgres {
			q = q.For("UPDATE SKIP LOCKED")
		}
		if err := q.Scan(ctx, &ids); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		var rows []webhookDeliveryRow
		if _, err := tx.NewUpdate().Model(&rows).Set("lease_owner = ?, lease_until = ?", owner, ms(now.Add(lease))).
			Where("id IN (?)", bun.List(ids)).Returning("*").Exec(ctx, &rows); err != nil {
			return err
		}
		for i := range rows {
			out = append(out, webhook.Claim{Delivery: rows[i].model(), Endpoint: ep})
		}
		return nil
	})
	return out, err
}

// PeekDeliveries returns up to limit due deliveries of one enabled
// endpoint, earliest due first, except those in skip, and writes nothing:
// the only instance on a store (SQLite) holds its claims in memory, so a
// delivery costs no claim commit queued behind the API's writes. (Leases
// guard against other instances; there are none, and the leases a dead
// predecessor left are released at start.)
func (d *DB) PeekDeliveries(ctx context.Context, endpointID string, now time.Time, skip []string, limit int) ([]webhook.Claim, error) {
	ep, err := webhookEndpoint(ctx, d.bun, endpointID, false)
	if errors.Is(err, sql.ErrNoRows) || apperr.CodeOf(err) == apperr.NotFound {
		return nil, nil
	}
	if err != nil || !ep.Enabled() {
		return nil, err
	}
	var rows []webhookDeliveryRow
	q := d.bun.NewSelect().Model(&rows).ModelTableExpr("webhook_deliveries AS d").ColumnExpr("d.*").
		Where("d.endpoint_id = ?", endpointID).Where(dueWhere, ms(now), ms(now)).
		OrderExpr("d.next_attempt_at, d.id").Limit(int64(limit))
	if len(skip) > 0 {
		q = q.Where("d.id NOT IN (?)", bun.List(skip))
	}
	if err := q.Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	out := make([]webhook.Claim, 0, len(rows))
	for i := range rows {
		out = append(out, webhook.Claim{Delivery: rows[i].model(), Endpoint: ep})
	}
	return out, nil
}

// leaseHeldBy matches the deliveries owner leases; owner "" matches the
// unleased ones, which the only instance holds in memory (PeekDeliveries).
func leaseHeldBy(owner string) (string, []any) {
	if owner == "" {
		return "lease_owner IS NULL", nil
	}
	return "lease_owner = ?", []any{owner}
}

// FinishAttempts writes the outcomes of attempts whose deliveries owner
// still leases (owner "": the unleased ones PeekDeliveries returned), and
// what they mean for their endpoints, in one transaction. An outcome whose
// lease was lost (retaken after it ran out) changes nothing.
func (d *DB) FinishAttempts(ctx context.Context, owner string, outs []webhook.Outcome) error {
	held, heldArgs := leaseHeldBy(owner)
	return d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		outs, err := finishDelivered(ctx, tx, owner, outs)
		if err != nil {
			return err
		}
		for _, o := range outs {
			if o.Release {
				if _, err := tx.NewUpdate().Model((*webhookDeliveryRow)(nil)).Set("lease_owner = NULL, lease_until = NULL").
					Where("id = ?", o.DeliveryID).Where(held, heldArgs...).Exec(ctx); err != nil {
					return err
				}
				continue
			}
			q := tx.NewUpdate().Model((*webhookDeliveryRow)(nil)).
				Set("status = ?, attempts = ?, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL", string(o.Status), o.Attempts, msPtr(o.NextAttemptAt)).
				Set("last_attempt_at = ?, last_status_code = ?, last_error = ?", ms(o.At), o.StatusCode, o.Error)
			if o.Status == webhook.Delivered {
				q = q.Set("delivered_at = ?", ms(o.At))
			}
			res, err := q.Where("id = ?", o.DeliveryID).Where(held, heldArgs...).Exec(ctx)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			eq := tx.NewUpdate().Model((*webhookEndpointRow)(nil)).Where("id = ?", o.EndpointID)
			if o.Succeeded {
				eq = eq.Set("failing_since = NULL").Where("failing_since IS NOT NULL")
			} else {
				eq = eq.Set("failing_since = COALESCE(failing_since, ?)", ms(o.At))
			}
			if o.Disable != nil {
				d.endpoints.changed()
				eq = tx.NewUpdate().Model((*webhookEndpointRow)(nil)).Where("id = ? AND disabled_at IS NULL", o.EndpointID).
					Set("disabled_at = ?, disabled_reason = ?, updated_at = ?", ms(o.At), string(*o.Disable), ms(o.At))
			}
			res, err = eq.Exec(ctx)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 && o.Disable != nil {
				if err := d.writeAudit(ctx, tx, model.AuditEntry{Actor: model.Actor{Kind: model.ActorSystem}, Action: "webhook_endpoint.disabled", TargetType: "webhook_endpoint", TargetID: o.EndpointID},
					nil, map[string]string{"reason": string(*o.Disable)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// finishDelivered writes the plain successes among outs (2xx, nothing to
// disable) with one UPDATE per status code and clears their endpoints'
// failingSince once, and returns the other outcomes: a busy dispatcher's
// batch costs a few statements, not two per delivery. Their last attempt
// and delivery are stamped with the batch's latest attempt, within the
// dispatcher's batching window (25 ms) of each.
func finishDelivered(ctx context.Context, idb bun.IDB, owner string, outs []webhook.Outcome) ([]webhook.Outcome, error) {
	held, heldArgs := leaseHeldBy(owner)
	byCode := map[int][]string{}
	var at time.Time
	rest := make([]webhook.Outcome, 0, len(outs))
	for _, o := range outs {
		if o.Status != webhook.Delivered || o.Disable != nil || o.Release || o.StatusCode == nil {
			rest = append(rest, o)
			continue
		}
		byCode[*o.StatusCode] = append(byCode[*o.StatusCode], o.DeliveryID)
		if o.At.After(at) {
			at = o.At
		}
	}
	endpoints := map[string]bool{}
	for code, ids := range byCode {
		var rows []webhookDeliveryRow
		_, err := idb.NewUpdate().Model(&rows).
			Set("status = ?, attempts = attempts + 1, next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL", string(webhook.Delivered)).
			Set("last_attempt_at = ?, last_status_code = ?, last_error = NULL, delivered_at = ?", ms(at), code, ms(at)).
			Where("id IN (?)", bun.List(ids)).Where(held, heldArgs...).Returning("endpoint_id").Exec(ctx, &rows)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		for _, r := range rows {
			endpoints[r.EndpointID] = true
		}
	}
	if len(endpoints) > 0 {
		ids := make([]string, 0, len(endpoints))
		for id := range endpoints {
			ids = append(ids, id)
		}
		if _, err := idb.NewUpdate().Model((*webhookEndpointRow)(nil)).Set("failing_since = NULL").
			Where("id IN (?) AND failing_since IS NOT NULL", bun.List(ids)).Exec(ctx); err != nil {
			return nil, err
		}
	}
	return rest, nil
}

// ReleaseLeases drops every lease, for the only instance at its start.
func (d *DB) ReleaseLeases(ctx context.Context) error {
	done, err := d.writeTurn(ctx)
	if err != nil {
		return err
	}
	defer done()
	_, err = d.bun.NewUpdate().Model((*webhookDeliveryRow)(nil)).Set("lease_owner = NULL, lease_until = NULL").
		Where("lease_owner IS NOT NULL AND status = ?", string(webhook.Pending)).Exec(ctx)
	return err
}

// HasWebhookEndpoints reports whether any endpoint is enabled.
func (d *DB) HasWebhookEndpoints(ctx context.Context) (bool, error) {
	return d.bun.NewSelect().Model((*webhookEndpointRow)(nil)).Where("disabled_at IS NULL").Exists(ctx)
}

// PendingWebhookDeliveries counts pending deliveries (tests, drain).
func (d *DB) PendingWebhookDeliveries(ctx context.Context) (int, error) {
	n, err := d.bun.NewSelect().Model((*webhookDeliveryRow)(nil)).Where("status = ?", string(webhook.Pending)).Count(ctx)
	return int(n), err
}

func rowsAffected(res sql.Result) int64 {
	n, _ := res.RowsAffected()
	return n
}
