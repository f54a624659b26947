package graph_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sessiond/sessiond/graph/graphtest"
)

// TestWebsocketUnauthorizedCloseReason checks that a refused connection_init
// tells graphql-transport-ws clients why in the close frame: that protocol
// has no connection_error message, so the close reason is all they get.
func TestWebsocketUnauthorizedCloseReason(t *testing.T) {
	s := graphtest.Start(t)
	w := s.NewWorkspace("wsclose")
	ended := s.Login(w.MemberEmail, w.Password, "")
	s.MustDo(graphtest.Request{Query: `mutation { logout { id } }`, Token: ended.Token}, nil)

	cases := []struct {
		name, token, want string
	}{
		{"bad token", "sds_not-a-token", "unauthorized"},
		{"ended session", ended.Token, "the session has ended (LOGOUT)"},
	}
	url := "ws" + strings.TrimPrefix(s.URL, "http")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
			c, _, err := d.Dial(url, nil)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			init := map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + tc.token}}
			if err := c.WriteJSON(init); err != nil {
				t.Fatalf("send connection_init: %v", err)
			}
			for {
				_, msg, err := c.ReadMessage()
				if err == nil {
					t.Logf("message before close: %s", msg)
					continue
				}
				ce, ok := err.(*websocket.CloseError)
				if !ok {
					t.Fatalf("want a close frame, got %v", err)
				}
				if ce.Code != 4401 || !strings.Contains(ce.Text, tc.want) {
					t.Fatalf("close = %d %q, want 4401 with a reason containing %q", ce.Code, ce.Text, tc.want)
				}
				return
			}
		})
	}
}
