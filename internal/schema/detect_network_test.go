package schema

import (
	"strings"
	"testing"
)

func TestIPv4Normalised(t *testing.T) {
	wantKind(t, KindIPv4,
		"１９２．１６８．１．７７",        // fullwidth digits and full stops
		"١٩٢.١٦٨.١.٧٧",        // Arabic-Indic digits
		"192。168。1。77",        // ideographic full stops
		"host%3D192.168.1.77", // percent-encoded '='
	)
}

func TestIPv4InHostNames(t *testing.T) {
	wantKind(t, KindIPv4,
		"ip-192-168-1-77.ec2.internal",
		"ip-10-0-12-34",
		"ec2-203-0-113-25.compute-1.amazonaws.com",
		"10-0-0-5.nip.io",
		"connect to host-172-16-4-9 failed",
		"ip_10_0_12_34", // underscores fold to dashes between digits
	)
	wantBenign(t,
		"12-34-56-78",          // no host name around it: a date, a range
		"2024-11-05-12",        // a date and an hour
		"build-1-2-3-4",        // single digits: a version
		"ip-10-0-0-0",          // a network
		"ip-127-0-0-1",         // loopback
		"v-1-22-333-4444",      // a fourth group of four digits
		"ip-10-0-12-34-5",      // five groups
		"1-800-555-0199-2.ext", // a phone number's groups
	)
}

func TestIPv4Hex(t *testing.T) {
	wantKind(t, KindIPv4,
		"0xC0A8014D",             // 192.168.1.77 (private)
		"peer 0x0A00000C",        // 10.0.0.12
		"ip=0xCB00710F",          // 203.0.113.15, labelled
		"remote addr 0x08080808", // 8.8.8.8, labelled
	)
	wantBenign(t,
		"0x80070005", "HRESULT 0x8007000E", "0xdeadbeef", "0xFFFFFFFF",
		"0xC0A8014D00",    // more than eight hex digits
		"skip 0x08080808", // "ip" inside a word is no label
		"0x7ffee4b2c8a0",
	)
}

func TestMACWithSpaces(t *testing.T) {
	wantKind(t, KindMAC, "00 1A 2B 3C 4D 5E", "bssid 3c 5a b4 01 02 03 seen")
	wantBenign(t,
		"00 00 00 00 00 00",       // all zero
		"de ad be ef ca fe",       // no digit: words as likely as bytes
		"00 1a 2b 3c 4d 5e 6f 70", // a hex dump longer than six bytes
		"0a 00 1a 2b 3c 4d 5e",    // ... or starting earlier
	)
}

func TestIPv6Bounded(t *testing.T) {
	// A run of hex digits and colons far longer than any address is not
	// parsed (nor copied) as one.
	wantBenign(t, strings.Repeat("a:", 5000))
	wantKind(t, KindIPv6, "2001:db8::1", "[2001:db8::7]:8443")
}
