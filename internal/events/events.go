// Package events carries session events from where sessions change to the
// subscribers waiting for them: the Bus interface and its in-process
// implementation. Events are published only after the change is committed.
package events

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/internal/model"
)

// Kind is what happened to a session.
type Kind string

// Event kinds.
const (
	Created      Kind = "CREATED"
	Terminated   Kind = "TERMINATED"
	ExpiringSoon Kind = "EXPIRING_SOON"
	// EntitlementsChanged says that a directory change (roles, permissions,
	// memberships, a user, a tenant, the portal switches) committed: caches
	// of what callers hold must drop what it touches. It carries Change,
	// not a session, and reaches only Entitlements watchers.
	EntitlementsChanged Kind = "ENTITLEMENTS_CHANGED"
)

// Change is the reach of an EntitlementsChanged event: one user's
// memberships (UserID), one tenant (TenantID), one membership (both), or
// everything (neither).
type Change struct {
	UserID   string
	TenantID string
}

// Event is one change to a session. It carries the whole session, so a
// client can render it without a second query.
type Event struct {
	Kind    Kind
	Session model.Session
	At      time.Time
	// Change is set for EntitlementsChanged.
	Change Change
	// Sent is when this instance's bus took the event (its publication
	// after the commit, or its arrival from another instance), on the
	// monotonic wall clock: push latency is measured from it.
	Sent time.Time
}

// Observer is what a bus reports, for metrics (*metrics.Metrics
// implements it). Calls run on the publisher's goroutine and must not block.
type Observer interface {
	// Published reports n events published by this instance.
	Published(n int)
	// Received reports n events received from other instances; lag is the
	// notification's transit time, negative when unknown.
	Received(n int, lag time.Duration)
	// Resynced reports a re-sync: "reconnect" after the listener's
	// connection was lost, "catch_up" when the periodic check found
	// terminations that no notification brought.
	Resynced(kind string)
}

// Filter selects the events a subscriber receives; empty fields match all.
type Filter struct {
	SessionID string
	UserID    string
	TenantID  string
	// Entitlements selects EntitlementsChanged events (and only those);
	// the other fields are ignored then.
	Entitlements bool
}

func (f Filter) matches(e *Event) bool {
	if f.Entitlements || e.Kind == EntitlementsChanged {
		return f.Entitlements && e.Kind == EntitlementsChanged
	}
	return (f.SessionID == "" || f.SessionID == e.Session.ID) &&
		(f.UserID == "" || f.UserID == e.Session.UserID) &&
		(f.TenantID == "" || f.TenantID == e.Session.TenantID)
}

// Bus delivers published events to the subscribers whose filter matches.
type Bus interface {
	// Publish delivers events; it never blocks on a slow subscriber.
	Publish(ctx context.Context, events ...Event) error
	// Subscribe registers a subscriber with a buffer of the given size.
	Subscribe(ctx context.Context, f Filter, buffer int) (*Subscription, error)
	// Watch calls fn for every matching event until ctx ends or stop is
	// called. fn runs on the publisher's goroutine and must not block; a
	// watch costs no goroutine of its own, which matters per connection.
	Watch(ctx context.Context, f Filter, fn func(Event)) (stop func(), err error)
}

// ErrSlowSubscriber ends a subscription whose buffer filled up.
var ErrSlowSubscriber = errors.New("subscriber too slow: event buffer full")

// ErrClosed ends the subscriptions of a closed bus.
var ErrClosed = errors.New("event bus closed")

// Subscription is one subscriber's stream of events. C is closed when the
// subscription ends; Err then says why (nil after Close or context end).
type Subscription struct {
	C      <-chan Event
	ch     chan Event
	fn     func(Event) // set for watches instead of ch
	filter Filter
	once   sync.Once
	mu     sync.Mutex
	err    error
	cancel func()
	// dropped is set when the backlog overflowed; later events skip it.
	dropped atomic.Bool

	// A burst larger than the buffer (a sign-out of a user's thousands of
	// sessions, an expiry batch) waits in backlog, fed to C by one pump
	// goroutine that exists only while the backlog is not empty; a
	// subscriber that reads at normal speed gets every event, in order.
	// Only a subscriber whose backlog reaches maxBacklog is dropped.
	backlogged atomic.Bool
	backlog    []Event // guarded by mu, like the fields below
	maxBacklog int
	pumping    bool
	ended      bool
	chClosed   bool
	done       chan struct{}
}

// A subscription may hold backlogFactor buffers of events beyond its
// buffer, at most maxBacklogEvents: 16 384 for a user's stream (buffer 256),
// enough for a sign-out of thousands of sessions, and a bounded amount for
// the environment-wide stream.
const (
	backlogFactor    = 64
	maxBacklogEvents = 1 << 16
)

// offer hands one event to a channel subscriber without blocking: into
// the buffer when the subscriber keeps up, else into its backlog. It
// reports false when the backlog is full (the subscriber is too slow).
func (s *Subscription) offer(e Event) bool {
	if !s.backlogged.Load() {
		select {
		case s.ch <- e:
			return true
		default:
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return true
	}
	if len(s.backlog) >= s.maxBacklog {
		return false
	}
	s.backlog = append(s.backlog, e)
	s.backlogged.Store(true)
	if !s.pumping {
		s.pumping = true
		go s.pump()
	}
	return true
}

// pump feeds the backlog to C, then exits. It clears backlogged only once
// its last event is in C, so a publisher never overtakes the backlog.
func (s *Subscription) pump() {
	for {
		s.mu.Lock()
		if s.ended || len(s.backlog) == 0 {
			s.pumping = false
			if s.ended {
				s.backlog = nil
				s.closeCh()
			} else {
				s.backlogged.Store(false)
			}
			s.mu.Unlock()
			return
		}
		e := s.backlog[0]
		s.backlog[0] = Event{}
		s.backlog = s.backlog[1:]
		s.mu.Unlock()
		select {
		case s.ch <- e:
		case <-s.done:
		}
	}
}

// closeCh closes C once. Call with s.mu held.
func (s *Subscription) closeCh() {
	if s.ch != nil && !s.chClosed {
		s.chClosed = true
		close(s.ch)
	}
}

// Err returns why the subscription ended, once C is closed.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription and frees it.
func (s *Subscription) Close() { s.cancel() }

// Memory is the in-process Bus. Subscribers are indexed by the most
// specific field of their filter, so publishing costs the number of
// interested subscribers, not the number of all subscribers.
type Memory struct {
	// Observer, when set before the bus is used, counts publications.
	Observer Observer

	mu     sync.RWMutex
	index  map[indexKey]map[*Subscription]struct{}
	closed bool
}

type indexKey struct {
	field byte // 's'ession, 'u'ser, 't'enant, 'e'ntitlements, or 0 for all
	value string
}

var entitlementsKey = indexKey{field: 'e'}

func keyOf(f Filter) indexKey {
	switch {
	case f.Entitlements:
		return entitlementsKey
	case f.SessionID != "":
		return indexKey{'s', f.SessionID}
	case f.UserID != "":
		return indexKey{'u', f.UserID}
	case f.TenantID != "":
		return indexKey{'t', f.TenantID}
	}
	return indexKey{}
}

var _ Bus = (*Memory)(nil)

// NewMemory returns an empty in-process bus.
func NewMemory() *Memory { return &Memory{index: map[indexKey]map[*Subscription]struct{}{}} }

// Publish delivers the events to every matching subscriber, in order. A
// subscriber whose buffer is full is ended with ErrSlowSubscriber instead
// of blocking the publisher.
func (m *Memory) Publish(_ context.Context, evs ...Event) error {
	if m.Observer != nil && len(evs) > 0 {
		m.Observer.Published(len(evs))
	}
	var slow []*Subscription
	sent := time.Now()
	m.mu.RLock()
	for i := range evs {
		ev := evs[i]
		if ev.Sent.IsZero() {
			ev.Sent = sent
		}
		e := &ev
		keys := [...]indexKey{{'s', e.Session.ID}, {'u', e.Session.UserID}, {'t', e.Session.TenantID}, {}}
		n := len(keys)
		if e.Kind == EntitlementsChanged {
			keys[0], n = entitlementsKey, 1
		}
		for _, k := range keys[:n] {
			for s := range m.index[k] {
				if s.dropped.Load() || !s.filter.matches(e) {
					continue
				}
				if s.fn != nil {
					s.fn(*e)
					continue
				}
				if !s.offer(*e) && s.dropped.CompareAndSwap(false, true) {
					slow = append(slow, s)
				}
			}
		}
	}
	m.mu.RUnlock()
	for _, s := range slow {
		m.end(s, ErrSlowSubscriber)
	}
	return nil
}

// Subscribe registers a subscriber until ctx ends or Close is called.
func (m *Memory) Subscribe(ctx context.Context, f Filter, buffer int) (*Subscription, error) {
	if buffer < 1 {
		buffer = 1
	}
	ch := make(chan Event, buffer)
	s := &Subscription{C: ch, ch: ch, filter: f, done: make(chan struct{}), maxBacklog: min(maxBacklogEvents, backlogFactor*buffer)}
	if err := m.add(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Watch calls fn for every matching event until ctx ends or stop is called.
func (m *Memory) Watch(ctx context.Context, f Filter, fn func(Event)) (func(), error) {
	s := &Subscription{filter: f, fn: fn}
	if err := m.add(ctx, s); err != nil {
		return nil, err
	}
	return s.cancel, nil
}

func (m *Memory) add(ctx context.Context, s *Subscription) error {
	k := keyOf(s.filter)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	set := m.index[k]
	if set == nil {
		set = map[*Subscription]struct{}{}
		m.index[k] = set
	}
	set[s] = struct{}{}
	m.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { m.end(s, nil) })
	s.cancel = func() { stop(); m.end(s, nil) }
	return nil
}

// Subscribers counts the live subscriptions, for metrics and tests.
func (m *Memory) Subscribers() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, set := range m.index {
		n += len(set)
	}
	return n
}

func (m *Memory) end(s *Subscription, err error) {
	s.once.Do(func() {
		k := keyOf(s.filter)
		m.mu.Lock()
		if set := m.index[k]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(m.index, k)
			}
		}
		m.mu.Unlock()
		s.mu.Lock()
		s.err = err
		s.ended = true
		if s.done != nil {
			close(s.done)
		}
		// A running pump closes C when it sees the end; it may be sending.
		if !s.pumping {
			s.closeCh()
		}
		s.mu.Unlock()
	})
}

// Close ends every subscription with ErrClosed.
func (m *Memory) Close() {
	m.mu.Lock()
	m.closed = true
	var subs []*Subscription
	for _, set := range m.index {
		for s := range set {
			subs = append(subs, s)
		}
	}
	m.mu.Unlock()
	for _, s := range subs {
		m.end(s, ErrClosed)
	}
}
