package schema

import (
	"net/netip"
	"strings"
)

// Email addresses: RFC 5322 addr-spec in the dot-atom form people actually
// use, quoted local parts, RFC 6531 UTF-8 and RFC 5890 A-label domains, RFC
// 5321 address literals, and addresses obfuscated against harvesters.

// maxDomainLiteral bounds an RFC 5321 §4.1.3 address literal:
// "[IPv6:" + the longest IPv6 text form + "]".
const maxDomainLiteral = 6 + 45 + 1

// maxDomainLabel is RFC 1035's limit on a DNS label.
const maxDomainLabel = 63

func hasEmail(s string) bool {
	for i := strings.IndexByte(s, '@'); i >= 0; {
		j := i
		if at(s, i-1) == '"' {
			// RFC 5322 §3.4.1 quoted local part: "john doe"@example.com.
			// The search stops at the previous '"', so the spans searched
			// for successive '@'s do not overlap.
			if q := strings.LastIndexByte(s[:i-1], '"'); q >= 0 && q < i-2 {
				j = q
			}
		} else {
			for j > 0 && (isAlnum(s[j-1]) || s[j-1] >= 0x80 || classes[s[j-1]]&cLocal != 0) {
				j--
			}
		}
		if j < i && s[j] != '.' {
			if domainEnd(s, i+1) > 0 || domainLiteral(s[i+1:]) {
				return true
			}
		}
		n := strings.IndexByte(s[i+1:], '@')
		if n < 0 {
			break
		}
		i += 1 + n
	}
	return false
}

// domainLiteral reports whether s starts with an RFC 5321 §4.1.3 address
// literal: "[192.0.2.1]" or "[IPv6:2001:db8::1]".
func domainLiteral(s string) bool {
	if at(s, 0) != '[' {
		return false
	}
	k := strings.IndexByte(s[:min(len(s), maxDomainLiteral)], ']')
	if k < 0 {
		return false
	}
	lit := s[1:k]
	if len(lit) > 5 && strings.EqualFold(lit[:5], "ipv6:") {
		lit = lit[5:]
	}
	_, err := netip.ParseAddr(lit)
	return err == nil
}

// domainEnd returns the end of a DNS name with at least two labels starting
// at s[i], or -1. The top-level label is two or more letters, an A-label
// ("xn--p1ai", RFC 5890) or, for internationalised names, UTF-8 (RFC 6531).
// It stops at the first character that cannot be in a name (such as the
// next '@'), so hasEmail's scans do not overlap.
func domainEnd(s string, i int) int {
	labels, labelStart, lastLabelAlpha, end := 0, i, true, -1
	for k := i; k <= len(s); k++ {
		c := at(s, k)
		if isAlnum(c) || c == '-' || c >= 0x80 {
			if !isLetter(c) && c < 0x80 {
				lastLabelAlpha = false
			}
			continue
		}
		n := k - labelStart
		if n == 0 || n > maxDomainLabel {
			break
		}
		labels++
		if labels >= 2 && n >= 2 && (lastLabelAlpha || n > 4 && strings.EqualFold(s[labelStart:labelStart+4], "xn--")) {
			end = k
		}
		if c != '.' {
			break
		}
		labelStart, lastLabelAlpha = k+1, true
	}
	return end
}

// obfuscatedBuffer bounds the rewritten prefix hasObfuscatedEmail checks;
// obfuscatedMaxPad bounds the spaces inside a bracketed separator
// ("[ at ]"), so each position costs a bounded amount of work.
const (
	obfuscatedBuffer = 128
	obfuscatedMaxPad = 4
)

// hasObfuscatedEmail finds addresses written to dodge address harvesters:
// "jane dot doe at example dot com", "jane [at] example [dot] org",
// "jane(at)example(dot)com". It rewrites the spelled-out separators in the
// first obfuscatedBuffer bytes and looks for an ordinary address. A bare
// " at " needs a spelled-out "dot" somewhere too, so "error at main.go" or
// "meet at the lobby" stay benign.
func hasObfuscatedEmail(s string) bool {
	bracketed := strings.IndexAny(s, "[({<") >= 0 && (indexFold(s, "at") >= 0)
	if !bracketed && indexFold(s, " dot ") < 0 {
		return false
	}
	var buf [obfuscatedBuffer]byte
	b := buf[:0]
	changed := false
	for i := 0; i < len(s) && len(b) < len(buf); {
		if rep, n := obfuscatedSeparator(s[i:], i == 0 || s[i-1] == ' '); n > 0 {
			for len(b) > 0 && b[len(b)-1] == ' ' {
				b = b[:len(b)-1]
			}
			b = append(b, rep)
			i += n
			for i < len(s) && s[i] == ' ' {
				i++
			}
			changed = true
			continue
		}
		b = append(b, s[i])
		i++
	}
	return changed && strings.IndexByte(string(b), '@') >= 0 && hasEmail(string(b))
}

// obfuscatedSeparator matches "[at]", "(at)", "{at}", "<at>" (and "dot",
// and "@"/"." inside brackets) at the start of s, or " at "/" dot " as whole
// words when wordStart, returning the character it stands for and its
// length.
func obfuscatedSeparator(s string, wordStart bool) (byte, int) {
	open := at(s, 0)
	if open == '[' || open == '(' || open == '{' || open == '<' {
		k := 1
		for at(s, k) == ' ' && k <= obfuscatedMaxPad {
			k++
		}
		var rep byte
		switch {
		case len(s) >= k+2 && strings.EqualFold(s[k:k+2], "at"):
			rep, k = '@', k+2
		case len(s) >= k+3 && strings.EqualFold(s[k:k+3], "dot"):
			rep, k = '.', k+3
		case at(s, k) == '@' || at(s, k) == '.':
			rep, k = s[k], k+1
		default:
			return 0, 0
		}
		for pad := 0; at(s, k) == ' ' && pad < obfuscatedMaxPad; pad++ {
			k++
		}
		switch c := at(s, k); {
		case open == '[' && c == ']', open == '(' && c == ')', open == '{' && c == '}', open == '<' && c == '>':
			return rep, k + 1
		}
		return 0, 0
	}
	if !wordStart {
		return 0, 0
	}
	for _, w := range [...]struct {
		word string
		rep  byte
	}{{"at ", '@'}, {"dot ", '.'}} {
		if len(s) > len(w.word) && strings.EqualFold(s[:len(w.word)], w.word) && isAlnum(s[len(w.word)]) {
			return w.rep, len(w.word)
		}
	}
	return 0, 0
}
