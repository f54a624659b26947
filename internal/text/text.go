// Package text holds the string helpers several layers share.
package text

import "unicode/utf8"

// Truncate shortens s to at most n bytes without splitting a UTF-8
// sequence: stored values and websocket close reasons (which peers must
// reject unless valid UTF-8) stay valid text.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
