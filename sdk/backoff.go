package sdk

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// backoffBase is the first backoff ceiling; it doubles per failure up
	// to Config.MaxRetryWait.
	backoffBase = time.Second
)

// backoff returns how long to wait before retry number n (0 for the first
// retry). Without a Retry-After it is "full jitter": uniform in
// [0, min(max, base·2ⁿ)), which spreads clients that failed together. A
// Retry-After is honoured as a minimum, plus up to one base of jitter so that
// clients told the same time do not return in the same instant, but only up
// to max: the relay can send any Retry-After, and the wait blocks every
// batch queued behind this one. A capped wait ends up to one base before
// max, so capped clients are spread too.
func backoff(n int, retryAfter, max time.Duration) time.Duration {
	if retryAfter > 0 {
		jitter := rand.N(min(backoffBase, max))
		if retryAfter <= max-jitter {
			return retryAfter + jitter
		}
		return max - jitter
	}
	ceiling := max
	if n < 30 && backoffBase<<n < max {
		ceiling = backoffBase << n
	}
	return rand.N(ceiling) + 1
}

// parseRetryAfter reads a Retry-After header (RFC 9110 §10.2.3): either
// delay-seconds or an HTTP-date, which is measured against now. It returns
// zero when the header is absent or unusable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
