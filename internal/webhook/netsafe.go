package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/sessiond/sessiond/internal/apperr"
)

// The network rules an endpoint must pass, unless the operator allows
// insecure endpoints (-webhook-allow-insecure, for development and tests):
// https only, and no address a request from inside the deployment could
// reach that the internet could not (loopback, private, link-local, the
// cloud metadata address, unspecified, multicast, shared and reserved
// ranges). Names are checked after resolution, on every attempt, against
// the address actually dialled (net.Dialer.Control), so a name that
// resolves elsewhere later, or DNS rebinding, gains nothing; redirects are
// not followed.

// ValidateURL checks an endpoint URL when it is registered: BAD_USER_INPUT
// for a malformed URL, a scheme other than https, or a literal address
// that is not public.
func ValidateURL(raw string, allowInsecure bool) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return apperr.Invalid("url", "url must be an absolute URL such as https://example.com/webhooks")
	}
	if u.User != nil {
		return apperr.Invalid("url", "url must not carry credentials")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowInsecure:
	default:
		return apperr.Invalid("url", "url must use https (http only with -webhook-allow-insecure)")
	}
	if len(raw) > 2048 {
		return apperr.Invalid("url", "url must be at most 2048 characters")
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !allowInsecure && !PublicAddr(ip) {
		return apperr.Invalid("url", "url must not point at a loopback, private, link-local or metadata address")
	}
	return nil
}

// reserved are ranges that are not public besides those netip classifies.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (shared)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64 (would reach IPv4 inside)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
}

// PublicAddr reports whether ip is an address webhooks may reach by
// default. 169.254.169.254 (cloud metadata) is link-local; fd00:ec2::254
// is private.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// ErrBlockedAddress is returned by a dial the network rules refused.
var ErrBlockedAddress = errors.New("address not allowed for webhooks")

// dialControl refuses connections to non-public addresses; it runs after
// resolution, for the address being connected.
func dialControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, address)
	}
	if !PublicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, ap.Addr())
	}
	return nil
}

// NewHTTPClient returns the client deliveries use: no proxy from the
// environment (a proxy would dial for us, past the address check), no
// redirects, no cookies, the address check on every connection unless
// allowInsecure, and connections kept per host for reuse.
func NewHTTPClient(allowInsecure bool, maxConnsPerHost int) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowInsecure {
		d.Control = dialControl
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   maxConnsPerHost,
		MaxConnsPerHost:       maxConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // the attempt's context bounds it
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// blocked reports whether an attempt failed on the network rules.
func blocked(err error) bool { return errors.Is(err, ErrBlockedAddress) }
