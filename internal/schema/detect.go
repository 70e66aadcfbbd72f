package schema

import (
	"math"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// Detect reports whether value contains something that identifies a person
// or a device, and which kind (one of the Kind constants). It looks for the
// structure of each identifier — separators, group lengths, value ranges — and
// confirms with the identifier's checksum where one exists (Luhn for card
// numbers and IMEIs, mod-97 for IBANs), so it generalises beyond any list of
// known values. Matches are found anywhere inside the string, not only when
// the whole value is an identifier.
//
// Detect is built to run over every string of every event: a single pass
// counts character classes and only the detectors that could possibly match
// run afterwards, so typical short benign values (enum words, versions,
// locales) cost a few tens of nanoseconds and allocate nothing.
//
// Deliberate limits, to keep benign telemetry out: bare digit strings are
// not phone numbers or SSNs (a count cannot be told apart from a subscriber
// number without separators or a "+"); four-part versions whose parts are
// all single digits ("1.2.3.4") are not IPv4 addresses; network addresses
// (IPv4 ending in .0, IPv6 prefixes such as "fe80::/10") are not hosts; a
// bare 12-hex string is not read as a MAC (it is as often a short commit
// id); short hex ("5114f85") is benign while 24+ hex digits (a digest,
// usually of an identifier) are a token. Obfuscated addresses count as
// email only with a spelled-out or bracketed separator ("jane [at]
// example [dot] org", "jane dot doe at example dot com").
func Detect(value string) (kind string, ok bool) {
	if len(value) < 6 {
		return "", false
	}
	st := prescan(value)
	s := value
	if st.colon > 0 && st.slash >= 2 && hasSensitiveURL(s) {
		return KindURL, true
	}
	if st.at > 0 && hasEmail(s) || st.letters >= 8 && (st.space >= 4 || st.brackets >= 2) && hasObfuscatedEmail(s) {
		return KindEmail, true
	}
	if st.dot >= 2 && st.letters >= 4 && hasJWT(s) {
		return KindJWT, true
	}
	if (st.space > 0 || st.other > 0) && st.letters >= 10 && hasAuthScheme(s) {
		return KindToken, true
	}
	if (st.colon >= 5 || st.dash >= 5 || st.dot >= 2) && st.hex+st.digits >= 12 {
		if hasMAC(s) {
			return KindMAC, true
		}
	}
	if st.colon >= 2 && hasIPv6(s) {
		return KindIPv6, true
	}
	if st.dot >= 3 && st.digits >= 4 && hasIPv4(s) {
		return KindIPv4, true
	}
	if st.dash >= 4 && st.hex+st.digits >= 32 && hasUUID(s) {
		return KindDeviceID, true
	}
	if st.digits >= 10 && st.letters >= 2 && hasIBAN(s) {
		return KindIBAN, true
	}
	if st.digits >= 13 {
		if k, ok := findCardOrIMEI(s); ok {
			return k, true
		}
	}
	if st.digits >= 9 && st.dash+st.space >= 2 && hasSSN(s) {
		return KindSSN, true
	}
	if st.digits >= 8 && hasPhone(s) {
		return KindPhone, true
	}
	if st.digits >= 6 && st.dot >= 2 && hasCoordinates(s) || st.digits >= 4 && st.other >= 4 && hasDMS(s) {
		return KindGeo, true
	}
	if st.digits+st.letters >= 16 {
		if k, ok := findSecretRun(s); ok {
			return k, true
		}
	}
	return "", false
}

// Character classes for the pre-scan and the detectors.
const (
	cDigit = 1 << iota
	cHexLetter
	cLetter
	cLocal  // allowed in an email local part besides letters and digits
	cB64URL // base64url alphabet besides letters and digits: - _
)

// classes is an immutable lookup table indexed by byte.
var classes = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cLetter
		t[c-'a'+'A'] = cLetter
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] |= cHexLetter
		t[c-'a'+'A'] |= cHexLetter
	}
	for _, c := range "._%+-'" {
		t[c] |= cLocal
	}
	t['-'] |= cB64URL
	t['_'] |= cB64URL | cLocal
	return t
}()

func isDigit(c byte) bool  { return classes[c]&cDigit != 0 }
func isLetter(c byte) bool { return classes[c]&cLetter != 0 }
func isAlnum(c byte) bool  { return classes[c]&(cDigit|cLetter) != 0 }
func isHex(c byte) bool    { return classes[c]&(cDigit|cHexLetter) != 0 }
func isB64URL(c byte) bool { return classes[c]&(cDigit|cLetter|cB64URL) != 0 }

type stats struct {
	digits, letters, hex                      int
	at, colon, dot, dash, space, slash, other int
	brackets                                  int
}

func prescan(s string) stats {
	var st stats
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch k := classes[c]; {
		case k&cDigit != 0:
			st.digits++
		case k&cLetter != 0:
			st.letters++
			if k&cHexLetter != 0 {
				st.hex++
			}
		default:
			switch c {
			case '@':
				st.at++
			case ':':
				st.colon++
			case '.':
				st.dot++
			case '-':
				st.dash++
			case ' ', '\t':
				st.space++
			case '/':
				st.slash++
			case '(', '[', '{', '<':
				st.brackets++
				st.other++
			default:
				st.other++
			}
		}
	}
	return st
}

// at returns s[i], or 0 outside the string, so boundary checks need no
// length tests.
func at(s string, i int) byte {
	if i < 0 || i >= len(s) {
		return 0
	}
	return s[i]
}

// ---- email (RFC 5322 addr-spec, the dot-atom form people actually use)

func hasEmail(s string) bool {
	for i := strings.IndexByte(s, '@'); i >= 0; {
		j := i
		if at(s, i-1) == '"' {
			// RFC 5322 §3.4.1 quoted local part: "john doe"@example.com
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
	k := strings.IndexByte(s, ']')
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
		if n == 0 || n > 63 {
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

// hasObfuscatedEmail finds addresses written to dodge address harvesters:
// "jane dot doe at example dot com", "jane [at] example [dot] org",
// "jane(at)example(dot)com". It rewrites the spelled-out separators and
// looks for an ordinary address. A bare " at " needs a spelled-out "dot"
// somewhere too, so "error at main.go" or "meet at the lobby" stay benign.
func hasObfuscatedEmail(s string) bool {
	bracketed := strings.IndexAny(s, "[({<") >= 0 && (indexFold(s, "at") >= 0)
	if !bracketed && indexFold(s, " dot ") < 0 {
		return false
	}
	var buf [128]byte
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
		for at(s, k) == ' ' {
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
		for at(s, k) == ' ' {
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

// ---- URL with userinfo or query (RFC 3986 §3.2.1, §3.4)

func hasSensitiveURL(s string) bool {
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
			q := rest[k+1:]
			if rest[k] == '?' || strings.IndexByte(q, '=') >= 0 {
				return true
			}
		}
	}
}

// ---- JWT (RFC 7519 §7.2: compact JWS or JWE, header starts {" → eyJ)

func hasJWT(s string) bool {
	for off := 0; ; {
		i := strings.Index(s[off:], "eyJ")
		if i < 0 {
			return false
		}
		i += off
		off = i + 3
		if isB64URL(at(s, i-1)) {
			continue
		}
		k, segs, segLen := i, 1, 0
		for ; k < len(s); k++ {
			c := s[k]
			if c == '.' {
				if segLen < 2 && segs < 2 {
					break
				}
				segs++
				segLen = 0
				continue
			}
			if !isB64URL(c) {
				break
			}
			segLen++
		}
		if segs >= 3 && k-i >= 16 {
			return true
		}
	}
}

// ---- Authorization credentials (RFC 6750 §2.1 Bearer, RFC 7617 Basic)

func hasAuthScheme(s string) bool {
	for _, scheme := range [...]string{"bearer", "basic", "token"} {
		i := indexFold(s, scheme)
		if i < 0 || isAlnum(at(s, i-1)) {
			continue
		}
		// A space, or one percent-encoded in a query ("bearer%20…").
		k := i + len(scheme)
		switch {
		case at(s, k) == ' ':
			for k < len(s) && s[k] == ' ' {
				k++
			}
		case strings.HasPrefix(s[k:], "%20"):
			k += 3
		default:
			continue
		}
		n, digits := 0, 0
		for ; k < len(s); k++ {
			c := s[k]
			if !isB64URL(c) && c != '.' && c != '~' && c != '+' && c != '/' && c != '=' {
				break
			}
			if isDigit(c) {
				digits++
			}
			n++
		}
		// RFC 6750's own example token is 15 characters.
		if n >= 12 && digits > 0 {
			return true
		}
	}
	return false
}

// indexFold is strings.Index with ASCII case folding; needle is lower case.
func indexFold(s, needle string) int {
	for i := 0; i+len(needle) <= len(s); i++ {
		k := 0
		for ; k < len(needle); k++ {
			c := s[i+k]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[k] {
				break
			}
		}
		if k == len(needle) {
			return i
		}
	}
	return -1
}

// ---- MAC address (EUI-48: 01:23:45:67:89:ab, 01-23-…, 0123.4567.89ab)

func hasMAC(s string) bool {
	for i := 0; i+14 <= len(s); i++ {
		if !isHex(s[i]) || isAlnum(at(s, i-1)) {
			continue
		}
		if c := s[i+2]; c != ':' && c != '-' && s[i+4] != '.' {
			continue
		}
		if m, ok := macAt(s, i); ok && m {
			return true
		}
	}
	return false
}

// macAt matches a MAC starting at i; ok reports a structural match, and the
// bool reports whether it identifies (not all-zero, not broadcast).
func macAt(s string, i int) (identifying, ok bool) {
	var end int
	switch sep := at(s, i+2); {
	case sep == ':' || sep == '-':
		for g := 0; g < 6; g++ {
			p := i + 3*g
			if !isHex(at(s, p)) || !isHex(at(s, p+1)) {
				return false, false
			}
			if g < 5 && at(s, p+2) != sep {
				return false, false
			}
		}
		end = i + 17
	case at(s, i+4) == '.':
		for g := 0; g < 3; g++ {
			p := i + 5*g
			for k := 0; k < 4; k++ {
				if !isHex(at(s, p+k)) {
					return false, false
				}
			}
			if g < 2 && at(s, p+4) != '.' {
				return false, false
			}
		}
		end = i + 14
	default:
		return false, false
	}
	if c := at(s, end); isAlnum(c) || c == ':' || c == '-' || (c == '.' && isAlnum(at(s, end+1))) {
		return false, false
	}
	zero, bcast := true, true
	for k := i; k < end; k++ {
		c := s[k]
		if isHex(c) {
			zero = zero && c == '0'
			bcast = bcast && (c == 'f' || c == 'F')
		}
	}
	return !zero && !bcast, true
}

// ---- IPv6 (RFC 4291 §2.2 text forms, RFC 4007 §11 zones, RFC 3986 brackets)

func hasIPv6(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if !isHex(c) && c != ':' {
			i++
			continue
		}
		j, colons := i, 0
		for j < len(s) && (isHex(s[j]) || s[j] == ':' || s[j] == '.') {
			if s[j] == ':' {
				colons++
			}
			j++
		}
		start := i
		i = j
		if colons < 2 {
			continue
		}
		if b := at(s, start-1); isLetter(b) || b == '_' {
			continue
		}
		if b := at(s, j); isLetter(b) || b == '_' {
			continue
		}
		cand := strings.TrimRight(s[start:j], ".")
		if at(s, j) == '/' && isDigit(at(s, j+1)) {
			// A prefix ("fe80::/10", "2001:db8::/32") names a network;
			// an address with a prefix length ("2001:db8::7/64") is a host.
			if p, err := netip.ParsePrefix(cand + "/" + s[j+1:j+1+digitRun(s, j+1)]); err == nil && p.Masked().Addr() == p.Addr() {
				continue
			}
		}
		if ipv6Identifying(cand) {
			return true
		}
		// "addr:port" without brackets: drop the last group and retry.
		if k := strings.LastIndexByte(cand, ':'); k > 0 && !strings.HasSuffix(cand[:k], ":") && ipv6Identifying(cand[:k]) {
			return true
		}
	}
	return false
}

func ipv6Identifying(cand string) bool {
	if len(cand) < 3 || (!strings.Contains(cand, "::") && strings.Count(cand, ":") < 7) {
		return false
	}
	a, err := netip.ParseAddr(cand)
	if err != nil || !a.Is6() {
		return false
	}
	return !a.IsUnspecified() && !a.IsLoopback()
}

// ---- IPv4 (dotted quad, RFC 791 notation), optionally with a port

func hasIPv4(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			continue
		}
		if b := at(s, i-1); isDigit(b) || b == '.' || b == 'v' || b == 'V' {
			continue
		}
		var oct [4]int
		k, ok := i, true
		for g := 0; g < 4 && ok; g++ {
			n, v := 0, 0
			for k < len(s) && isDigit(s[k]) && n < 4 {
				v = v*10 + int(s[k]-'0')
				k++
				n++
			}
			if n == 0 || n > 3 || v > 255 {
				ok = false
				break
			}
			oct[g] = v
			if g < 3 {
				if at(s, k) != '.' {
					ok = false
					break
				}
				k++
			}
		}
		if !ok {
			continue
		}
		if c := at(s, k); isAlnum(c) || (c == '.' && isDigit(at(s, k+1))) {
			continue
		}
		// Not hosts, or not addresses at all: "this network", loopback, a
		// network address ending in .0 ("Chrome/131.0.0.0" is a version),
		// and four single digits ("1.2.3.4" is a version far more often).
		if oct[0] == 0 || oct[0] == 127 || oct[3] == 0 || (oct[0] <= 9 && oct[1] <= 9 && oct[2] <= 9 && oct[3] <= 9) {
			continue
		}
		return true
	}
	return false
}

// ---- UUID (RFC 9562 §4 text form): IDFA, GAID, install ids

func hasUUID(s string) bool {
	groups := [5]int{8, 4, 4, 4, 12}
	for i := 0; i+36 <= len(s); i++ {
		if !isHex(s[i]) || isAlnum(at(s, i-1)) {
			continue
		}
		k, ok, nonzero, nonmax := i, true, false, false
		for g, n := range groups {
			for range n {
				c := at(s, k)
				if !isHex(c) {
					ok = false
					break
				}
				nonzero = nonzero || c != '0'
				nonmax = nonmax || (c != 'f' && c != 'F')
				k++
			}
			if !ok {
				break
			}
			if g < 4 {
				if at(s, k) != '-' {
					ok = false
					break
				}
				k++
			}
		}
		// The nil and max UUIDs (RFC 9562 §5.9, §5.10) are sentinels.
		if ok && !isAlnum(at(s, k)) && nonzero && nonmax {
			return true
		}
	}
	return false
}

// ---- payment cards (ISO/IEC 7812) and IMEI (3GPP TS 23.003 §6.2): Luhn

// findCardOrIMEI looks for 13–19 digits written together or in groups
// separated by single spaces or hyphens, passing the Luhn check. A 15-digit
// number is an IMEI unless it carries an American Express prefix (34, 37);
// other lengths must start with a card network's major industry digit (2–6).
func findCardOrIMEI(s string) (string, bool) {
	var digits [19]byte
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			continue
		}
		if b := at(s, i-1); isAlnum(b) || b == '.' || b == '+' || ((b == '-' || b == ' ') && isDigit(at(s, i-2))) {
			continue
		}
		n, k, too := 0, i, false
		for k < len(s) {
			c := s[k]
			if isDigit(c) {
				if n == len(digits) {
					too = true
					break
				}
				digits[n] = c - '0'
				n++
				k++
				continue
			}
			if (c == ' ' || c == '-') && isDigit(at(s, k+1)) && isDigit(s[k-1]) {
				k++
				continue
			}
			break
		}
		if too || n < 13 || isAlnum(at(s, k)) || (at(s, k) == '.' && isDigit(at(s, k+1))) {
			i = k
			continue
		}
		d := digits[:n]
		if luhn(d) {
			amex := d[0] == 3 && (d[1] == 4 || d[1] == 7)
			switch {
			case n == 15 && !amex:
				return KindIMEI, true
			case d[0] >= 2 && d[0] <= 6:
				return KindCreditCard, true
			}
		}
		i = k
	}
	return "", false
}

func luhn(d []byte) bool {
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i])
		if (len(d)-1-i)%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// ---- IBAN (ISO 13616-1; check digits per ISO 7064 MOD 97-10)

func hasIBAN(s string) bool {
	for i := 0; i+15 <= len(s); i++ {
		if !isLetter(s[i]) || !isLetter(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) || isAlnum(at(s, i-1)) {
			continue
		}
		if upper(s[i]) != s[i] || upper(s[i+1]) != s[i+1] {
			if upper(s[i]) == s[i] || upper(s[i+1]) == s[i+1] {
				continue // mixed-case country code: a word, not an IBAN
			}
		}
		// Remainder of the BBAN so far, computed as digits are appended.
		rem, n := 0, 4
		head := [4]byte{upper(s[i]), upper(s[i+1]), s[i+2], s[i+3]}
		k := i + 4
		for k < len(s) && n < 34 {
			c := s[k]
			if c == ' ' && isAlnum(at(s, k+1)) && isAlnum(s[k-1]) {
				k++
				continue
			}
			if !isAlnum(c) {
				break
			}
			rem = mod97Append(rem, upper(c))
			n++
			k++
			if n >= 15 && !isAlnum(at(s, k)) {
				r := rem
				for _, h := range head {
					r = mod97Append(r, h)
				}
				if r == 1 {
					return true
				}
			}
		}
	}
	return false
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// mod97Append returns the remainder after appending c (a digit, or a letter
// standing for 10..35) to a number whose remainder mod 97 was rem.
func mod97Append(rem int, c byte) int {
	if isDigit(c) {
		return (rem*10 + int(c-'0')) % 97
	}
	return (rem*100 + int(c-'A') + 10) % 97
}

// ---- US Social Security number (AAA-GG-SSSS, SSA validity rules)

func hasSSN(s string) bool {
	for i := 0; i+11 <= len(s); i++ {
		if !isDigit(s[i]) {
			continue
		}
		if b := at(s, i-1); isAlnum(b) || b == '-' || b == '.' || b == '+' || b == '(' {
			continue
		}
		sep := at(s, i+3)
		if sep != '-' && sep != ' ' {
			continue
		}
		if !allDigits(s[i:i+3]) || !allDigits(s[i+4:i+6]) || at(s, i+6) != sep || !allDigits(s[i+7:i+11]) {
			continue
		}
		if c := at(s, i+11); isAlnum(c) || c == '-' || (c == '.' && isDigit(at(s, i+12))) {
			continue
		}
		area := s[i : i+3]
		if area == "000" || area == "666" || area[0] == '9' || s[i+4:i+6] == "00" || s[i+7:i+11] == "0000" {
			continue
		}
		return true
	}
	return false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return len(s) > 0
}

// ---- phone numbers (ITU-T E.164 and E.123 written forms)

// hasPhone accepts a run of digit groups separated by single spaces, hyphens,
// dots or parentheses when it is written as:
//   - international: "+" or "00", then 8–15 digits (E.164 maximum);
//   - NANP: optional country code 1, then 3-3-4 groups with an area code
//     starting 2–9;
//   - national with trunk prefix: a first group of 2–5 digits starting with
//     0 (optionally in parentheses), then groups of 3+ digits (or the
//     French five pairs), 9–12 digits in all.
func hasPhone(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && c != '+' && c != '(' {
			continue
		}
		// After a colon only "+…" ("tel:+1-201-…", RFC 3966); "12:34" is a time.
		if b := at(s, i-1); isAlnum(b) || b == '.' || b == '-' || b == '/' || b == '+' || b == '(' || b == ':' && c != '+' {
			continue
		}
		end, ok := phoneAt(s, i)
		if ok {
			return true
		}
		if end > i {
			i = end - 1
		}
	}
	return false
}

func phoneAt(s string, i int) (end int, ok bool) {
	var groups, starts [8]int
	ng, digits, plus, parens, dotSep, otherSep := 0, 0, false, 0, false, false
	k := i
	if s[k] == '+' {
		plus = true
		k++
		if !isDigit(at(s, k)) {
			return k, false
		}
	}
	for k < len(s) {
		c := s[k]
		switch {
		case isDigit(c):
			n, start := 0, k
			for k < len(s) && isDigit(s[k]) {
				n++
				k++
			}
			if ng == len(groups) {
				return k, false
			}
			groups[ng], starts[ng] = n, start
			ng++
			digits += n
			continue
		case c == '(':
			if isDigit(at(s, k+1)) && (k == i || !isDigit(s[k-1])) {
				parens++
				k++
				continue
			}
		case c == ')':
			if isDigit(at(s, k-1)) && parens > 0 {
				k++
				if at(s, k) == ' ' && (isDigit(at(s, k+1))) {
					k++
				}
				continue
			}
		case c == '/':
			// German "030/12345678": a slash only after the trunk-prefixed
			// area code.
			if ng == 1 && s[i] == '0' && isDigit(at(s, k+1)) {
				otherSep = true
				k++
				continue
			}
		case c == ' ' || c == '-' || c == '.':
			if isDigit(at(s, k-1)) && (isDigit(at(s, k+1)) || (c == ' ' && at(s, k+1) == '(')) {
				if c == '.' {
					dotSep = true
				} else {
					otherSep = true
				}
				k++
				continue
			}
		}
		break
	}
	if c := at(s, k); isLetter(c) || c == '@' || c == ':' || (c == '.' && isDigit(at(s, k+1))) || c == '%' {
		return k, false
	}
	g := groups[:ng]
	if ng == 0 {
		return k, false
	}
	first := s[i]
	if first == '(' {
		first = s[i+1]
	}
	switch {
	case plus:
		return k, digits >= 8 && digits <= 15 && !(dotSep && ng >= 3 && !otherSep && parens == 0 && digits < 10)
	case first == '0' && at(s, i+1) == '0' && ng >= 2 && g[0] >= 4:
		return k, digits >= 10 && digits <= 17
	}
	// NANP 3-3-4, optionally after a leading 1.
	if ng >= 3 {
		h, area := g, starts[0]
		if ng == 4 && g[0] == 1 && s[starts[0]] == '1' {
			h, area = g[1:], starts[1]
		}
		if len(h) == 3 && h[0] == 3 && h[1] == 3 && h[2] == 4 && s[area] >= '2' {
			return k, true
		}
	}
	// A parenthesised area code without trunk prefix, then the subscriber
	// number in groups: "(11) 91234-5678".
	if s[i] == '(' && first != '0' && ng >= 3 && g[0] >= 2 && g[0] <= 4 && g[1] >= 3 && g[ng-1] >= 4 && digits >= 9 && digits <= 12 {
		return k, true
	}
	if first != '0' || ng < 2 || digits < 9 || digits > 12 {
		return k, false
	}
	if g[0] < 2 || g[0] > 5 {
		return k, false
	}
	pairs := true
	for _, n := range g {
		pairs = pairs && n == 2
	}
	if pairs && ng == 5 {
		return k, true // French "06 12 34 56 78", also with dots
	}
	if dotSep {
		return k, false
	}
	for _, n := range g[1:] {
		if n < 3 {
			return k, false
		}
	}
	return k, true
}

// ---- precise coordinates: a latitude/longitude pair with ≥ 3 decimals

func hasCoordinates(s string) bool {
	prevEnd, prevVal, prevOK, prevDecimals := -1, 0.0, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && c != '-' && c != '+' {
			continue
		}
		b := at(s, i-1)
		if isAlnum(b) || b == '.' || ((c == '-' || c == '+') && !isDigit(at(s, i+1))) {
			continue
		}
		k := i
		if c == '-' || c == '+' {
			k++
		}
		intStart := k
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		intDigits := k - intStart
		if intDigits == 0 || intDigits > 3 || at(s, k) != '.' || !isDigit(at(s, k+1)) {
			prevOK = false
			i = k
			continue
		}
		k++
		fracStart := k
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if c := at(s, k); isAlnum(c) && c != 'N' && c != 'S' && c != 'E' && c != 'W' || (c == '.' && isDigit(at(s, k+1))) {
			prevOK = false
			i = k
			continue
		}
		v, err := strconv.ParseFloat(s[i:k], 64)
		decimals := k - fracStart
		// Both need two decimals and one of them three: a printer dropping
		// a trailing zero ("-17.65,171.513") still leaks a position.
		precise := err == nil && decimals >= 2 && v >= -180 && v <= 180
		// Two fractions below one ("0.125 0.250") are ratios far more
		// often than a point in the Gulf of Guinea.
		if precise && prevOK && max(decimals, prevDecimals) >= 3 && prevVal >= -90 && prevVal <= 90 &&
			(v >= 1 || v <= -1 || prevVal >= 1 || prevVal <= -1) && coordGap(s[prevEnd:i]) {
			return true
		}
		prevEnd, prevVal, prevOK, prevDecimals = k, v, precise, decimals
		i = k - 1
	}
	return false
}

// hasDMS finds a latitude/longitude pair in degrees, minutes and seconds
// ("40°26'46\"N 79°58'56\"W"), or degrees and decimal minutes
// ("40°26.767'N"): both resolve a position to tens of metres. Degrees with
// whole minutes only (about 2 km) are not reported.
func hasDMS(s string) bool {
	found := 0
	for off := 0; ; {
		i := strings.Index(s[off:], "°")
		if i < 0 {
			return false
		}
		i += off
		off = i + len("°")
		if !isDigit(at(s, i-1)) {
			continue
		}
		k := off
		for at(s, k) == ' ' {
			k++
		}
		n := digitRun(s, k)
		if n == 0 || n > 2 {
			continue
		}
		k += n
		precise := false
		if at(s, k) == '.' && isDigit(at(s, k+1)) {
			k += 1 + digitRun(s, k+1)
			precise = true
		}
		m := minuteMark(s[k:])
		if m == 0 {
			continue
		}
		k += m
		for at(s, k) == ' ' {
			k++
		}
		if n := digitRun(s, k); n > 0 && n <= 2 {
			k += n
			if at(s, k) == '.' && isDigit(at(s, k+1)) {
				k += 1 + digitRun(s, k+1)
			}
			if sm := secondMark(s[k:]); sm > 0 {
				precise = true
				k += sm
			}
		}
		if precise {
			if found++; found == 2 {
				return true
			}
		}
		off = max(off, k)
	}
}

func digitRun(s string, k int) int {
	n := 0
	for isDigit(at(s, k+n)) {
		n++
	}
	return n
}

// minuteMark and secondMark match the ASCII and Unicode prime marks.
func minuteMark(s string) int {
	switch {
	case strings.HasPrefix(s, "′"):
		return len("′")
	case strings.HasPrefix(s, "'") && !strings.HasPrefix(s, "''"):
		return 1
	}
	return 0
}

func secondMark(s string) int {
	switch {
	case strings.HasPrefix(s, "″"):
		return len("″")
	case strings.HasPrefix(s, "''"):
		return 2
	case strings.HasPrefix(s, "\""):
		return 1
	}
	return 0
}

// coordGap reports whether the text between two numbers can separate a
// latitude from a longitude: punctuation, hemisphere letters and degree
// signs, or a label naming the longitude ("lon", "lng").
func coordGap(g string) bool {
	if len(g) == 0 || len(g) > 16 {
		return false
	}
	if indexFold(g, "lon") >= 0 || indexFold(g, "lng") >= 0 {
		return strings.IndexFunc(g, func(r rune) bool { return r >= '0' && r <= '9' }) < 0
	}
	for _, r := range g {
		switch r {
		case ' ', ',', ';', '/', '|', '\t', '°', 'N', 'S', 'E', 'W':
		default:
			return false
		}
	}
	return true
}

// ---- long secret-looking strings: API keys, digests, 16-hex Android ids

// findSecretRun looks at each run of token characters (base64 and base64url
// alphabets). What sets a secret apart from a long name is randomness, seen
// without reference to any vendor's key format in two ways:
//
//   - segment length: split the way a programmer's name splits (at case
//     humps, between letters and digits, at _ and -), random text falls
//     into short pieces — about 1.9 characters on average for base62, under
//     3.2 in 99 % of 20-character keys — while names are made of words
//     ("presentCheckoutOnboarding17" averages 6.75);
//   - vowels: random letters are vowels about one time in five, English
//     words two in five, which separates single-case keys ("AKIA…", base32)
//     whose letter runs are long;
//   - letter pairs: in each piece of a run between separators, how many
//     adjacent letters form a frequent English bigram; a long piece with
//     few is random (base32 keys, lower-case API keys, letters-only
//     secrets, the key behind "sk_live_"), and two worded pieces make a
//     format constant ("VK_FORMAT_R8G8B8A8_UNORM").
//
// A hexadecimal run of exactly 16 characters (Android ID, 64-bit ids) or 32
// (IDFA or GAID without hyphens, MD5 of an identifier) is a device id; other
// hexadecimal runs of 24 or more (SHA-1/SHA-256 digests, which are usually
// hashes of an identifier) and random-looking runs of 20 or more are tokens.
// Short hex ("5114f85", a 7–12 character commit id) stays benign.
func findSecretRun(s string) (string, bool) {
	for i := 0; i < len(s); {
		if !isB64URL(s[i]) {
			i++
			continue
		}
		var (
			j                    = i
			upperN, lowerN, digN int
			vowels, segs         int
			seps                 int // separators inside the run
			ps                   pieces
			hexOnly              = true
			prev, prev2          uint8
			seen                 uint64
		)
		for j < len(s) && (isB64URL(s[j]) || s[j] == '+' || s[j] == '/' || s[j] == '=') {
			c := s[j]
			j++
			var (
				cls uint8
				bit uint64
			)
			switch {
			case isDigit(c):
				cls, bit = 1, 1<<(c-'0')
				digN++
			case 'A' <= c && c <= 'Z':
				cls, bit = 2, 1<<(c-'A'+10)
				upperN++
			case 'a' <= c && c <= 'z':
				cls, bit = 3, 1<<(c-'a'+36)
				lowerN++
			default:
				if c != '=' || j < len(s) && s[j] != '=' && isB64URL(s[j]) {
					seps++ // not base32/base64 end padding
				}
				ps.end(true)
				prev, prev2 = 0, 0
				continue
			}
			// The current piece (counted here, not in a method: this loop
			// runs over every character of every string of every event).
			if cls == 1 {
				ps.digits++
				ps.prevLetter = 0
			} else {
				l := c | 0x20
				ps.letters++
				if ps.prevLetter != 0 {
					ps.pairs++
					if englishBigram[ps.prevLetter-'a'][l-'a'] {
						ps.common++
					}
				}
				ps.prevLetter = l
			}
			seen |= bit
			ps.seen |= bit
			if !isHex(c) {
				hexOnly = false
			}
			switch c | 0x20 {
			case 'a', 'e', 'i', 'o', 'u':
				vowels++
				ps.vowels++
			}
			switch {
			case prev == 0, (cls == 1) != (prev == 1), cls == 2 && prev == 3, cls == 3 && prev == 2 && prev2 == 2:
				segs++
			}
			prev2, prev = prev, cls
		}
		i = j
		ps.end(seps > 0)
		n := upperN + lowerN + digN
		if n < 16 || (n < 20 && n != 16) {
			continue
		}
		letters := upperN + lowerN
		// A piece of 20 or more (between separators, or the whole run)
		// whose adjacent letters are rarely a frequent English pair: fewer
		// than 27 % of its letter pairs are in englishBigram, where names
		// made of words reach about half and random letters about a sixth
		// (isRandomPiece). The class rules below take a letters-only run
		// for a word, and segment lengths say little about single-case
		// text or a key behind a worded prefix ("sk_live_…").
		if ps.random && !(hexOnly && digN > 0) {
			return KindToken, true
		}
		if digN == 0 || letters == 0 {
			if digN > 0 || upperN == 0 || lowerN == 0 {
				continue // one class only: a number or a word
			}
		}
		distinct := bits.OnesCount64(seen)
		if hexOnly && (upperN == 0 || lowerN == 0) {
			switch {
			case digN == 0 || letters == 0:
			case n == 16 && distinct >= 6, n == 32 && distinct >= 9:
				return KindDeviceID, true
			case n >= 24 && distinct >= 10:
				return KindToken, true
			}
			continue
		}
		if n < 20 || float64(distinct) < 0.6*expectedDistinct(26*min(upperN, 1)+26*min(lowerN, 1)+10*min(digN, 1), n) {
			continue
		}
		// Two or more pieces between separators that are words, and no
		// other piece longer than 12, make a format code or constant
		// ("VK_FORMAT_R8G8B8A8_UNORM"), not a key; a key behind a worded
		// prefix ("token_value_…") has a long piece of its own.
		if ps.words >= 2 && ps.longestOther <= 12 {
			continue
		}
		// Short segments (n/segs ≤ 2.4); or fairly short ones (≤ 3.2) with
		// few vowels (≤ 30 %), which keeps format codes made of words
		// ("DXGI_FORMAT_R16G16B16A16_FLOAT") out; or, for single-case keys
		// with digits, vowels below 20 % and segments ≤ 6.
		if 5*n <= 12*segs || 5*n <= 16*segs && 10*vowels <= 3*letters ||
			digN >= 2 && 5*vowels < letters && n <= 6*segs {
			return KindToken, true
		}
	}
	return "", false
}

// pieces follows the pieces of a run between separators ('_', '-', '+',
// '/', '='): the current one, how many were words, the longest other, and
// whether one read as random.
type pieces struct {
	letters, digits, vowels int
	pairs, common           int // adjacent letters; those that are frequent English bigrams
	prevLetter              byte
	seen                    uint64

	words        int // pieces that read as words ("FORMAT", "UNORM")
	longestOther int // the longest piece that is not a word
	random       bool
}

// end closes the current piece (see isRandom for mixed) and starts the
// next.
func (p *pieces) end(mixed bool) {
	if p.isWord() {
		p.words++
	} else {
		p.longestOther = max(p.longestOther, p.letters+p.digits)
	}
	p.random = p.random || p.isRandom(mixed)
	p.letters, p.digits, p.vowels, p.pairs, p.common, p.prevLetter, p.seen = 0, 0, 0, 0, 0, 0, 0
}

// isWord reports whether the current piece reads as a word: four or more
// letters and no digits, a vowel, and at least half of its letter pairs
// frequent English bigrams.
func (p *pieces) isWord() bool {
	return p.letters >= 4 && p.digits == 0 && p.vowels > 0 && 2*p.common >= p.pairs
}

// isRandom reports whether the current piece reads as random: 20 or more
// characters, 16 or more of them letters, fewer than 27 % of its letter
// pairs frequent English bigrams, and enough distinct symbols that it is
// not a repetition ("aaaa…", "abab…"). A mixed-case piece counts only when
// mixed is set (the run has separators: a key behind a prefix such as
// "sk_live_"); a mixed-case run of its own is left to the segment rules,
// since camelCase names with acronyms ("BufferToggleGpsSync") pair their
// letters less like English.
func (p *pieces) isRandom(mixed bool) bool {
	n := p.letters + p.digits
	if n < 20 || p.letters < 16 || 100*p.common >= 27*p.pairs {
		return false
	}
	upper := p.seen>>10&(1<<26-1) != 0
	lower := p.seen>>36 != 0
	if upper && lower && !mixed {
		return false
	}
	k := 10*min(p.digits, 1) + 26
	if upper && lower {
		k += 26
	}
	return float64(bits.OnesCount64(p.seen)) >= 0.6*expectedDistinct(k, n)
}

// englishBigram marks 108 frequent English letter pairs: about half of the
// adjacent letter pairs of English words (and of names made of them), a
// sixth of a random string's (108 of 676).
var englishBigram = func() (t [26][26]bool) {
	const list = "th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng " +
		"se ha as ou io le ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur " +
		"ca el ta la ns di fo ho pe ec pr no ct us ac ot il tr ly nc et ut ss so rs un " +
		"lo wa ge ie wh ee wi em ad ol rt po we na ul ni ts mo ow pa im mi ai sh ir su " +
		"ke ey bo oa rd ck ay gh ht ld ab ag ap pl ry ty mp op up"
	for i := 0; i+1 < len(list); i += 3 {
		t[list[i]-'a'][list[i+1]-'a'] = true
	}
	return t
}()

// expectedDistinct is the expected number of distinct symbols among n
// uniform draws from an alphabet of k.
func expectedDistinct(k, n int) float64 {
	fk := float64(k)
	return fk * (1 - math.Pow(1-1/fk, float64(n)))
}
