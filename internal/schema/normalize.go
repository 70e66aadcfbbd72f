package schema

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// percentRounds is how many times normalize percent-decodes: "%2540" is
// "%40" after one round and "@" after two.
const percentRounds = 2

// normalize returns the spelling of s the detectors see on their second
// pass, in time linear in len(s):
//
//  1. percent-decoding (RFC 3986 §2.1), twice, so "jane%40example.com"
//     and "jane%2540example.com" read "jane@example.com";
//  2. when s is not ASCII: Unicode NFKC, which folds fullwidth and other
//     compatibility forms ("＠", "１９２．１６８"); then every decimal digit
//     (Unicode Nd: Arabic-Indic, Devanagari, …, which NFKC keeps) becomes
//     its ASCII digit, dashes (Pd) and the minus sign become '-', space
//     separators (Zs) become ' ', the ideographic full stops become '.',
//     and format characters (Cf: zero-width spaces and joiners, soft
//     hyphens, bidirectional controls) are dropped;
//  3. separator folding: '_' or '/' between two digits becomes '-', so
//     "4111_1111_1111_1111" and "078/05/1120" read like their hyphenated
//     forms.
//
// Bytes that are not valid UTF-8 are kept as they are.
func normalize(s string) string {
	for range percentRounds {
		d, ok := percentDecode(s)
		if !ok {
			break
		}
		s = d
	}
	if !isASCII(s) {
		s = foldRunes(norm.NFKC.String(s))
	}
	return foldDigitSeparators(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// percentDecode decodes every "%XX" with two hex digits; ok reports
// whether there was one.
func percentDecode(s string) (string, bool) {
	i := strings.IndexByte(s, '%')
	for i >= 0 && !(isHex(at(s, i+1)) && isHex(at(s, i+2))) {
		n := strings.IndexByte(s[i+1:], '%')
		if n < 0 {
			return s, false
		}
		i += 1 + n
	}
	if i < 0 {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		if s[i] == '%' && isHex(at(s, i+1)) && isHex(at(s, i+2)) {
			b.WriteByte(hexValue(s[i+1])<<4 | hexValue(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

// foldRunes applies step 2 of normalize after NFKC.
func foldRunes(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			b.WriteByte(s[i])
			i++
			continue
		}
		i += size
		if r < utf8.RuneSelf {
			b.WriteByte(byte(r))
			continue
		}
		switch {
		case unicode.Is(unicode.Nd, r):
			b.WriteByte('0' + byte(digitValue(r)))
		case r == '\u2212' || unicode.Is(unicode.Pd, r):
			b.WriteByte('-')
		case unicode.Is(unicode.Zs, r):
			b.WriteByte(' ')
		case r == '\u3002' || r == '\uff61':
			b.WriteByte('.')
		case unicode.Is(unicode.Cf, r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// digitValue returns the value of a Unicode decimal digit. Every range of
// unicode.Nd is a whole number of blocks of ten starting at a zero
// (TestDigitValueBlocks checks it), so the value is the offset in the
// range modulo ten.
func digitValue(r rune) int {
	for _, rg := range unicode.Nd.R16 {
		if lo, hi := rune(rg.Lo), rune(rg.Hi); r >= lo && r <= hi {
			return int(r-lo) % 10
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if lo, hi := rune(rg.Lo), rune(rg.Hi); r >= lo && r <= hi {
			return int(r-lo) % 10
		}
	}
	return 0
}

// foldDigitSeparators applies step 3 of normalize.
func foldDigitSeparators(s string) string {
	sep := func(i int) bool {
		c := s[i]
		return (c == '_' || c == '/') && isDigit(at(s, i-1)) && isDigit(at(s, i+1))
	}
	i := 1
	for i < len(s) && !sep(i) {
		i++
	}
	if i >= len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		if sep(i) {
			b.WriteByte('-')
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
