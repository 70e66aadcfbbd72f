package schema

import "math/bits"

// Detect reports whether value contains something that identifies a person
// or a device, and which kind (one of the Kind constants). It looks for the
// structure of each identifier — separators, group lengths, value ranges — and
// confirms with the identifier's checksum where one exists (Luhn for card
// numbers and IMEIs, mod-97 for IBANs), so it generalises beyond any list of
// known values. Matches are found anywhere inside the string, not only when
// the whole value is an identifier.
//
// Detect runs the detectors on the value as sent and, when normalisation
// changes it (see normalize: percent-decoding, NFKC, Unicode digits to
// ASCII, dashes, spaces and invisible characters, separators between
// digits), on the normalised form too, so "jane%40example.com",
// "jane.doe＠example.com" and "4111_1111_1111_1111" are found like their
// plain spellings.
//
// Detect is built to run over every string of every event: a single pass
// counts character classes, and only the detectors whose gate those counts
// pass run afterwards, so typical short benign values (enum words,
// versions, locales) cost a few tens of nanoseconds and allocate nothing.
// Every detector runs in time linear in the length of the value
// (TestDetectorsLinear, FuzzDetectCost).
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
	if len(value) < minValueLen {
		return "", false
	}
	st := prescan(value)
	if kind, ok = runDetectors(value, &st); ok || !st.normalizable() {
		return kind, ok
	}
	if n := normalize(value); n != value && len(n) >= minValueLen {
		st = prescan(n)
		return runDetectors(n, &st)
	}
	return "", false
}

// minValueLen is the shortest string any detector can match ("a@b.io").
const minValueLen = 6

// A detector finds one kind of identifier. find scans the value in time
// linear in its length; it runs only when the detector's gate (stats.gates)
// says the character counts of the pre-scan allow a match.
type detector struct {
	name string // the detector's function, for tests and the docs
	find func(s string) (kind string, ok bool)
}

// Detectors, in the order Detect tries them; the first match names the
// kind. The order matters only when a value matches several (a URL whose
// query holds an email is reported as a URL).
const (
	dURL = iota
	dEmail
	dObfuscatedEmail
	dJWT
	dAuthScheme
	dAccessKey
	dMAC
	dIPv6
	dIPv4
	dUUID
	dIBAN
	dCardOrIMEI
	dSSN
	dPhone
	dCoordinates
	dDMS
	dDashedIPv4
	dHexIPv4
	dSecretRun
	numDetectors
)

var detectors = [numDetectors]detector{
	dURL:             {"hasSensitiveURL", is(KindURL, hasSensitiveURL)},
	dEmail:           {"hasEmail", is(KindEmail, hasEmail)},
	dObfuscatedEmail: {"hasObfuscatedEmail", is(KindEmail, hasObfuscatedEmail)},
	dJWT:             {"hasJWT", is(KindJWT, hasJWT)},
	dAuthScheme:      {"hasAuthScheme", is(KindToken, hasAuthScheme)},
	dAccessKey:       {"hasAccessKey", is(KindToken, hasAccessKey)},
	dMAC:             {"hasMAC", is(KindMAC, hasMAC)},
	dIPv6:            {"hasIPv6", is(KindIPv6, hasIPv6)},
	dIPv4:            {"hasIPv4", is(KindIPv4, hasIPv4)},
	dDashedIPv4:      {"hasDashedIPv4", is(KindIPv4, hasDashedIPv4)},
	dHexIPv4:         {"hasHexIPv4", is(KindIPv4, hasHexIPv4)},
	dUUID:            {"hasUUID", is(KindDeviceID, hasUUID)},
	dIBAN:            {"hasIBAN", is(KindIBAN, hasIBAN)},
	dCardOrIMEI:      {"findCardOrIMEI", findCardOrIMEI},
	dSSN:             {"hasSSN", is(KindSSN, hasSSN)},
	dPhone:           {"hasPhone", is(KindPhone, hasPhone)},
	dCoordinates:     {"hasCoordinates", is(KindGeo, hasCoordinates)},
	dDMS:             {"hasDMS", is(KindGeo, hasDMS)},
	dSecretRun:       {"findSecretRun", findSecretRun},
}

// Gate thresholds: the fewest characters of a class a detector's match
// needs. Each is what the shortest form the detector accepts contains.
const (
	urlMinSlashes       = 2  // "://"
	obfuscatedMinLetter = 8  // "a at b dot co" spelled out
	obfuscatedMinSpaces = 4  // " at ", " dot " around the parts
	obfuscatedMinBrack  = 2  // "[at]", "[dot]"
	jwtMinDots          = 2  // header.payload.signature
	jwtMinLetters       = 4  // "eyJ" and more
	authMinLetters      = 10 // "Bearer" and a credential
	accessKeyMinAlnum   = 16 // the shortest published key body
	macMinSeparators    = 5  // six groups
	macMinDots          = 2  // "0123.4567.89ab"
	macMinHexDigits     = 12
	ipv6MinColons       = 2
	ipv4MinDots         = 3
	ipv4MinDigits       = 4
	dashedIPv4MinDashes = 3 // "10-0-0-5"
	hexIPv4MinHex       = 8 // "0x" and eight hex digits
	uuidMinDashes       = 4
	uuidMinHexDigits    = 32
	ibanMinDigits       = 10
	ibanMinLetters      = 2
	cardMinDigits       = 13
	ssnMinDigits        = 9
	ssnMinSeparators    = 2
	phoneMinDigits      = 8
	geoMinDigits        = 6
	geoMinDots          = 2
	dmsMinDigits        = 4
	dmsMinOther         = 4 // two degree signs (two bytes each in UTF-8)
	secretMinAlnum      = 16
)

// gates returns the detectors (bit i for detectors[i]) whose gate the
// counts pass. It is one function of plain comparisons so that a benign
// value, which opens no gate, costs no call at all.
func (st *stats) gates() uint32 {
	var g uint32
	if st.colon > 0 && st.slash >= urlMinSlashes {
		g |= 1 << dURL
	}
	if st.at > 0 {
		g |= 1 << dEmail
	}
	if st.letters >= obfuscatedMinLetter && (st.space >= obfuscatedMinSpaces || st.brackets >= obfuscatedMinBrack) {
		g |= 1 << dObfuscatedEmail
	}
	if st.dot >= jwtMinDots && st.letters >= jwtMinLetters {
		g |= 1 << dJWT
	}
	if (st.space > 0 || st.other > 0) && st.letters >= authMinLetters {
		g |= 1 << dAuthScheme
	}
	if st.digits+st.letters >= accessKeyMinAlnum {
		g |= 1 << dAccessKey
	}
	if (st.colon >= macMinSeparators || st.dash >= macMinSeparators || st.space >= macMinSeparators || st.dot >= macMinDots) &&
		st.hex+st.digits >= macMinHexDigits {
		g |= 1 << dMAC
	}
	if st.colon >= ipv6MinColons {
		g |= 1 << dIPv6
	}
	if st.dot >= ipv4MinDots && st.digits >= ipv4MinDigits {
		g |= 1 << dIPv4
	}
	if st.dash >= dashedIPv4MinDashes && st.digits >= ipv4MinDigits {
		g |= 1 << dDashedIPv4
	}
	if st.hex+st.digits >= hexIPv4MinHex && st.letters > 0 {
		g |= 1 << dHexIPv4
	}
	if st.dash >= uuidMinDashes && st.hex+st.digits >= uuidMinHexDigits {
		g |= 1 << dUUID
	}
	if st.digits >= ibanMinDigits && st.letters >= ibanMinLetters {
		g |= 1 << dIBAN
	}
	if st.digits >= cardMinDigits {
		g |= 1 << dCardOrIMEI
	}
	if st.digits >= ssnMinDigits && st.dash+st.space >= ssnMinSeparators {
		g |= 1 << dSSN
	}
	if st.digits >= phoneMinDigits {
		g |= 1 << dPhone
	}
	if st.digits >= geoMinDigits && st.dot >= geoMinDots {
		g |= 1 << dCoordinates
	}
	if st.digits >= dmsMinDigits && st.other >= dmsMinOther {
		g |= 1 << dDMS
	}
	if st.digits+st.letters >= secretMinAlnum {
		g |= 1 << dSecretRun
	}
	return g
}

// is adapts a detector that finds one kind.
func is(kind string, has func(string) bool) func(string) (string, bool) {
	return func(s string) (string, bool) {
		if has(s) {
			return kind, true
		}
		return "", false
	}
}

func runDetectors(s string, st *stats) (string, bool) {
	for g := st.gates(); g != 0; g &= g - 1 {
		if kind, ok := detectors[bits.TrailingZeros32(g)].find(s); ok {
			return kind, true
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

// stats are the character counts of one pass over a value.
type stats struct {
	digits, letters, hex                      int32
	at, colon, dot, dash, space, slash, other int32
	brackets                                  int32
	// What normalize would change: bytes ≥ 0x80, '%', and '_' or '/'
	// between two digits.
	nonASCII, percent, digitSep int32
}

// normalizable reports whether normalize could change the value.
func (st *stats) normalizable() bool {
	return st.nonASCII > 0 || st.percent > 0 || st.digitSep > 0
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
				if isDigit(at(s, i-1)) && isDigit(at(s, i+1)) {
					st.digitSep++
				}
			case '(', '[', '{', '<':
				st.brackets++
				st.other++
			case '%':
				st.percent++
				st.other++
			case '_':
				st.other++
				if isDigit(at(s, i-1)) && isDigit(at(s, i+1)) {
					st.digitSep++
				}
			default:
				st.other++
				if c >= 0x80 {
					st.nonASCII++
				}
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

// digitRun returns the number of digits starting at s[k].
func digitRun(s string, k int) int {
	n := 0
	for isDigit(at(s, k+n)) {
		n++
	}
	return n
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return len(s) > 0
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
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
