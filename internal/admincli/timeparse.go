package admincli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads a --from or --to value: "now"; a time relative to now,
// signed, as a Go duration with an optional leading count of days ("-24h",
// "-7d", "-1d12h", "+30m"); an RFC 3339 time ("2025-01-31T09:00:00Z");
// or a date ("2025-01-31", midnight UTC).
func ParseTime(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+"):
		d, ok := parseRelative(s[1:])
		if !ok {
			break
		}
		if s[0] == '-' {
			d = -d
		}
		return now.Add(d), nil
	default:
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, nil
		}
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: give RFC 3339 (2025-01-31T09:00:00Z), a date (2025-01-31), or a time relative to now (-24h, -7d, now)", s)
}

// maxRelativeDays bounds the day count so that the duration cannot
// overflow (the API refuses ranges over 366 days anyway).
const maxRelativeDays = 100000

// parseRelative reads an unsigned "[Nd][duration]".
func parseRelative(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	var d time.Duration
	if days, rest, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil || n > maxRelativeDays {
			return 0, false
		}
		d, s = time.Duration(n)*24*time.Hour, rest
		if s == "" {
			return d, true
		}
	}
	if s[0] == '-' || s[0] == '+' {
		return 0, false
	}
	r, err := time.ParseDuration(s)
	if err != nil {
		return 0, false
	}
	return d + r, true
}
