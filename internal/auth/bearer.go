package auth

import "strings"

// BearerToken returns the token of an "Authorization: Bearer" header
// value (the scheme is case-insensitive), or "" for any other value.
func BearerToken(h string) string {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.Trim(h[7:], " \t")
	}
	return ""
}
