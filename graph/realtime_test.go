package graph_test

// End-to-end tests of the subscriptions (sessionTerminated, sessionEvents)
// over real websocket and SSE round trips to the production handler: the
// sub-protocols, authentication at connection_init, the close codes, the
// origin check and the per-event authorization.

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/graph/graphtest"
	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/secret"
)

// Close codes sessiond uses (see graph/subscriptions.go).
const (
	closeUnauthorized = 4401
	closeSessionEnded = 4403
)

const (
	mLogout        = `mutation { logout { id } }`
	mRevokeSession = `mutation($id: ID!) { revokeSession(id: $id) { id } }`
	mSignOutUser   = `mutation($u: ID!) { signOutUser(userId: $u) }`
	mSetPolicy     = `mutation($t: ID, $in: SessionPolicyInput!) { updateSessionPolicy(tenantId: $t, input: $in) { terminatedSessions } }`
)

// maxSessions is a policy input limiting concurrent sessions to n.
func maxSessions(n int) map[string]any {
	return map[string]any{"maxConcurrentSessions": map[string]any{"enabled": true, "maxSessions": n}}
}

// wantTerminated reads the sessionTerminated result of operation id and
// requires the session and its end reason.
func wantTerminated(t *testing.T, ws *wsClient, id, sessionID, reason string) {
	t.Helper()
	var out terminatedOut
	ws.next(id, &out)
	got := out.SessionTerminated
	if got.ID != sessionID || str(got.EndReason) != reason || got.EndedAt == nil {
		t.Fatalf("want session %s ended with %s, got %s ended at %s with %s", sessionID, reason, got.ID, str(got.EndedAt), str(got.EndReason))
	}
}

func TestSessionTerminatedOverWebsocket(t *testing.T) {
	s := graphtest.Start(t)
	cases := []struct {
		name   string
		reason string
		// end ends the member's session ses, opened in workspace w.
		end func(t *testing.T, w graphtest.Workspace, ses graphtest.Session)
	}{
		{"logout ends it with LOGOUT", "LOGOUT", func(t *testing.T, _ graphtest.Workspace, ses graphtest.Session) {
			userDo(t, s, ses.Token, mLogout, nil, nil)
		}},
		{"revoking it with its own token ends it with REVOKED_BY_USER", "REVOKED_BY_USER", func(t *testing.T, _ graphtest.Workspace, ses graphtest.Session) {
			userDo(t, s, ses.Token, mRevokeSession, map[string]any{"id": ses.ID}, nil)
		}},
		{"revokeSession with the admin key ends it with REVOKED_BY_ADMIN", "REVOKED_BY_ADMIN", func(t *testing.T, _ graphtest.Workspace, ses graphtest.Session) {
			s.Admin(mRevokeSession, map[string]any{"id": ses.ID}, nil)
		}},
		{"signOutUser by a permission holder ends it with REVOKED_BY_ADMIN", "REVOKED_BY_ADMIN", func(t *testing.T, w graphtest.Workspace, _ graphtest.Session) {
			holder := s.CreateSession(w.AdminID, w.TenantID)
			userDo(t, s, holder.Token, mSignOutUser, map[string]any{"u": w.MemberID}, nil)
		}},
		{"a login over the concurrency limit ends it with CONCURRENT_SESSION_LIMIT", "CONCURRENT_SESSION_LIMIT", func(t *testing.T, w graphtest.Workspace, _ graphtest.Session) {
			s.Admin(mSetPolicy, map[string]any{"t": w.TenantID, "in": maxSessions(1)}, nil)
			s.Login(w.MemberEmail, w.Password, "")
		}},
		{"lowering the limit below the open sessions ends it with CONCURRENT_SESSION_LIMIT", "CONCURRENT_SESSION_LIMIT", func(t *testing.T, w graphtest.Workspace, _ graphtest.Session) {
			s.CreateSession(w.MemberID, w.TenantID) // newer, so it stays
			var out struct {
				UpdateSessionPolicy struct{ TerminatedSessions int }
			}
			s.Admin(mSetPolicy, map[string]any{"t": w.TenantID, "in": maxSessions(1)}, &out)
			if n := out.UpdateSessionPolicy.TerminatedSessions; n != 1 {
				t.Fatalf("want the policy change to end 1 session, got %d", n)
			}
		}},
		{"removing the user from the tenant ends it with USER_REMOVED", "USER_REMOVED", func(t *testing.T, w graphtest.Workspace, _ graphtest.Session) {
			s.Admin(`mutation($u: ID!, $t: ID!) { removeUserFromTenant(userId: $u, tenantId: $t) }`, map[string]any{"u": w.MemberID, "t": w.TenantID}, nil)
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := s.NewWorkspace("term" + string(rune('a'+i)))
			ses := s.CreateSession(w.MemberID, w.TenantID)
			ws := connect(t, s, bearerInit(ses.Token))
			ws.subscribe("1", subTerminated, nil)
			waitSubscribers(t, s, 2) // the connection's watch and the subscription

			tc.end(t, w, ses)

			wantTerminated(t, ws, "1", ses.ID, tc.reason)
			ws.complete("1")
			ws.closed(closeSessionEnded, "session ended: "+tc.reason)
			waitSubscribers(t, s, 0)
		})
	}
}

func TestEndedSessionOverWebsocket(t *testing.T) {
	s := graphtest.Start(t)
	w := s.NewWorkspace("ended")

	t.Run("another session of the user sees the first one's TERMINATED", func(t *testing.T) {
		first := s.CreateSession(w.MemberID, w.TenantID)
		second := s.CreateSession(w.MemberID, w.TenantID)
		waitSubscribers(t, s, 0)
		ws := connect(t, s, bearerInit(second.Token))
		ws.subscribe("events", subOwnEvents, nil)
		waitSubscribers(t, s, 2)

		userDo(t, s, first.Token, mLogout, nil, nil)

		var out eventsOut
		ws.next("events", &out)
		wantEvent(t, out.SessionEvents, "TERMINATED", first.ID, "LOGOUT")
		if got := str(out.SessionEvents.Session.EndReason); got != "LOGOUT" {
			t.Fatalf("want the event's session to carry endReason LOGOUT, got %s", got)
		}
	})

	t.Run("a logged-out token is refused at connection_init with 4401 naming the reason", func(t *testing.T) {
		ses := s.CreateSession(w.MemberID, w.TenantID)
		userDo(t, s, ses.Token, mLogout, nil, nil)
		ws := open(t, s, transportWS, nil)
		ws.init(bearerInit(ses.Token))
		ws.closed(closeUnauthorized, "LOGOUT")
	})

	t.Run("a logged-out token in the upgrade header is refused with 4401 naming the reason", func(t *testing.T) {
		ses := s.CreateSession(w.MemberID, w.TenantID)
		s.Admin(mRevokeSession, map[string]any{"id": ses.ID}, nil)
		ws := open(t, s, transportWS, http.Header{"Authorization": {"Bearer " + ses.Token}})
		ws.init(nil)
		ws.closed(closeUnauthorized, "REVOKED_BY_ADMIN")
	})
}

func TestSessionEventsOverWebsocket(t *testing.T) {
	s := graphtest.Start(t)

	t.Run("own events: CREATED for a new login, TERMINATED with its reason, nobody else's", func(t *testing.T) {
		w := s.NewWorkspace("own")
		waitSubscribers(t, s, 0)
		ses := s.CreateSession(w.MemberID, w.TenantID)
		ws := connect(t, s, bearerInit(ses.Token))
		ws.subscribe("1", subOwnEvents, nil)
		waitSubscribers(t, s, 2)

		s.CreateSession(w.AdminID, w.TenantID) // another user's: not delivered
		again := s.Login(w.MemberEmail, w.Password, "")
		var out eventsOut
		ws.next("1", &out)
		wantEvent(t, out.SessionEvents, "CREATED", again.ID, "")
		if out.SessionEvents.Reason != nil || out.SessionEvents.Session.User.ID != w.MemberID {
			t.Fatalf("want CREATED without a reason for user %s, got reason %s for user %s", w.MemberID, str(out.SessionEvents.Reason), out.SessionEvents.Session.User.ID)
		}

		userDo(t, s, ses.Token, mRevokeSession, map[string]any{"id": again.ID}, nil)
		ws.next("1", &out)
		wantEvent(t, out.SessionEvents, "TERMINATED", again.ID, "REVOKED_BY_USER")
	})

	t.Run("own events need Privacy & Security", func(t *testing.T) {
		w := s.NewWorkspace("own-off")
		ses := s.CreateSession(w.MemberID, w.TenantID)
		s.SetPortal(false, true, true)
		t.Cleanup(func() { s.SetPortal(true, true, true) })
		ws := connect(t, s, bearerInit(ses.Token))
		ws.subscribe("1", subOwnEvents, nil)
		if code := ws.failed("1"); code != "FEATURE_DISABLED" {
			t.Fatalf("want FEATURE_DISABLED, got %s", code)
		}
	})

	t.Run("a permission holder sees the events of a member it names", func(t *testing.T) {
		w := s.NewWorkspace("holder")
		holder := s.CreateSession(w.AdminID, w.TenantID)
		waitSubscribers(t, s, 0)
		ws := connect(t, s, bearerInit(holder.Token))
		ws.subscribe("1", subUserEvents, map[string]any{"u": w.MemberID})
		waitSubscribers(t, s, 2)

		s.CreateSession(w.AdminID, w.TenantID) // the holder's own: not asked for
		m := s.CreateSession(w.MemberID, w.TenantID)
		var out eventsOut
		ws.next("1", &out)
		wantEvent(t, out.SessionEvents, "CREATED", m.ID, "")

		userDo(t, s, holder.Token, mRevokeSession, map[string]any{"id": m.ID}, nil)
		ws.next("1", &out)
		wantEvent(t, out.SessionEvents, "TERMINATED", m.ID, "REVOKED_BY_ADMIN")
	})

	t.Run("the admin key without userId sees every session of the environment", func(t *testing.T) {
		a, b := s.NewWorkspace("env-a"), s.NewWorkspace("env-b")
		waitSubscribers(t, s, 0)
		ws := connect(t, s, bearerInit(s.AdminKey))
		ws.subscribe("1", subUserEvents, nil)
		waitSubscribers(t, s, 1) // the admin key's connection has no session to watch

		sa := s.CreateSession(a.MemberID, a.TenantID)
		sb := s.CreateSession(b.AdminID, b.TenantID)
		s.Admin(mRevokeSession, map[string]any{"id": sa.ID}, nil)
		var out eventsOut
		for _, want := range []struct{ kind, id, reason string }{
			{"CREATED", sa.ID, ""}, {"CREATED", sb.ID, ""}, {"TERMINATED", sa.ID, "REVOKED_BY_ADMIN"},
		} {
			ws.next("1", &out)
			wantEvent(t, out.SessionEvents, want.kind, want.id, want.reason)
		}
	})

	t.Run("turning Users off ends a permission holder's stream before the next event", func(t *testing.T) {
		w := s.NewWorkspace("switch")
		holder := s.CreateSession(w.AdminID, w.TenantID)
		waitSubscribers(t, s, 0)
		ws := connect(t, s, bearerInit(holder.Token))
		ws.subscribe("1", subUserEvents, map[string]any{"u": w.MemberID})
		waitSubscribers(t, s, 2)
		first := s.CreateSession(w.MemberID, w.TenantID)
		var out eventsOut
		ws.next("1", &out)
		wantEvent(t, out.SessionEvents, "CREATED", first.ID, "")

		s.SetPortal(true, false, true)
		t.Cleanup(func() { s.SetPortal(true, true, true) })
		s.CreateSession(w.MemberID, w.TenantID)

		// A final FEATURE_DISABLED error, and no event before it.
		if code := ws.failed("1"); code != "FEATURE_DISABLED" {
			t.Fatalf("stream ended with %q, want FEATURE_DISABLED", code)
		}
		ws.complete("1")
		waitSubscribers(t, s, 1) // the connection's watch stays
	})
}

// endsWithTerminated subscribes to sessionTerminated on ws, revokes ses
// with the admin key and requires its end to arrive: proof that the
// connection is authenticated by ses.
func endsWithTerminated(t *testing.T, s *graphtest.Server, ws *wsClient, ses graphtest.Session) {
	t.Helper()
	ws.subscribe("1", subTerminated, nil)
	waitSubscribers(t, s, 2) // the connection's watch and the subscription
	s.Admin(mRevokeSession, map[string]any{"id": ses.ID}, nil)
	wantTerminated(t, ws, "1", ses.ID, "REVOKED_BY_ADMIN")
	ws.complete("1")
	ws.closed(closeSessionEnded, "REVOKED_BY_ADMIN")
}

func TestWebsocketAuthentication(t *testing.T) {
	s := graphtest.Start(t)
	w := s.NewWorkspace("wsauth")

	t.Run("a token only in the upgrade request's Authorization header authenticates", func(t *testing.T) {
		ses := s.CreateSession(w.MemberID, w.TenantID)
		waitSubscribers(t, s, 0)
		ws := open(t, s, transportWS, http.Header{"Authorization": {"Bearer " + ses.Token}})
		ws.init(nil)
		ws.expect("connection_ack")
		endsWithTerminated(t, s, ws, ses)
	})

	for _, key := range []string{"authToken", "authorization"} {
		t.Run("connection_init payload key "+key+" authenticates", func(t *testing.T) {
			ses := s.CreateSession(w.MemberID, w.TenantID)
			waitSubscribers(t, s, 0)
			ws := connect(t, s, map[string]any{key: ses.Token})
			endsWithTerminated(t, s, ws, ses)
		})
	}

	t.Run("no token closes with 4401", func(t *testing.T) {
		ws := open(t, s, transportWS, nil)
		ws.init(map[string]any{})
		ws.closed(closeUnauthorized, "")
	})

	for name, token := range map[string]string{
		"unknown session token": secret.NewToken(secret.SessionTokenPrefix),
		"unknown admin key":     secret.NewToken(secret.AdminKeyPrefix),
		"garbage":               "not-a-token",
	} {
		t.Run("a bad token ("+name+") closes with 4401", func(t *testing.T) {
			ws := open(t, s, transportWS, nil)
			ws.init(bearerInit(token))
			ws.closed(closeUnauthorized, "unauthorized")
		})
	}

	t.Run("a connection that never sends connection_init is closed after the init timeout", func(t *testing.T) {
		s := graphtest.Start(t, graphtest.WithInitTimeout(100*time.Millisecond))
		ws := open(t, s, transportWS, nil)
		ce := ws.closeError()
		if ce.Code != 4408 || !strings.Contains(ce.Text, "timeout") {
			t.Fatalf("want close 4408 with a reason about the init timeout, got %d %q", ce.Code, ce.Text)
		}
	})
}

func TestLegacyGraphQLWSProtocol(t *testing.T) {
	s := graphtest.Start(t)
	w := s.NewWorkspace("legacy")
	ses := s.CreateSession(w.MemberID, w.TenantID)

	ws := open(t, s, legacyWS, nil)
	ws.init(bearerInit(ses.Token))
	ws.expect("connection_ack")
	ws.subscribe("1", subTerminated, nil) // "start"
	waitSubscribers(t, s, 2)

	s.Admin(mRevokeSession, map[string]any{"id": ses.ID}, nil)

	wantTerminated(t, ws, "1", ses.ID, "REVOKED_BY_ADMIN") // "data"
	ws.complete("1")
	ws.closed(closeSessionEnded, "session ended: REVOKED_BY_ADMIN")
}

func TestSessionTerminatedOverSSE(t *testing.T) {
	s := graphtest.Start(t)
	w := s.NewWorkspace("sse")
	ses := s.CreateSession(w.MemberID, w.TenantID)

	st := subscribeSSE(t, s, ses.Token, subTerminated)
	waitSubscribers(t, s, 1)
	s.Admin(mRevokeSession, map[string]any{"id": ses.ID}, nil)

	ev := st.next()
	if ev.Event != "next" {
		t.Fatalf("want event: next, got %q: %s", ev.Event, ev.Data)
	}
	var res struct {
		Data   terminatedOut
		Errors []json.RawMessage
	}
	if err := json.Unmarshal([]byte(ev.Data), &res); err != nil || len(res.Errors) > 0 {
		t.Fatalf("want a result without errors, got %s (%v)", ev.Data, err)
	}
	if got := res.Data.SessionTerminated; got.ID != ses.ID || str(got.EndReason) != "REVOKED_BY_ADMIN" {
		t.Fatalf("want session %s ended with REVOKED_BY_ADMIN, got %s with %s", ses.ID, got.ID, str(got.EndReason))
	}
	if ev := st.next(); ev.Event != "complete" {
		t.Fatalf("want event: complete, got %q: %s", ev.Event, ev.Data)
	}
	st.ended()
}

func TestWebsocketOrigin(t *testing.T) {
	s := graphtest.Start(t)

	t.Run("an upgrade from another site is refused with 403", func(t *testing.T) {
		c, res, err := dial(t, s, transportWS, http.Header{"Origin": {"http://evil.example"}})
		if err == nil {
			_ = c.Close()
			t.Fatalf("want the upgrade refused, it was accepted")
		}
		if res == nil || res.StatusCode != http.StatusForbidden {
			t.Fatalf("want status 403, got %v (%v)", res, err)
		}
	})

	for name, origin := range map[string]string{
		"localhost":           "http://localhost:5173",
		"127.0.0.1":           "http://127.0.0.1:3000",
		"the server's origin": s.HTTP.URL,
	} {
		t.Run("an upgrade from "+name+" is accepted", func(t *testing.T) {
			ws := open(t, s, transportWS, http.Header{"Origin": {origin}})
			ws.init(bearerInit(s.AdminKey))
			ws.expect("connection_ack")
		})
	}
}

func TestAdminSubscriptionStopsWhenTheKeyIsRotated(t *testing.T) {
	// A stored, generated admin key, so that it can be rotated.
	s := graphtest.Start(t, func(cfg *app.Config) { cfg.AdminKey = "" })
	key, err := s.App.AdminKeys.EnsureKey(context.Background())
	if err != nil || key == "" {
		t.Fatalf("generate admin key: %q, %v", key, err)
	}
	s.AdminKey = key
	w := s.NewWorkspace("rotate")
	waitSubscribers(t, s, 0)
	ws := connect(t, s, bearerInit(key))
	ws.subscribe("1", `subscription { sessionEvents { kind session { id } } }`, nil)
	waitSubscribers(t, s, 1)
	first := s.CreateSession(w.MemberID, w.TenantID)
	var out eventsOut
	ws.next("1", &out)
	wantEvent(t, out.SessionEvents, "CREATED", first.ID, "")

	var rotated struct{ RotateAdminKey struct{ Key string } }
	s.Admin(`mutation { rotateAdminKey { key } }`, nil, &rotated)
	s.AdminKey = rotated.RotateAdminKey.Key
	s.CreateSession(w.MemberID, w.TenantID)
	// The stream ends with the reason, and no event for the second session before it.
	if code := ws.failed("1"); code != "UNAUTHENTICATED" {
		t.Fatalf("stream ended with %q, want UNAUTHENTICATED", code)
	}
	ws.complete("1")

	// Queries over the same connection are refused too.
	ws.subscribe("2", `{ tenants { id } }`, nil)
	if msg := ws.failed("2"); !strings.Contains(msg, "UNAUTHENTICATED") {
		t.Fatalf("want UNAUTHENTICATED for a query with the rotated key, got %s", msg)
	}
}
