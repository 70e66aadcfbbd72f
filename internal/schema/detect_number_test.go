package schema

import (
	"encoding/json"
	"testing"
)

func TestDetectNumber(t *testing.T) {
	for _, c := range []struct {
		v    any
		kind string // "" for none
	}{
		// payment cards and IMEIs, by digit count and Luhn
		{4111111111111111.0, KindCreditCard},
		{json.Number("5500000000000004"), KindCreditCard},
		{json.Number("4716342154895701125"), KindCreditCard}, // 19 digits, beyond float64
		{490154203237518.0, KindIMEI},
		{4111111111111112.0, ""}, // Luhn fails
		// IPv4 as a 32-bit integer, also signed
		{3232235853.0, KindIPv4}, // 192.168.1.77
		{json.Number("134744072"), KindIPv4},
		{-1062731443.0, KindIPv4}, // 192.168.1.77 as int32
		{int64(3232235853), KindIPv4},
		{json.Number("3.232235853e9"), KindIPv4},
		{167772160.0, ""},  // 10.0.0.0: a network
		{184549375.0, ""},  // 10.255.255.255: a broadcast
		{2130706433.0, ""}, // 127.0.0.1
		// phone numbers without "+"
		{14155552671.0, KindPhone},
		{447700900461.0, KindPhone},
		{json.Number("8613800138000"), KindPhone},
		{3232235853.0, KindIPv4},  // also NANP-shaped: below 2^32 it is read as an address first
		{4155552671.0, KindPhone}, // 247.174.…: not a unicast address
		{5552671000.0, KindPhone},
		{1732000000000.0, ""}, // epoch milliseconds
		{17320000000.0, ""},   // 1 + an N11-free but exchange-0 NANP: no
		{99999999999.0, ""},
		// never inspected
		{16777215.0, ""}, // below NumberScanFloor
		{600000.0, ""},
		{3232235853.5, ""}, // not integral
		{-16777215.0, ""},
		{true, ""},
		{nil, ""},
		{json.Number("1e400"), ""},
	} {
		kind, ok := DetectValue(c.v)
		if ok != (c.kind != "") || kind != c.kind {
			t.Errorf("DetectValue(%v) = %q, %v; want %q", c.v, kind, ok, c.kind)
		}
	}
}
