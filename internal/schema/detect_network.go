package schema

import (
	"net/netip"
	"strings"
)

// Network addresses: EUI-48 MAC addresses, IPv6 and IPv4 in their text
// forms, IPv4 embedded in host names, and IPv4 written in hex.

// ---- MAC address (EUI-48: 01:23:45:67:89:ab, 01-23-…, 01 23 …, 0123.4567.89ab)

func hasMAC(s string) bool {
	for i := 0; i+14 <= len(s); i++ {
		if !isHex(s[i]) || isAlnum(at(s, i-1)) {
			continue
		}
		if c := s[i+2]; c != ':' && c != '-' && c != ' ' && s[i+4] != '.' {
			continue
		}
		if m, ok := macAt(s, i); ok && m {
			return true
		}
	}
	return false
}

// macAt matches a MAC starting at i; ok reports a structural match, and the
// bool reports whether it identifies (not all-zero, not broadcast). Six
// pairs separated by spaces count only with a digit among them and not
// inside a longer run of pairs (a hex dump).
func macAt(s string, i int) (identifying, ok bool) {
	var end int
	switch sep := at(s, i+2); {
	case sep == ':' || sep == '-' || sep == ' ':
		digit := false
		for g := 0; g < 6; g++ {
			p := i + 3*g
			if !isHex(at(s, p)) || !isHex(at(s, p+1)) {
				return false, false
			}
			digit = digit || isDigit(s[p]) || isDigit(s[p+1])
			if g < 5 && at(s, p+2) != sep {
				return false, false
			}
		}
		end = i + 17
		if sep == ' ' && (!digit || hexPairAt(s, end+1) || at(s, i-1) == ' ' && hexPairAt(s, i-3) && !isAlnum(at(s, i-4))) {
			return false, false
		}
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

// hexPairAt reports two hex digits at s[i] not followed by a third.
func hexPairAt(s string, i int) bool {
	return isHex(at(s, i)) && isHex(at(s, i+1)) && !isAlnum(at(s, i+2))
}

// ---- IPv6 (RFC 4291 §2.2 text forms, RFC 4007 §11 zones, RFC 3986 brackets)

// maxIPv6Candidate bounds what is parsed as an address: the longest IPv6
// text form (45 bytes, with an embedded IPv4) and a ":port".
const maxIPv6Candidate = 45 + 6

// hasIPv6 reads each run of hex digits, colons and dots once.
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
		if colons < 2 || j-start > maxIPv6Candidate {
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
			bitsEnd := j + 1 + min(digitRun(s, j+1), 4)
			if p, err := netip.ParsePrefix(cand + "/" + s[j+1:bitsEnd]); err == nil && p.Masked().Addr() == p.Addr() {
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

// ipv4Host reports whether four octets written as text name a host rather
// than a network or a version: not "this network" (0.x), not loopback, not
// a network address ending in .0 ("Chrome/131.0.0.0" is a version), and
// not four single digits ("1.2.3.4" is a version far more often).
func ipv4Host(oct [4]int) bool {
	return oct[0] != 0 && oct[0] != 127 && oct[3] != 0 && !(oct[0] <= 9 && oct[1] <= 9 && oct[2] <= 9 && oct[3] <= 9)
}

// ipv4Unicast reports whether a 32-bit value, read as an IPv4 address,
// names a unicast host: first octet 1–223 other than 127, last octet
// neither 0 (a network) nor 255 (a broadcast).
func ipv4Unicast(v uint32) bool {
	a, d := v>>24, v&0xff
	return a >= 1 && a <= 223 && a != 127 && d != 0 && d != 255
}

// ipv4Octets reads sep-separated decimal octets at s[i] (1–3 digits,
// ≤ 255) and returns them and the end.
func ipv4Octets(s string, i int, sep byte) (oct [4]int, end int, ok bool) {
	k := i
	for g := 0; g < 4; g++ {
		n, v := 0, 0
		for k < len(s) && isDigit(s[k]) && n < 4 {
			v = v*10 + int(s[k]-'0')
			k++
			n++
		}
		if n == 0 || n > 3 || v > 255 {
			return oct, k, false
		}
		oct[g] = v
		if g < 3 {
			if at(s, k) != sep {
				return oct, k, false
			}
			k++
		}
	}
	return oct, k, true
}

func hasIPv4(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			continue
		}
		if b := at(s, i-1); isDigit(b) || b == '.' || b == 'v' || b == 'V' {
			continue
		}
		oct, k, ok := ipv4Octets(s, i, '.')
		if !ok {
			continue
		}
		if c := at(s, k); isAlnum(c) || (c == '.' && isDigit(at(s, k+1))) {
			continue
		}
		if ipv4Host(oct) {
			return true
		}
	}
	return false
}

// maxLabelScan bounds how far back hasDashedIPv4 looks for the letters of
// the label before an address (a DNS label is at most 63 bytes).
const maxLabelScan = maxDomainLabel

// hasDashedIPv4 finds an IPv4 address written with dashes inside a host
// name, as cloud providers and wildcard DNS services name hosts:
// "ip-192-168-1-77.ec2.internal", "ec2-203-0-113-25.compute-1.amazonaws.com",
// "10-0-0-5.nip.io" (and "ip_10_0_0_5", normalised). Four dash-separated
// octets count only in a host name: after a label with a letter and a dash
// or underscore ("ip-"), or before a dot and a letter (".ec2"); a bare
// "12-34-56-78" is as often a date or a range.
func hasDashedIPv4(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			continue
		}
		if b := at(s, i-1); isDigit(b) || b == '.' {
			continue
		}
		if at(s, i+1) != '-' && at(s, i+2) != '-' && at(s, i+3) != '-' {
			continue // the first octet ends within three digits
		}
		oct, k, ok := ipv4Octets(s, i, '-')
		if !ok {
			continue
		}
		if c := at(s, k); isAlnum(c) || (c == '-' || c == '.') && isDigit(at(s, k+1)) {
			continue
		}
		labelBefore := false
		if b := at(s, i-1); b == '-' || b == '_' {
			for j := i - 2; j >= 0 && j >= i-1-maxLabelScan && isAlnum(s[j]); j-- {
				if isLetter(s[j]) {
					labelBefore = true
					break
				}
			}
			if !labelBefore {
				continue // part of a longer run of numbers
			}
		}
		domainAfter := at(s, k) == '.' && isLetter(at(s, k+1))
		if (labelBefore || domainAfter) && ipv4Host(oct) {
			return true
		}
	}
	return false
}

// hexIPv4Labels are words that, just before a hex number, say it is an
// address.
var hexIPv4Labels = [...]string{"ip", "addr", "host", "peer", "client", "remote", "src", "dst"}

// hexIPv4LabelWindow is how far before the number a label is looked for.
const hexIPv4LabelWindow = 16

// hasHexIPv4 finds an IPv4 address written as one hex number ("0xC0A8014D",
// 192.168.1.77). Eight hex digits are as often an error code (HRESULT
// 0x80070005) or a hash, so the number counts when it falls in a private,
// shared or link-local range (RFC 1918, RFC 6598, RFC 3927), or when a
// label such as "ip" or "addr" comes just before it.
func hasHexIPv4(s string) bool {
	for i := 0; i+10 <= len(s); i++ {
		if s[i] != '0' || s[i+1] != 'x' && s[i+1] != 'X' || isAlnum(at(s, i-1)) {
			continue
		}
		var v uint32
		k := i + 2
		for ; k < i+10 && isHex(s[k]); k++ {
			v = v<<4 | uint32(hexValue(s[k]))
		}
		if k < i+10 || isAlnum(at(s, k)) {
			continue
		}
		if !ipv4Unicast(v) {
			continue
		}
		if ipv4Private(v) || labelledAddress(s[max(0, i-hexIPv4LabelWindow):i]) {
			return true
		}
	}
	return false
}

// ipv4Private reports the RFC 1918 private, RFC 6598 shared and RFC 3927
// link-local ranges.
func ipv4Private(v uint32) bool {
	switch {
	case v>>24 == 10, v>>20 == 172<<4|1, v>>16 == 192<<8|168, v>>22 == 100<<2|1, v>>16 == 169<<8|254:
		return true
	}
	return false
}

// labelledAddress reports whether w holds one of hexIPv4Labels as the start
// of a word.
func labelledAddress(w string) bool {
	for _, l := range hexIPv4Labels {
		for off := 0; off < len(w); {
			j := indexFold(w[off:], l)
			if j < 0 {
				break
			}
			j += off
			if !isLetter(at(w, j-1)) {
				return true
			}
			off = j + 1
		}
	}
	return false
}

func hexValue(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
