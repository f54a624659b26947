package events

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/model"
)

// Channel is the PostgreSQL NOTIFY channel sessiond instances share.
const Channel = "sessiond_events"

// ListenerApplicationName is the application_name of listener connections.
const ListenerApplicationName = "sessiond-listener"

// PGStore is what the PostgreSQL bus needs of the database.
type PGStore interface {
	// Notify sends one NOTIFY on channel with the payload.
	Notify(ctx context.Context, channel, payload string) error
	// SessionsByIDs loads sessions to turn notified ids back into events.
	SessionsByIDs(ctx context.Context, ids []string) ([]model.Session, error)
	// SessionsEndedSince lists sessions ended at or after t, to re-sync
	// after the listener lost its connection.
	SessionsEndedSince(ctx context.Context, t time.Time) ([]model.Session, error)
}

// PG is the Bus for several instances on one PostgreSQL database: events
// are delivered at once to this instance's subscribers and sent to the
// other instances with NOTIFY, batched, as compact ids; each instance's
// listener loads the sessions and delivers them to its own subscribers.
// A listener that loses its connection reconnects and re-publishes the
// terminations it may have missed; duplicates are dropped, so a subscriber
// sees each session end once.
type PG struct {
	local    *Memory
	obs      Observer
	store    PGStore
	dsn      string
	instance string
	log      *slog.Logger

	queue chan compact
	seen  *lru.Cache[string, struct{}]

	mu        sync.Mutex
	listening bool
	lastSeen  time.Time

	stop context.CancelFunc
	wg   sync.WaitGroup
}

var _ Bus = (*PG)(nil)

// compact is one event as sent in a notification: the receiver loads the
// session by id. Terminations also carry user, tenant and reason, so they
// are delivered even when the session row is gone (a deleted user).
type compact struct {
	Kind     byte   // 'C'reated, 'T'erminated, 'E'xpiring soon, 'P' entitlements changed
	ID       string // session id
	At       int64  // Unix milliseconds
	UserID   string
	TenantID string
	Reason   string
}

func (c compact) item() []string {
	out := []string{string(c.Kind), c.ID, strconv.FormatInt(c.At, 10)}
	switch c.Kind {
	case 'T':
		out = append(out, c.UserID, c.TenantID, c.Reason)
	case 'P':
		out = append(out, c.UserID, c.TenantID)
	}
	return out
}

type payload struct {
	Instance string     `json:"i"`
	Events   [][]string `json:"e"`
	// Sent is when the notification was sent (Unix microseconds), for the
	// lag metric; instances that predate it leave it out.
	Sent int64 `json:"s,omitempty"`
}

// Batching limits: PostgreSQL refuses payloads of 8000 bytes or more.
const (
	maxPayload    = 7500
	batchWindow   = 5 * time.Millisecond
	queueCapacity = 65536
)

// NewPG starts a PostgreSQL bus: a batcher that sends NOTIFY and a listener
// on its own connection to dsn. instance names this process in payloads.
//
// obs, if not nil, is told of publications, receptions and re-syncs.
func NewPG(store PGStore, dsn, instance string, log *slog.Logger, obs Observer) *PG {
	if obs == nil {
		obs = nopObserver{}
	}
	seen, _ := lru.New[string, struct{}](200_000)
	ctx, cancel := context.WithCancel(context.Background())
	b := &PG{
		local: NewMemory(), obs: obs, store: store, dsn: dsn, instance: instance, log: log,
		queue: make(chan compact, queueCapacity), seen: seen, stop: cancel,
	}
	b.wg.Add(2)
	go func() { defer b.wg.Done(); b.batch(ctx) }()
	go func() { defer b.wg.Done(); b.listen(ctx) }()
	return b
}

// Publish delivers events to this instance's subscribers at once and
// queues them for the other instances.
func (b *PG) Publish(ctx context.Context, evs ...Event) error {
	fresh := evs[:0:0]
	for _, e := range evs {
		if b.firstTime(e) {
			fresh = append(fresh, e)
		}
	}
	if err := b.local.Publish(ctx, fresh...); err != nil {
		return err
	}
	if len(fresh) > 0 {
		b.obs.Published(len(fresh))
	}
	for _, e := range fresh {
		c := compact{Kind: kindCode(e.Kind), ID: e.Session.ID, At: e.At.UnixMilli(), UserID: e.Session.UserID, TenantID: e.Session.TenantID, Reason: string(e.Session.EndReason)}
		if e.Kind == EntitlementsChanged {
			c.UserID, c.TenantID = e.Change.UserID, e.Change.TenantID
		}
		select {
		case b.queue <- c:
		default:
			// The queue is full: other instances catch up on terminations
			// from the database within catchUpEvery; say so, never block.
			b.log.Warn("event notification queue full; dropping a notification", "session", e.Session.ID, "kind", e.Kind)
		}
	}
	return nil
}

// Subscribe registers a subscriber on this instance.
func (b *PG) Subscribe(ctx context.Context, f Filter, buffer int) (*Subscription, error) {
	return b.local.Subscribe(ctx, f, buffer)
}

// Watch registers a callback on this instance.
func (b *PG) Watch(ctx context.Context, f Filter, fn func(Event)) (func(), error) {
	return b.local.Watch(ctx, f, fn)
}

// Subscribers counts this instance's subscriptions.
func (b *PG) Subscribers() int { return b.local.Subscribers() }

// Listening reports whether the listener connection is up.
func (b *PG) Listening() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.listening
}

// Close stops the batcher (sending what is queued) and the listener, and
// ends every subscription.
func (b *PG) Close() {
	b.stop()
	b.wg.Wait()
	b.local.Close()
}

// firstTime reports whether an event has not been delivered here before.
// TERMINATED and EXPIRING_SOON happen once per session or deadline, so a
// repeat (an own notification, a re-sync) is dropped.
func (b *PG) firstTime(e Event) bool {
	var key string
	switch e.Kind {
	case Terminated:
		key = "T" + e.Session.ID
	case ExpiringSoon:
		key = "E" + e.Session.ID + strconv.FormatInt(e.Session.ExpiresAt.UnixMilli(), 10)
	case Created:
		key = "C" + e.Session.ID
	default:
		return true
	}
	ok, _ := b.seen.ContainsOrAdd(key, struct{}{})
	return !ok
}

func kindCode(k Kind) byte {
	switch k {
	case Terminated:
		return 'T'
	case ExpiringSoon:
		return 'E'
	case EntitlementsChanged:
		return 'P'
	}
	return 'C'
}

func kindOf(c byte) Kind {
	switch c {
	case 'T':
		return Terminated
	case 'E':
		return ExpiringSoon
	case 'P':
		return EntitlementsChanged
	}
	return Created
}

// batch sends queued events in as few notifications as fit the payload limit.
func (b *PG) batch(ctx context.Context) {
	var pending [][]string
	size := 0
	flush := func(ctx context.Context) {
		if len(pending) == 0 {
			return
		}
		body, _ := json.Marshal(payload{Instance: b.instance, Events: pending, Sent: time.Now().UnixMicro()})
		// Send even while shutting down: these events are committed already.
		nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := b.store.Notify(nctx, Channel, string(body)); err != nil {
			b.log.Error("notify other instances", "err", err, "events", len(pending))
		}
		pending, size = pending[:0], 0
	}
	// The envelope around the items: {"i":<instance>,"e":[...]}.
	instance, _ := json.Marshal(b.instance)
	room := maxPayload - len(instance) - len(`{"i":,"e":[],"s":9999999999999999}`)
	add := func(c compact) {
		item := c.item()
		// Measure the item as it is encoded: JSON escapes some characters
		// to six bytes, so counting the fields' lengths could overshoot
		// PostgreSQL's limit.
		enc, _ := json.Marshal(item)
		n := len(enc) + 1 // and its comma
		if size+n > room {
			flush(ctx)
		}
		pending = append(pending, item)
		size += n
	}
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case c := <-b.queue:
					add(c)
				default:
					flush(context.WithoutCancel(ctx))
					return
				}
			}
		case c := <-b.queue:
			add(c)
			timer := time.NewTimer(batchWindow)
		collect:
			for {
				select {
				case c := <-b.queue:
					add(c)
				case <-timer.C:
					break collect
				case <-ctx.Done():
					timer.Stop()
					break collect
				}
			}
			flush(ctx)
		}
	}
}

// listen receives other instances' notifications until ctx ends,
// reconnecting with backoff and re-syncing terminations after a gap.
func (b *PG) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := b.listenOnce(ctx)
		b.mu.Lock()
		b.listening = false
		b.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("event listener disconnected; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (b *PG) listenOnce(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(b.dsn)
	if err != nil {
		return err
	}
	// Name the connection so operators (and tests) can find the listener.
	cfg.RuntimeParams["application_name"] = ListenerApplicationName
	connectCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.ConnectConfig(connectCtx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	b.mu.Lock()
	gapStart := b.lastSeen
	b.listening = true
	b.mu.Unlock()
	// Terminations committed while no listener was up were not heard:
	// deliver them from the database (duplicates are dropped).
	if !gapStart.IsZero() {
		ended, err := b.store.SessionsEndedSince(ctx, gapStart.Add(-2*time.Second))
		if err != nil {
			return err
		}
		evs := make([]Event, 0, len(ended))
		for _, s := range ended {
			if b.firstTime(Event{Kind: Terminated, Session: s}) {
				evs = append(evs, Event{Kind: Terminated, Session: s, At: *s.EndedAt})
			}
		}
		// Directory changes heard by nobody meanwhile: forget every cached
		// entitlement rather than guess which.
		evs = append(evs, Event{Kind: EntitlementsChanged, At: time.Now()})
		_ = b.local.Publish(ctx, evs...)
		b.obs.Resynced("reconnect")
		b.obs.Received(len(evs)-1, -1)
		b.log.Info("event listener re-synced after a gap", "terminations", len(evs)-1)
	}
	nextCatchUp := time.Now().Add(catchUpEvery)
	for {
		b.mu.Lock()
		b.lastSeen = time.Now()
		b.mu.Unlock()
		if time.Now().After(nextCatchUp) {
			if err := b.catchUp(ctx); err != nil {
				return err
			}
			nextCatchUp = time.Now().Add(catchUpEvery)
		}
		waitCtx, cancel := context.WithTimeout(ctx, catchUpEvery)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			// Quiet period: check the connection is alive, then wait again.
			if err := conn.Ping(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		b.deliver(ctx, n.Payload)
	}
}

// Catch-up: notifications can be lost without the connection dropping (a
// full queue, a failed NOTIFY, a failed load), so every catchUpEvery the
// listener also delivers terminations of the last catchUpWindow that it has
// not delivered yet. The window allows for clock skew between instances.
const (
	catchUpEvery  = 5 * time.Second
	catchUpWindow = 30 * time.Second
)

func (b *PG) catchUp(ctx context.Context) error {
	ended, err := b.store.SessionsEndedSince(ctx, time.Now().Add(-catchUpWindow))
	if err != nil {
		return err
	}
	var evs []Event
	for _, s := range ended {
		if b.firstTime(Event{Kind: Terminated, Session: s}) {
			evs = append(evs, Event{Kind: Terminated, Session: s, At: *s.EndedAt})
		}
	}
	if len(evs) > 0 {
		b.log.Warn("event listener caught up on terminations it had not been notified of", "count", len(evs))
		b.obs.Resynced("catch_up")
		b.obs.Received(len(evs), -1)
		return b.local.Publish(ctx, evs...)
	}
	return nil
}

// deliver turns one notification into events for this instance.
func (b *PG) deliver(ctx context.Context, raw string) {
	var p payload
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		b.log.Warn("unreadable event notification", "err", err)
		return
	}
	if p.Instance == b.instance || len(p.Events) == 0 {
		return
	}
	ids := make([]string, 0, len(p.Events))
	for _, e := range p.Events {
		if len(e) >= 3 && e[0] != "P" {
			ids = append(ids, e[1])
		}
	}
	sessions, err := b.store.SessionsByIDs(ctx, ids)
	if err != nil {
		b.log.Error("load notified sessions", "err", err)
		return
	}
	byID := make(map[string]model.Session, len(sessions))
	for _, s := range sessions {
		byID[s.ID] = s
	}
	evs := make([]Event, 0, len(p.Events))
	for _, e := range p.Events {
		if len(e) < 3 || e[0] == "" {
			continue
		}
		at, _ := strconv.ParseInt(e[2], 10, 64)
		kind := kindOf(e[0][0])
		if kind == EntitlementsChanged {
			if len(e) >= 5 {
				evs = append(evs, Event{Kind: kind, At: time.UnixMilli(at).UTC(), Change: Change{UserID: e[3], TenantID: e[4]}})
			}
			continue
		}
		s, ok := byID[e[1]]
		if !ok {
			if kind != Terminated || len(e) < 6 {
				continue // gone, and nothing to tell
			}
			// The row is gone (deleted by hand, say): deliver what the
			// notification carries.
			ended := time.UnixMilli(at).UTC()
			s = model.Session{ID: e[1], UserID: e[3], TenantID: e[4], EndReason: model.EndReason(e[5]), EndedAt: &ended}
		}
		ev := Event{Kind: kind, Session: s, At: time.UnixMilli(at).UTC()}
		if b.firstTime(ev) {
			evs = append(evs, ev)
		}
	}
	lag := time.Duration(-1)
	if p.Sent != 0 {
		lag = time.Since(time.UnixMicro(p.Sent))
	}
	b.obs.Received(len(evs), lag)
	_ = b.local.Publish(ctx, evs...)
}

type nopObserver struct{}

func (nopObserver) Published(int)               {}
func (nopObserver) Received(int, time.Duration) {}
func (nopObserver) Resynced(string)             {}
