// Package device names the device a session was opened from, from its
// user agent ("Chrome on macOS"). It is small and pure, so it can be
// fuzzed without building the rest of the service.
package device

import (
	"strings"

	"github.com/medama-io/go-useragent"
)

// Label names the device of user agent ua, or "Unknown device".
func Label(p *useragent.Parser, ua string) string {
	if strings.TrimSpace(ua) == "" {
		return "Unknown device"
	}
	a := p.Parse(ua)
	browser, os := string(a.Browser()), string(a.OS())
	if os == "MacOS" {
		os = "macOS"
	}
	switch {
	case browser != "" && os != "":
		return browser + " on " + os
	case browser != "":
		return browser
	case os != "":
		return "Unknown browser on " + os
	}
	return "Unknown device"
}
