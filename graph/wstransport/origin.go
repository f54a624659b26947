package wstransport

import (
	"net/http"
	"net/url"
	"strings"
)

// SameOriginOrLocalhost is the base of every origin check. It allows
// requests without an Origin header (non-browser clients, which cannot carry
// a victim's cookies cross-site), requests whose Origin host equals r.Host,
// and http(s) origins on localhost, 127.0.0.1 or [::1] with any port so local
// development front-ends work. Everything else is refused, which defeats
// cross-site websocket hijacking. It does not defend against DNS rebinding;
// validate r.Host separately if the server listens on loopback.
func SameOriginOrLocalhost(r *http.Request) bool {
	origin, ok := requestOrigin(r)
	if !ok {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	switch strings.ToLower(u.Hostname()) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// AllowOrigins returns a CheckOrigin function for deployments whose browser
// front-end is served from a different origin than the API. It allows what
// SameOriginOrLocalhost allows plus the exact origins listed, written as
// scheme://host[:port] and compared case-insensitively (a trailing slash is
// ignored; browsers omit default ports, so list origins the way they send
// them). The entry "*" allows every origin and disables the protection.
// The slice is copied, so later changes to it have no effect.
func AllowOrigins(allowed []string) func(*http.Request) bool {
	set := make(map[string]struct{}, len(allowed))
	all := false
	for _, o := range allowed {
		o = normalizeOrigin(o)
		if o == "*" {
			all = true
		}
		if o != "" {
			set[o] = struct{}{}
		}
	}
	return func(r *http.Request) bool {
		if all || SameOriginOrLocalhost(r) {
			return true
		}
		origin, _ := requestOrigin(r)
		_, ok := set[normalizeOrigin(origin)]
		return ok
	}
}

// requestOrigin returns the Origin header and whether one was sent at all;
// an empty but present header is not treated as absent.
func requestOrigin(r *http.Request) (string, bool) {
	values := r.Header.Values("Origin")
	if len(values) == 0 {
		return "", false
	}
	return values[0], true
}

// normalizeOrigin makes origins comparable: surrounding space and a trailing
// slash are dropped and the result is lower-cased.
func normalizeOrigin(o string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
}
