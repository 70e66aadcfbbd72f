package schema

import "strings"

// URLs that carry a query string, a fragment with parameters, or userinfo
// (RFC 3986 §3.2.1, §3.4, §3.5): the parts where applications put tokens,
// addresses and account names.

// hasSensitiveURL looks at every "scheme://" (a letter before the "://")
// within each run of non-space characters. A URL is sensitive when the
// first '@' of its authority (up to the first '/', '?' or '#') follows
// some userinfo, or when the first '?' or '#' after the "://" is followed by
// something: anything after '?', an '=' somewhere after '#'.
//
// It is linear: each run is scanned once from left to right, the first '?'
// or '#' after a "://" is shared by every "://" before it, and the
// authority scans of two "://" in one run cannot overlap, since each stops
// at the next '/'.
func hasSensitiveURL(s string) bool {
	for off := 0; off < len(s); {
		i := strings.Index(s[off:], "://")
		if i < 0 {
			return false
		}
		i += off
		// The run of non-space characters around this "://".
		start := i
		for start > off && s[start-1] > ' ' {
			start--
		}
		end := i + 3
		for end < len(s) && s[end] > ' ' {
			end++
		}
		if sensitiveURLRun(s[start:end]) {
			return true
		}
		off = end
	}
	return false
}

// sensitiveURLRun checks one run of non-space characters.
func sensitiveURLRun(run string) bool {
	lastEq := strings.LastIndexByte(run, '=')
	pending := false // a "scheme://" waiting for the first '?' or '#' after it
	for k := 0; k < len(run); k++ {
		switch run[k] {
		case ':':
			if k == 0 || !isLetter(run[k-1]) || !strings.HasPrefix(run[k:], "://") {
				continue
			}
			// The authority: up to the first '/', '?' or '#'; userinfo is
			// what comes before its first '@'.
			for a := k + 3; a < len(run) && run[a] != '/' && run[a] != '?' && run[a] != '#'; a++ {
				if run[a] == '@' {
					if a > k+3 {
						return true
					}
					break
				}
			}
			pending = true
			k += 2
		case '?', '#':
			if !pending {
				continue
			}
			pending = false
			if k+1 < len(run) && (run[k] == '?' || lastEq > k) {
				return true
			}
		}
	}
	return false
}
