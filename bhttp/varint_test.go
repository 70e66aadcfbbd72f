package bhttp

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// RFC 9000 Appendix A.1 examples, plus the boundaries of each length.
func TestVarintRFC9000(t *testing.T) {
	tests := []struct {
		hex     string
		v       uint64
		minimal bool
	}{
		{"c2197c5eff14e88c", 151288809941952652, true},
		{"9d7f3e7d", 494878333, true},
		{"7bbd", 15293, true},
		{"25", 37, true},
		{"4025", 37, false}, // a longer encoding of 37 is still valid
		{"00", 0, true},
		{"3f", 63, true},
		{"4040", 64, true},
		{"7fff", 16383, true},
		{"80004000", 16384, true},
		{"bfffffff", 1<<30 - 1, true},
		{"c000000040000000", 1 << 30, true},
		{"ffffffffffffffff", maxVarint, true},
		{"c000000000000000", 0, false},
	}
	for _, tt := range tests {
		b, _ := hex.DecodeString(tt.hex)
		v, n := parseVarint(b)
		if v != tt.v || n != len(b) {
			t.Errorf("parseVarint(%s) = %d, %d; want %d, %d", tt.hex, v, n, tt.v, len(b))
		}
		// Trailing bytes are not consumed.
		if v, n := parseVarint(append(b, 0xff)); v != tt.v || n != len(b) {
			t.Errorf("parseVarint(%s ff) = %d, %d", tt.hex, v, n)
		}
		if !tt.minimal {
			continue
		}
		if got := appendVarint(nil, tt.v); !bytes.Equal(got, b) {
			t.Errorf("appendVarint(%d) = %x, want %s", tt.v, got, tt.hex)
		}
		if got := varintLen(tt.v); got != len(b) {
			t.Errorf("varintLen(%d) = %d, want %d", tt.v, got, len(b))
		}
	}
}

func TestVarintShort(t *testing.T) {
	for _, h := range []string{"", "40", "80ffff", "c0ffffffffffff"} {
		b, _ := hex.DecodeString(h)
		if _, n := parseVarint(b); n != 0 {
			t.Errorf("parseVarint(%q) consumed %d bytes of a short input", h, n)
		}
	}
}

func TestVarintRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 62, 63, 64, 1000, 16383, 16384, 1<<30 - 1, 1 << 30, 1<<40 + 7, maxVarint} {
		b := appendVarint(nil, v)
		got, n := parseVarint(b)
		if got != v || n != len(b) || n != varintLen(v) {
			t.Errorf("round trip %d: got %d, n=%d, enc %x", v, got, n, b)
		}
	}
}
