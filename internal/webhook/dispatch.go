package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sessiond/sessiond/internal/clock"
)

// DefaultSchedule is the Standard Webhooks recommended retry schedule: the
// delay before each attempt (the first is immediate).
var DefaultSchedule = []time.Duration{
	0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour,
}

// Config tunes delivery. Zero fields take the defaults named.
type Config struct {
	// Schedule is the delay before each attempt (DefaultSchedule); a
	// delivery fails for good after the last.
	Schedule []time.Duration
	// Timeout bounds one attempt, connection to response (15 s).
	Timeout time.Duration
	// Lease is how long a claimed delivery stays with the instance that
	// claimed it; a dead instance's claims are retaken after it. It must
	// cover the attempts a claim can queue behind: an instance claims up to
	// 8 per attempt slot (default: 10 × Timeout).
	Lease time.Duration
	// Concurrency bounds attempts in flight per instance (32).
	Concurrency int
	// PerEndpoint bounds attempts in flight to one endpoint per instance (4),
	// so a slow receiver holds at most that many.
	PerEndpoint int
	// Poll is how often the outbox is looked at without a nudge (1 s):
	// retries falling due, rows other instances wrote.
	Poll time.Duration
	// FailingWindow disables an endpoint whose attempts all failed for
	// this long (5 days).
	FailingWindow time.Duration
	// RotationOverlap is how long a rotated secret keeps signing (24 h).
	RotationOverlap time.Duration
	// MaxRetryAfter caps a receiver's Retry-After (24 h).
	MaxRetryAfter time.Duration
	// AllowInsecure allows http:// and non-public addresses (development, tests).
	AllowInsecure bool
	// Key seals signing secrets at rest (SESSIOND_WEBHOOK_KEY); "" stores
	// them unencrypted.
	Key string
	// Disabled runs no dispatcher (endpoints and the outbox still work;
	// another instance delivers).
	Disabled bool
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if len(c.Schedule) == 0 {
		c.Schedule = DefaultSchedule
	}
	if c.Timeout <= 0 {
		c.Timeout = 15 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 32
	}
	if c.PerEndpoint <= 0 {
		c.PerEndpoint = 4
	}
	if c.PerEndpoint > c.Concurrency {
		c.PerEndpoint = c.Concurrency
	}
	if c.Lease <= 0 {
		c.Lease = c.Timeout * (claimAhead + 2)
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.FailingWindow <= 0 {
		c.FailingWindow = 5 * 24 * time.Hour
	}
	if c.RotationOverlap <= 0 {
		c.RotationOverlap = 24 * time.Hour
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = 24 * time.Hour
	}
	return c
}

// Claim is a delivery an instance holds the lease of, with its endpoint.
type Claim struct {
	Delivery Delivery
	Endpoint Endpoint
}

// Outcome is what one attempt settled, for the store to write.
type Outcome struct {
	DeliveryID, EndpointID string
	At                     time.Time
	Status                 Status
	Attempts               int
	NextAttemptAt          *time.Time
	StatusCode             *int
	Error                  *string
	// Succeeded clears the endpoint's FailingSince; otherwise it is set
	// to At unless set already.
	Succeeded bool
	// Disable disables the endpoint for this reason.
	Disable *DisabledReason
	// Release hands an unattempted claim back: only the lease is dropped.
	Release bool
	// Took is how long the attempt's request took (not stored).
	Took time.Duration
}

// Result names an attempt's outcome in one bounded word, for metrics and
// logs: delivered, retrying, failed (no retry left) or disabled.
func (o Outcome) Result() string {
	switch {
	case o.Disable != nil:
		return "disabled"
	case o.Status == Delivered:
		return "delivered"
	case o.Status == Pending:
		return "retrying"
	default:
		return "failed"
	}
}

// Outbox is what the dispatcher needs of the store.
type Outbox interface {
	// DueEndpoints lists enabled endpoints with deliveries due at now and
	// not leased, except those in skip, at most limit, in id order from
	// the first after after (wrapping round), so that when there are more
	// than limit every one gets its turn.
	DueEndpoints(ctx context.Context, now time.Time, skip []string, after string, limit int) ([]string, error)
	// ClaimDeliveries leases up to limit due deliveries of one enabled
	// endpoint to owner until now+lease; on PostgreSQL rows another
	// instance is claiming are skipped (FOR UPDATE SKIP LOCKED).
	ClaimDeliveries(ctx context.Context, owner, endpointID string, now time.Time, lease time.Duration, limit int) ([]Claim, error)
	// PeekDeliveries returns up to limit due deliveries of one enabled
	// endpoint, except skip, without leasing them: for the only instance
	// on a store, which holds its claims in memory.
	PeekDeliveries(ctx context.Context, endpointID string, now time.Time, skip []string, limit int) ([]Claim, error)
	// FinishAttempts writes outcomes of deliveries owner still leases
	// (owner "": the unleased ones PeekDeliveries returned), in one
	// transaction, and releases their leases.
	FinishAttempts(ctx context.Context, owner string, outs []Outcome) error
	// ReleaseLeases drops every lease: at the start of the only instance
	// (SQLite), whose predecessor's claims died with it.
	ReleaseLeases(ctx context.Context) error
	// HasWebhookEndpoints reports whether any endpoint is enabled.
	HasWebhookEndpoints(ctx context.Context) (bool, error)
}

// Dispatcher delivers the outbox: it claims due deliveries, signs and
// sends them with bounded concurrency, and writes the outcomes in batches.
type Dispatcher struct {
	cfg    Config
	store  Outbox
	clock  clock.Clock
	log    *slog.Logger
	sealer *Sealer
	client *http.Client
	owner  string
	// Single says no other instance shares the store: leases left at
	// start are stale, and claims are held in memory only (no claim
	// commit per round; a restart forgets them, which is what releasing
	// stale leases does anyway).
	Single bool
	// OnAttempt, when set, is told of every outcome (tests, metrics).
	OnAttempt func(Outcome)

	kick    chan struct{}
	results chan Outcome

	// sem bounds attempts in flight on this instance.
	sem chan struct{}

	mu sync.Mutex
	// inflight counts claims per endpoint queued or in flight; total sums
	// them.
	inflight map[string]int
	total    int
	// slots bounds attempts in flight per endpoint.
	slots map[string]chan struct{}
	// held are the deliveries claimed and not yet written back, with
	// their endpoints.
	held map[string]string
	// known and have cache whether any endpoint is enabled, for a single
	// instance: without one it never reads the outbox, so a deployment
	// without webhooks pays no background query (every endpoint change
	// goes through this process's EndpointsChanged).
	known, have bool
	// run is what attempts need while Run runs (nil otherwise): Offer
	// starts attempts only then.
	run *runState
	// backlog says the outbox may hold due deliveries nobody holds: an
	// offer was over the limits, or a round stopped at them. The next
	// finished batch then looks at the outbox again.
	backlog bool
	// behind holds the endpoints whose outbox may hold such deliveries,
	// older than anything a commit offers now: Offer takes none of theirs
	// (it counts what it declined, in the value) until a claim round has
	// read them all, oldest first, so that one endpoint's deliveries go
	// out in the order they were committed. (Measured: while Offer put
	// the newest commits into every freed slot, a burst on one core left
	// the oldest in the outbox until it ended, delivery p99 2 s.)
	behind map[string]uint64
	// after is the last endpoint a claim round read: the next starts
	// after it.
	after string
}

// runState is Run's, for attempts started outside its loop (Offer).
type runState struct {
	ctx, attemptCtx context.Context
	attempts        *sync.WaitGroup
}

// NewDispatcher returns a dispatcher for the store; owner names this
// instance in leases.
func NewDispatcher(cfg Config, store Outbox, clk clock.Clock, log *slog.Logger, sealer *Sealer, owner string) *Dispatcher {
	cfg = cfg.WithDefaults()
	return &Dispatcher{
		cfg: cfg, store: store, clock: clk, log: log, sealer: sealer, owner: owner,
		client:   NewHTTPClient(cfg.AllowInsecure, cfg.PerEndpoint),
		kick:     make(chan struct{}, 1),
		results:  make(chan Outcome, cfg.Concurrency*claimAhead),
		inflight: map[string]int{},
		slots:    map[string]chan struct{}{},
		held:     map[string]string{},
		behind:   map[string]uint64{},
		sem:      make(chan struct{}, cfg.Concurrency),
	}
}

// Kick asks the dispatcher to look at the outbox now: a change committed
// deliveries. It never blocks.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// EndpointsChanged tells the dispatcher that endpoints were created,
// changed or deleted, and nudges it.
func (d *Dispatcher) EndpointsChanged() {
	d.mu.Lock()
	d.known = false
	d.mu.Unlock()
	d.Kick()
}

// idle reports whether a single instance knows it has no enabled endpoint.
func (d *Dispatcher) idle(ctx context.Context) bool {
	if !d.Single {
		return false
	}
	d.mu.Lock()
	known, have := d.known, d.have
	d.mu.Unlock()
	if known {
		return !have
	}
	have, err := d.store.HasWebhookEndpoints(ctx)
	if err != nil {
		return false
	}
	d.mu.Lock()
	d.known, d.have = true, have
	d.mu.Unlock()
	return !have
}

// Run delivers until ctx ends, then waits for attempts in flight and
// writes their outcomes.
func (d *Dispatcher) Run(ctx context.Context) {
	if d.Single {
		if err := d.store.ReleaseLeases(ctx); err != nil {
			d.log.ErrorContext(ctx, "webhook: release stale leases", "err", err)
		}
	}
	attemptCtx, cancelAttempts := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAttempts()
	var writer sync.WaitGroup
	writer.Add(1)
	go func() { defer writer.Done(); d.writeResults(context.WithoutCancel(ctx)) }()
	var attempts sync.WaitGroup
	d.mu.Lock()
	d.run = &runState{ctx: ctx, attemptCtx: attemptCtx, attempts: &attempts}
	d.mu.Unlock()
	// The poll is a real-time timer, not the injected clock's: it only
	// decides how often to look; what is due is judged by the clock. (A
	// fake clock's timers are the expiry scheduler's to count in tests.)
	poll := time.NewTimer(d.cfg.Poll)
	defer poll.Stop()
	var last time.Time
	for {
		// A busy API nudges the dispatcher on every commit; one round of
		// claims per minRound serves them all.
		if wait := minRound - time.Since(last); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		last = time.Now()
		d.claim(ctx)
		select {
		case <-ctx.Done():
			// Attempts in flight finish (bounded by Timeout) so their
			// outcomes are written and nothing is sent twice on restart.
			d.mu.Lock()
			d.run = nil // no Offer adds to attempts from now on
			d.mu.Unlock()
			attempts.Wait()
			close(d.results)
			writer.Wait()
			return
		case <-d.kick:
		case <-poll.C:
			poll.Reset(d.cfg.Poll)
		}
	}
}

// claimAhead is how many deliveries per endpoint an instance claims for
// each attempt it may have in flight there: claiming in batches keeps the
// number of write transactions per delivery low, which matters on SQLite
// where they queue behind the API's writes.
const claimAhead = 8

// minRound spaces claim rounds (real time: batching, not scheduling). Each
// round that finds work commits a claim; on SQLite every commit syncs the
// WAL and queues behind the API's writes, so a busy API's nudges are served
// by one round per minRound.
const minRound = 10 * time.Millisecond

// resultLinger is how long the writer waits for more outcomes before it
// writes a batch: one commit for many attempts. Outcomes are bookkeeping
// (the receiver has its request already; a held delivery is not sent
// again meanwhile), so the window is long enough that a busy API's
// stream of deliveries costs a few commits a second on SQLite's single
// write lock, not one per attempt.
const resultLinger = 25 * time.Millisecond

// claim leases due deliveries, endpoint by endpoint, while this instance
// holds fewer than it may, and starts an attempt for each; attempts wait
// for their endpoint's and the instance's concurrency slots.
func (d *Dispatcher) claim(ctx context.Context) {
	perEndpoint, total := d.cfg.PerEndpoint*claimAhead, d.cfg.Concurrency*claimAhead
	if d.idle(ctx) {
		return
	}
	// This round reads the outbox: a backlog it leaves (limits reached)
	// is flagged again below.
	d.mu.Lock()
	d.backlog = false
	d.mu.Unlock()
	for ctx.Err() == nil {
		d.mu.Lock()
		free := total - d.total
		var full []string
		for ep, n := range d.inflight {
			if n >= perEndpoint {
				full = append(full, ep)
			}
		}
		if free <= 0 || len(full) > 0 {
			d.backlog = true
		}
		d.mu.Unlock()
		if free <= 0 {
			return
		}
		// The declines counted so far are of deliveries committed, and so
		// stamped due, before now: the reads below see them.
		d.mu.Lock()
		before := maps.Clone(d.behind)
		d.mu.Unlock()
		now := d.clock.Now()
		eps, err := d.store.DueEndpoints(ctx, now, full, d.after, free)
		if err != nil {
			if ctx.Err() == nil {
				d.log.ErrorContext(ctx, "webhook: list due deliveries", "err", err)
			}
			return
		}
		if len(eps) < free {
			// Every endpoint with due deliveries is listed (or full): the
			// others had none waiting, unless Offer declined one since.
			d.mu.Lock()
			for ep, declined := range before {
				if count, ok := d.behind[ep]; ok && count == declined && !slices.Contains(eps, ep) && !slices.Contains(full, ep) {
					delete(d.behind, ep)
				}
			}
			d.mu.Unlock()
		}
		started := 0
		for _, ep := range eps {
			d.mu.Lock()
			n := min(perEndpoint-d.inflight[ep], total-d.total)
			declined, wasBehind := d.behind[ep]
			d.after = ep
			var skip []string
			at := now
			if n <= 0 {
				d.backlog = true
			} else if d.Single {
				skip = d.heldByLocked(ep)
				// As above: what Offer declined up to here is due by now.
				at = d.clock.Now()
			}
			d.mu.Unlock()
			if n <= 0 {
				continue
			}
			var claims []Claim
			var err error
			if d.Single {
				claims, err = d.store.PeekDeliveries(ctx, ep, at, skip, n)
			} else {
				claims, err = d.store.ClaimDeliveries(ctx, d.owner, ep, now, d.cfg.Lease, n)
			}
			if err != nil {
				if ctx.Err() == nil {
					d.log.ErrorContext(ctx, "webhook: claim deliveries", "err", err)
				}
				return
			}
			d.mu.Lock()
			switch _, still := d.behind[ep]; {
			case len(claims) == n:
				// There may be more than the limits let it take.
				d.backlog = true
				if d.Single && !still {
					d.behind[ep] = 0
				}
			case wasBehind && d.behind[ep] == declined:
				delete(d.behind, ep) // it read every one that waited
			case wasBehind:
				// Offer declined some while it read, perhaps after its
				// snapshot; each decline nudged the next round, which
				// reads them.
			}
			started += d.startLocked(d.run, ep, claims)
			d.mu.Unlock()
		}
		if started == 0 {
			return
		}
	}
}

// Offer hands the dispatcher of the only instance deliveries just
// committed (db.DB.HandOffDeliveries), so that it sends them without
// reading the outbox: measured, that read was a third of a delivery's
// CPU while the API was busy. It takes what the concurrency limits let it
// hold and leaves the rest in the outbox for its next read; an endpoint
// whose older deliveries wait there (behind) gets none taken, so that
// they go first. It never blocks: the caller is a committing write.
func (d *Dispatcher) Offer(claims []Claim) {
	if !d.Single || len(claims) == 0 {
		return
	}
	perEndpoint, total := d.cfg.PerEndpoint*claimAhead, d.cfg.Concurrency*claimAhead
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.run == nil || d.run.ctx.Err() != nil {
		return // the poll after a start (or restart) finds them
	}
	byEndpoint := map[string][]Claim{}
	var order []string
	for _, c := range claims {
		ep := c.Endpoint.ID
		if _, ok := byEndpoint[ep]; !ok {
			order = append(order, ep)
		}
		byEndpoint[ep] = append(byEndpoint[ep], c)
	}
	for _, ep := range order {
		cs := byEndpoint[ep]
		if declined, ok := d.behind[ep]; ok {
			// The next round reads them, after the older ones; a round
			// that is reading now sees the count move and reads again.
			d.behind[ep] = declined + uint64(len(cs))
			d.Kick()
			continue
		}
		n := max(0, min(perEndpoint-d.inflight[ep], total-d.total))
		if n < len(cs) {
			cs = cs[:n]
			d.backlog = true
			d.behind[ep] = 0
		}
		d.startLocked(d.run, ep, cs)
	}
}

// startLocked takes the claims of endpoint ep that this instance does not
// hold already (a claim whose lease ran out while it waited, by the
// clock, is re-leased to it; one attempt is enough) and starts an attempt
// for each, which waits for ep's and the instance's concurrency slots. It
// returns how many it started; d.mu is held.
func (d *Dispatcher) startLocked(run *runState, ep string, claims []Claim) int {
	fresh := make([]Claim, 0, len(claims))
	for _, c := range claims {
		if _, ok := d.held[c.Delivery.ID]; !ok {
			d.held[c.Delivery.ID] = ep
			fresh = append(fresh, c)
		}
	}
	if len(fresh) == 0 {
		return 0
	}
	slot, ok := d.slots[ep]
	if !ok {
		slot = make(chan struct{}, d.cfg.PerEndpoint)
		d.slots[ep] = slot
	}
	d.inflight[ep] += len(fresh)
	d.total += len(fresh)
	for _, c := range fresh {
		run.attempts.Add(1)
		go func() {
			defer run.attempts.Done()
			slot <- struct{}{}
			d.sem <- struct{}{}
			var out Outcome
			if run.ctx.Err() != nil {
				// Shutting down: hand the claim back rather than
				// start an attempt that shutdown would wait for.
				out = Outcome{DeliveryID: c.Delivery.ID, EndpointID: ep, Release: true}
			} else {
				out = d.attempt(run.attemptCtx, c)
			}
			<-d.sem
			<-slot
			// The claim stops counting against the endpoint now; it
			// stays in held (and leased) until its outcome is written.
			d.mu.Lock()
			if d.inflight[ep]--; d.inflight[ep] <= 0 {
				delete(d.inflight, ep)
				delete(d.slots, ep)
			}
			d.total--
			_, behind := d.behind[ep]
			d.mu.Unlock()
			if behind {
				// Room for what waits in the outbox: read it now (rounds
				// are spaced by minRound), not after the outcome's write.
				d.Kick()
			}
			d.results <- out
		}()
	}
	return len(fresh)
}

// heldByLocked lists the deliveries of ep this instance holds; d.mu is held.
func (d *Dispatcher) heldByLocked(ep string) []string {
	var ids []string
	for id, e := range d.held {
		if e == ep {
			ids = append(ids, id)
		}
	}
	return ids
}

// leaseOwner is the owner the store knows this instance's claims by: ""
// when they are held in memory only.
func (d *Dispatcher) leaseOwner() string {
	if d.Single {
		return ""
	}
	return d.owner
}

// writeResults writes outcomes in batches: whatever arrives within
// resultLinger of the first goes in one transaction. A claim stays in held
// (and, on a shared store, leased) until its outcome is written, so it is
// never attempted twice.
func (d *Dispatcher) writeResults(ctx context.Context) {
	for out := range d.results {
		batch := []Outcome{out}
		linger := time.NewTimer(resultLinger)
	more:
		for len(batch) < 256 {
			select {
			case o, ok := <-d.results:
				if !ok {
					break more
				}
				batch = append(batch, o)
			case <-linger.C:
				break more
			}
		}
		linger.Stop()
		if err := d.store.FinishAttempts(ctx, d.leaseOwner(), batch); err != nil {
			// The deliveries are attempted again (once their leases run
			// out, or at once when held in memory): at least once, never
			// lost.
			d.log.ErrorContext(ctx, "webhook: record attempts", "err", err, "deliveries", len(batch))
		}
		d.mu.Lock()
		for _, o := range batch {
			delete(d.held, o.DeliveryID)
			if o.Disable != nil {
				d.known = false
			}
		}
		// Claims are free again, and retries may be due: look at the
		// outbox, unless this is the only instance and it holds whatever
		// was committed (Offer; retries fall due later, for the poll).
		again := !d.Single || d.backlog || len(d.behind) > 0
		d.mu.Unlock()
		if d.OnAttempt != nil {
			for _, o := range batch {
				if !o.Release {
					d.OnAttempt(o)
				}
			}
		}
		if again {
			d.Kick()
		}
	}
}

// Signature returns the webhook-signature header for a message: one v1
// signature per secret that signs at now (the current one, and the one
// before a rotation during the overlap), space-separated as the spec allows.
func (d *Dispatcher) Signature(ep Endpoint, msgID string, at time.Time, body []byte) (string, error) {
	secrets := []Sealed{ep.Secret}
	if ep.PreviousSecret != "" && ep.PreviousSecretExpiresAt != nil && at.Before(*ep.PreviousSecretExpiresAt) {
		secrets = append(secrets, ep.PreviousSecret)
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		plain, err := d.sealer.Open(ep.ID, s)
		if err != nil {
			return "", err
		}
		wh, err := standardwebhooks.NewWebhook(plain)
		if err != nil {
			return "", fmt.Errorf("webhook secret of %s: %w", ep.ID, err)
		}
		sig, err := wh.Sign(msgID, at, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// attempt sends one delivery once and decides what follows.
func (d *Dispatcher) attempt(ctx context.Context, c Claim) Outcome {
	del, ep := c.Delivery, c.Endpoint
	now := d.clock.Now()
	start := time.Now() // the request's own duration, whatever the clock
	code, retryAfter, err := d.send(ctx, ep, del, now)
	out := Outcome{DeliveryID: del.ID, EndpointID: ep.ID, At: now, Attempts: del.Attempts + 1, Took: time.Since(start)}
	if err == nil {
		out.StatusCode = &code
	}
	switch {
	case err == nil && code >= 200 && code < 300:
		out.Status, out.Succeeded = Delivered, true
		return out
	case err == nil && code == http.StatusGone:
		// The receiver says the endpoint is gone: stop sending it anything.
		out.Status = Failed
		r := DisabledGone
		out.Disable = &r
		msg := "410 Gone: endpoint disabled"
		out.Error = &msg
		return out
	case err != nil:
		msg := err.Error()
		if blocked(err) {
			msg = "refused by the network rules: " + msg
		}
		out.Error = &msg
	default:
		msg := fmt.Sprintf("HTTP %d", code)
		out.Error = &msg
	}
	if ep.FailingSince != nil && now.Sub(*ep.FailingSince) >= d.cfg.FailingWindow {
		r := DisabledFailing
		out.Disable = &r
	}
	if out.Attempts >= len(d.cfg.Schedule) {
		out.Status = Failed
		return out
	}
	delay := d.cfg.Schedule[out.Attempts]
	if retryAfter > delay {
		delay = min(retryAfter, d.cfg.MaxRetryAfter)
	}
	next := now.Add(delay)
	out.Status, out.NextAttemptAt = Pending, &next
	return out
}

// send makes the HTTP request; it returns the status code and, for 429
// and 503, the Retry-After the receiver asked for.
func (d *Dispatcher) send(ctx context.Context, ep Endpoint, del Delivery, now time.Time) (int, time.Duration, error) {
	body := []byte(del.Payload)
	id := del.WebhookID()
	sig, err := d.Signature(ep, id, now, body)
	if err != nil {
		d.log.ErrorContext(ctx, "webhook: cannot sign", "endpoint", ep.ID, "err", err)
		return 0, 0, errors.New("cannot sign: the signing secret is unreadable")
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sessiond-webhooks/1")
	req.Header.Set(standardwebhooks.HeaderWebhookID, id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	res, err := d.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	var wait time.Duration
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable {
		wait = retryAfterOf(res.Header.Get("Retry-After"), now)
	}
	return res.StatusCode, wait, nil
}

// retryAfterOf parses Retry-After: delay-seconds or an HTTP date.
func retryAfterOf(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
