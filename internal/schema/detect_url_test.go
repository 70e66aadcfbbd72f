package schema

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// hasSensitiveURLQuadratic is the definition hasSensitiveURL implements,
// written the obvious way: for every "scheme://", read its authority and
// the first '?' or '#' after it to the end of the run. It is quadratic on
// "a://" repeated; the test uses it as the oracle on short values.
func hasSensitiveURLQuadratic(s string) bool {
	for off := 0; ; {
		i := strings.Index(s[off:], "://")
		if i < 0 {
			return false
		}
		i += off
		off = i + 3
		if i == 0 || !isLetter(s[i-1]) {
			continue
		}
		end := off
		for end < len(s) && s[end] > ' ' {
			end++
		}
		rest := s[off:end]
		auth := rest
		if k := strings.IndexAny(rest, "/?#"); k >= 0 {
			auth = rest[:k]
		}
		if strings.IndexByte(auth, '@') > 0 {
			return true
		}
		if k := strings.IndexAny(rest, "?#"); k >= 0 && k+1 < len(rest) {
			if rest[k] == '?' || strings.IndexByte(rest[k+1:], '=') >= 0 {
				return true
			}
		}
	}
}

// TestSensitiveURLMatchesDefinition compares the linear scan with the
// definition on random values over the characters that matter.
func TestSensitiveURLMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "a:/?#=@ .b1"
	for range 200000 {
		b := make([]byte, 1+r.IntN(24))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		s := string(b)
		if got, want := hasSensitiveURL(s), hasSensitiveURLQuadratic(s); got != want {
			t.Fatalf("hasSensitiveURL(%q) = %v, definition says %v", s, got, want)
		}
	}
}

func TestSensitiveURL(t *testing.T) {
	wantKind(t, KindURL,
		"https://example.com/a?b",
		"see http://x.example/ and https://y.example/?q=1",
		"https://example.com/redirect/https://user@evil.example/",
		"HTTPS%3A%2F%2Fexample.com%2F%3Ftoken%3Dabc", // percent-encoded
	)
	wantBenign(t,
		"https://example.com/docs", "https://example.com/#/settings", "a://b c://d",
		strings.Repeat("a://", 1000),
	)
}
