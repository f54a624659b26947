package graph

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sessiond/sessiond/graph/gqlmodel"
	"github.com/sessiond/sessiond/graph/wstransport"
	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/auth"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/metrics"
	"github.com/sessiond/sessiond/internal/model"
)

// Websocket close codes. 4401 and 4403 keep the meaning graphql-ws gives
// them (unauthorized, forbidden: the connection's session ended);
// sessiond's own codes are in 4600–4699 (graph/wstransport/limits.go,
// docs/limits.md).
const (
	closeUnauthorized = 4401                          // missing or bad token at connection_init
	closeSessionEnded = 4403                          // the connection's session ended
	closeTooSlow      = wstransport.CloseSlowConsumer // the client did not keep up with its events
	closeInternal     = 1011
	// finalEventGrace lets the last event reach the client before the socket
	// closes; the close also waits (up to finalEventWait) for the
	// connection's event streams to hand over their last events.
	finalEventWait = time.Second
	// closes (see GQLGEN-NOTES: cancelling at once loses it).
	finalEventGrace = 100 * time.Millisecond
	// subscriberBuffer bounds the events queued for one sessionEvents
	// subscription: enough for a mass sign-out of one user's sessions.
	subscriberBuffer = 256
	// adminSubscriberBuffer is for the admin key's environment-wide stream,
	// which sees whole expiry batches (2 000 sessions) at once.
	adminSubscriberBuffer = 4096
)

// wsConn holds an accepted websocket so that sessiond can close it with a
// code of its own; it travels in the upgrade request's context.
type wsConn struct {
	mu     sync.Mutex
	c      closer
	closed bool
	// streams counts the connection's sessionEvents goroutines still
	// delivering, so the close on a session's end can wait for them.
	streams sync.WaitGroup
}

// trackStream registers an event stream of the request's websocket; call
// the returned function when the stream has delivered its last event.
func trackStream(ctx context.Context) func() {
	h, ok := ctx.Value(wsConnKey{}).(*wsConn)
	if !ok {
		return func() {}
	}
	h.streams.Add(1)
	return h.streams.Done
}

// streamsDone waits until the connection's event streams have finished,
// or until max has passed.
func streamsDone(ctx context.Context, max time.Duration) {
	h, ok := ctx.Value(wsConnKey{}).(*wsConn)
	if !ok {
		return
	}
	done := make(chan struct{})
	go func() { h.streams.Wait(); close(done) }()
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// closer closes an accepted connection with a code and reason.
type closer interface {
	WriteClose(code int, reason string) error
	Close() error
	Drain(max time.Duration)
}

type wsConnKey struct{}

// withWSHolder gives websocket upgrade requests a holder for their connection.
func withWSHolder(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			r = r.WithContext(context.WithValue(r.Context(), wsConnKey{}, &wsConn{}))
		}
		next.ServeHTTP(w, r)
	})
}

// onAccept remembers an accepted websocket so it can be closed with a
// code of our own (4403 when its session ends, 4429 when it falls behind).
func onAccept(r *http.Request, c *wstransport.Conn) {
	if h, ok := r.Context().Value(wsConnKey{}).(*wsConn); ok {
		h.mu.Lock()
		h.c = c
		h.mu.Unlock()
	}
}

// closeWS closes the request's websocket, if any, with code and reason.
func closeWS(ctx context.Context, code int, reason string) bool {
	h, ok := ctx.Value(wsConnKey{}).(*wsConn)
	if !ok {
		return false
	}
	h.mu.Lock()
	c := h.c
	h.mu.Unlock()
	if c != nil {
		// Responses already handed to the transport go out first.
		c.Drain(finalEventWait)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.c == nil || h.closed {
		return h.c != nil
	}
	h.closed = true
	_ = h.c.WriteClose(code, reason)
	_ = h.c.Close()
	return true
}

// wsInit authenticates a websocket from its connection_init payload
// (Authorization, authorization or authToken), or else from the upgrade
// request's Authorization header. Without a valid credential the socket
// closes with 4401. A connection authenticated by a session closes with
// 4403 when that session ends.
func wsInit(deps Deps, log *slog.Logger) wstransport.InitFunc {
	return func(ctx context.Context, payload map[string]any) (context.Context, int, string) {
		p := auth.PrincipalFrom(ctx)
		if cred := auth.InitCredential(payload); cred != "" {
			var err error
			if p, err = deps.Auth.Authenticate(ctx, cred); err != nil {
				log.ErrorContext(ctx, "websocket authentication failed", "err", err)
				return refuse(ctx, closeInternal, "internal error")
			}
		}
		if p.Kind == auth.Anonymous {
			msg := "unauthorized: send {\"Authorization\": \"Bearer <token>\"} in connection_init"
			if ae, ok := apperr.As(p.Failure); ok && ae.Reason != "" {
				msg = "unauthorized: the session has ended (" + ae.Reason + ")"
			}
			return refuse(ctx, closeUnauthorized, msg)
		}
		ctx = auth.WithPrincipal(ctx, p)
		if p.Kind == auth.User {
			if err := watchSession(ctx, deps, p.SessionID); err != nil {
				log.ErrorContext(ctx, "watch websocket session", "err", err)
				return refuse(ctx, closeInternal, "internal error")
			}
		}
		return ctx, 0, ""
	}
}

// refuse ends connection_init with a close code and a reason that travels
// in the close frame (graphql-transport-ws has no connection_error message).
func refuse(ctx context.Context, code int, reason string) (context.Context, int, string) {
	return ctx, code, reason
}

// watchSession closes the connection with 4403 once its session ends,
// after the final events have had time to go out. It holds no goroutine
// while it waits.
func watchSession(ctx context.Context, deps Deps, sessionID string) error {
	var once sync.Once
	closeLater := func(reason model.EndReason) {
		once.Do(func() {
			// Let the connection's streams hand over their last events, then
			// give the transport a moment to write them, then close.
			go func() {
				streamsDone(ctx, finalEventWait)
				t := time.NewTimer(finalEventGrace)
				defer t.Stop()
				select {
				case <-t.C:
					closeWS(ctx, closeSessionEnded, "session ended: "+string(reason))
				case <-ctx.Done():
				}
			}()
		})
	}
	if _, err := deps.Bus.Watch(ctx, events.Filter{SessionID: sessionID}, func(ev events.Event) {
		if ev.Kind == events.Terminated {
			closeLater(ev.Session.EndReason)
		}
	}); err != nil {
		return err
	}
	// The session may have ended between authentication and watching.
	ses, err := deps.Sessions.Get(ctx, sessionID)
	if err != nil {
		return err
	}
	if ses.Ended() {
		closeLater(ses.EndReason)
		return nil
	}
	return deps.Sessions.EndIfDue(ctx, ses)
}

// subscriptionEnded closes a websocket whose subscriber fell behind; other
// endings (client gone, server closing) need nothing.
func subscriptionEnded(ctx context.Context, sub *events.Subscription, m *metrics.Metrics) {
	if errors.Is(sub.Err(), events.ErrSlowSubscriber) {
		m.SlowConsumerDisconnected()
		closeWS(ctx, closeTooSlow, "too slow: session events were dropped; reconnect and resync")
	}
}

// sessionTerminated streams the caller's own session's end, once. It waits
// through a bus watch, not a goroutine of its own.
func (r *Resolver) sessionTerminated(ctx context.Context) (<-chan *model.Session, error) {
	p := caller(ctx)
	if err := auth.RequireUser(p); err != nil {
		return nil, err
	}
	out := make(chan *model.Session, 1)
	// On websockets the transport renders the event when told, so this
	// subscription holds no goroutine while it waits.
	st := wstransport.StreamFrom(ctx)
	if st != nil {
		st.Claim()
	}
	var once sync.Once
	deliver := func(s model.Session, sent time.Time) {
		once.Do(func() {
			out <- &s
			close(out)
			if st != nil {
				st.ReadySince(sent) // the session
				st.Ready()          // the end of the stream
			}
		})
	}
	stop, err := r.Bus.Watch(ctx, events.Filter{SessionID: p.SessionID}, func(ev events.Event) {
		if ev.Kind == events.Terminated {
			deliver(ev.Session, ev.Sent)
		}
	})
	if err != nil {
		return nil, err
	}
	cur, err := r.Sessions.Get(ctx, p.SessionID)
	if err != nil {
		stop()
		return nil, err
	}
	if cur.Ended() {
		stop()
		deliver(cur, time.Time{})
		return out, nil
	}
	// Over but not swept yet: end it now; the event arrives through the watch.
	if err := r.Sessions.EndIfDue(ctx, cur); err != nil {
		stop()
		return nil, err
	}
	return out, nil
}

// sessionEvents streams the session events the caller may see. Access is
// decided once, when the subscription starts (internal/auth.SessionStream),
// and decided again only when something it rests on changes: a directory
// change (roles, permissions, memberships, switches) or the end of the
// caller's own session. Delivering an event costs no query. A caller that
// loses the right mid-stream gets a final GraphQL error with its code.
func (r *Resolver) sessionEvents(ctx context.Context, userID *string) (<-chan *gqlmodel.SessionEvent, error) {
	p := caller(ctx)
	access, err := auth.SessionStream(p, userID)
	if err != nil {
		return nil, err
	}
	if access.Other {
		if _, err := r.Directory.User(ctx, p, access.UserID); err != nil {
			return nil, err
		}
	}
	buffer := subscriberBuffer
	if p.Kind == auth.Admin {
		buffer = adminSubscriberBuffer
	}
	sub, err := r.Bus.Subscribe(ctx, events.Filter{UserID: access.UserID, TenantID: access.TenantID}, buffer)
	if err != nil {
		return nil, err
	}
	recheck := make(chan struct{}, 1)
	signal := func() {
		select {
		case recheck <- struct{}{}:
		default:
		}
	}
	stopEnts := r.Auth.Entitlements().OnChange(ctx, func(events.Change) { signal() })
	stopOwn := func() {}
	if _, onWS := ctx.Value(wsConnKey{}).(*wsConn); p.Kind == auth.User && access.Other && !onWS {
		// A stream of the caller's own sessions sees its own end in-stream;
		// a websocket closes (4403) when its session ends.
		if stopOwn, err = r.Bus.Watch(ctx, events.Filter{SessionID: p.SessionID}, func(ev events.Event) {
			if ev.Kind == events.Terminated {
				signal()
			}
		}); err != nil {
			stopEnts()
			sub.Close()
			return nil, err
		}
	}
	out := make(chan *gqlmodel.SessionEvent, 16)
	streamDone := trackStream(ctx)
	st := wstransport.StreamFrom(ctx)
	if st != nil {
		st.Claim()
	}
	ready := func() {
		if st != nil {
			st.Ready()
		}
	}
	go func() {
		failed := false
		defer streamDone()
		defer func() {
			ready() // the end of the stream
			if failed {
				ready() // and the final error before it
			}
		}()
		defer close(out)
		defer sub.Close()
		defer stopOwn()
		defer stopEnts()
		for {
			select {
			case ev, ok := <-sub.C:
				if !ok {
					subscriptionEnded(ctx, sub, r.Metrics)
					return
				}
				select {
				case out <- eventOf(ev):
					if st != nil {
						st.ReadySince(ev.Sent)
					}
				case <-ctx.Done():
					return
				}
				if ev.Kind == events.Terminated && ev.Session.ID == p.SessionID {
					return // the caller's own session ended: nothing more to see
				}
			case <-recheck:
				np, err := r.Auth.Revalidate(ctx, p)
				if err == nil {
					_, err = auth.SessionStream(np, userID)
				}
				if err != nil {
					setStreamError(ctx, err)
					failed = true
					return
				}
				p = np
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func eventOf(ev events.Event) *gqlmodel.SessionEvent {
	s := ev.Session
	out := &gqlmodel.SessionEvent{Kind: gqlmodel.SessionEventKind(ev.Kind), Session: &s, At: ev.At}
	if ev.Kind == events.Terminated && s.EndReason != "" {
		reason := gqlmodel.SessionEndReason(s.EndReason)
		out.Reason = &reason
	}
	return out
}
